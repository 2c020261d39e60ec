"""``screenact serve``: start vLLM for a model profile and wait until it answers.

vLLM is an optional extra (``pip install 'screenact[vllm]'``) and needs a GPU. Each profile says the
oldest vLLM that runs its architecture (0.8.5 for Kimi-VL, 0.11.0 for Qwen3-VL, …), the context
length and the images per prompt to serve it with; :func:`serve_warnings` names the known pitfalls
(flash-attn for Kimi-VL on older vLLM, a reasoning parser that would move Kimi's answer). The
command is always an argv list, never a shell string.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import httpx

from agent.lifecycle import die_with_parent
from agent.profiles import Profile, get_profile

MIN_VLLM = (0, 8, 5)
"""The oldest vLLM the project itself is tested against (a profile may need a newer one)."""
# Before this release MoonViT (Kimi-VL's vision encoder, head size 72) ran on the flash-attn package or a
# fallback that can ask for hundreds of GiB; vLLM PR #31738 (January 2026) moved it onto vLLM's own
# encoder attention. (UNVERIFIED release boundary: a setting, not a fact.)
KIMI_FLASH_ATTN_BEFORE = (0, 14, 0)
KIMI_FLASH_ATTN_FIX = "MAX_JOBS=4 pip install flash-attn --no-build-isolation"  # the 2506 card: vllm==0.9.1 blobfile flash-attn
# From 0.9.0 vLLM reads --limit-mm-per-prompt as JSON ('{"image": 4}'); the old 'image=4' form was
# deprecated then and refused from 0.10.0. (UNVERIFIED boundary: override with mm_limit_style.)
JSON_MM_LIMIT_SINCE = (0, 9, 0)

INSTALL_HINT = ("install the optional extra with `pip install 'screenact[vllm]'` (vLLM >= 0.8.5; it needs an "
                "NVIDIA GPU — about 40 GB of memory for Kimi-VL-A3B), or point OPENAI_BASE_URL at a server "
                "that is already running")


class ServeError(RuntimeError):
    """vLLM cannot be started or did not come up; the message says what to do."""


def parse_version(text: str) -> tuple[int, ...]:
    """The leading numeric release of a version string: '0.8.5.post1' -> (0, 8, 5), '0.10.1rc1+cu126' -> (0, 10, 1)."""
    parts: list[int] = []
    for piece in text.strip().lstrip("vV").split("."):
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group()))
        if m.end() != len(piece):
            break
    if not parts:
        raise ValueError(f"not a version: {text!r}")
    return tuple(parts)


def installed_vllm_version() -> str | None:
    """The installed vLLM version, or None. Reads package metadata first (importing vllm pulls in torch)."""
    try:
        return importlib.metadata.version("vllm")
    except importlib.metadata.PackageNotFoundError:
        pass
    if importlib.util.find_spec("vllm") is None:
        return None
    import vllm  # a source checkout or a bare module without metadata

    return str(getattr(vllm, "__version__", "")) or None


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def check_vllm(version: str | None = None, profile: Profile | str | None = None) -> str:
    """The usable vLLM version (the installed one unless given); ServeError with a clear message otherwise.

    With a profile, its architecture's minimum (``Profile.min_vllm``) applies as well as the project's."""
    found = version if version is not None else installed_vllm_version()
    if found is None:
        raise ServeError(f"vLLM is not installed: {INSTALL_HINT}.")
    try:
        parsed = parse_version(found)
    except ValueError:
        raise ServeError(f"cannot read the installed vLLM version {found!r}; {INSTALL_HINT}.") from None
    prof = None if profile is None else profile if isinstance(profile, Profile) else get_profile(profile)
    need, who = MIN_VLLM, "screenact"
    if prof is not None and prof.min_vllm > need:
        need, who = prof.min_vllm, f"profile {prof.name} ({prof.family or prof.hf_model})"
    if parsed < need:
        raise ServeError(f"vLLM {found} is installed, but {who} needs vLLM >= {_dotted(need)}: "
                         f"upgrade with `pip install -U 'vllm>={_dotted(need)}'`.")
    return found


def flash_attn_installed() -> bool:
    """Whether the flash-attn package is importable (vLLM's bundled kernels are a different thing)."""
    return importlib.util.find_spec("flash_attn") is not None


def serve_warnings(profile: Profile | str, vllm_version: str | None, extra_args: Sequence[str] = (),
                   *, flash_attn: bool | None = None) -> list[str]:
    """What could go wrong with this profile on this vLLM, each with its fix (an empty list when nothing)."""
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    out: list[str] = []
    if prof.family != "kimi-vl":
        return out
    if vllm_version is not None and parse_version(vllm_version) < KIMI_FLASH_ATTN_BEFORE:
        if not (flash_attn_installed() if flash_attn is None else flash_attn):
            out.append(f"vLLM {vllm_version} runs Kimi-VL's vision encoder (head size 72) through the flash-attn "
                       "package, which is not installed: without it the encoder's fallback can ask for hundreds "
                       f"of GiB and the server dies at start. Install it: {KIMI_FLASH_ATTN_FIX}")
    if any(a == "--reasoning-parser" or a.startswith("--reasoning-parser=") for a in extra_args):
        out.append("--reasoning-parser is passed to vLLM for a Kimi-VL profile: no vLLM reasoning parser reads "
                   "Kimi's ◁think▷ … ◁/think▷ markers, and a parser could move the answer out of the message "
                   "content. screenact splits the markers itself; drop the flag.")
    return out


def mm_limit_args(images: int, vllm_version: str | None, style: str | None = None) -> list[str]:
    """``--limit-mm-per-prompt`` in the form the vLLM version reads ('json' or 'kv'; chosen by version when None)."""
    if style is None:
        style = "json" if vllm_version is None or parse_version(vllm_version) >= JSON_MM_LIMIT_SINCE else "kv"
    if style == "json":
        return ["--limit-mm-per-prompt", json.dumps({"image": images})]
    if style == "kv":
        return ["--limit-mm-per-prompt", f"image={images}"]
    raise ValueError(f"mm_limit_style must be 'json' or 'kv', not {style!r}")


def serve_command(
    profile: Profile | str | None = None,
    model: str | None = None,
    port: int = 8000,
    host: str = "127.0.0.1",
    max_model_len: int | None = None,
    max_num_seqs: int = 16,
    gpu_memory_utilization: float = 0.95,
    allowed_local_media_path: str | Path | None = None,
    limit_images: int | None = None,
    extra_args: Sequence[str] = (),
    *,
    vllm_version: str | None = None,
    mm_limit_style: str | None = None,
    served_model_name: str | None = None,
    executable: str = "vllm",
) -> list[str]:
    """The argv that serves ``profile`` with vLLM (the seed's flags; loopback unless ``host`` says otherwise).

    ``model`` is a local path or a Hugging Face id (the profile's id by default). ``max_model_len`` and
    ``limit_images`` default to the profile's (``recommended_max_model_len``, ``images_per_prompt``);
    vLLM's own default may be a single image per prompt. ``vllm_version`` picks the
    ``--limit-mm-per-prompt`` syntax (the newest when unknown).
    """
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    weights = model or prof.hf_model
    if not weights:
        raise ValueError(f"profile {prof.name!r} names no weights; give --model (a local path or a Hugging Face id)")
    name = served_model_name or prof.served_model_name
    images = limit_images if limit_images is not None else prof.images_per_prompt
    context = max_model_len if max_model_len is not None else prof.recommended_max_model_len
    if images < 1:
        raise ValueError(f"--limit-images must be at least 1, got {images}")
    if not 0 < gpu_memory_utilization <= 1:
        raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization}")
    argv = [executable, "serve", str(weights)]
    if name:
        argv += ["--served-model-name", name]
    argv += [
        "--max-num-seqs", str(max_num_seqs),
        "--max-model-len", str(context),
        "--gpu-memory-utilization", f"{gpu_memory_utilization:g}",
        "--port", str(port),
        "--host", host,
        *prof.vllm_args,
        *mm_limit_args(images, vllm_version, mm_limit_style),
    ]
    if allowed_local_media_path is not None:
        argv += ["--allowed-local-media-path", str(Path(allowed_local_media_path).resolve())]
    argv += list(extra_args)
    return argv


def launch(argv: Sequence[str], log_path: str | Path | None = None, *,
           env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """Start the server process: its own session (so it can be stopped as a group), SIGTERM when the
    caller's thread dies (even by SIGKILL), output to ``log_path``, ``env`` added to the environment."""
    out = open(log_path, "ab") if log_path is not None else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    try:
        return subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, preexec_fn=die_with_parent(),
                                env={**os.environ, **env} if env else None)
    except FileNotFoundError:
        raise ServeError(f"cannot run {argv[0]!r}: {INSTALL_HINT}.") from None
    finally:
        if log_path is not None:
            out.close()  # type: ignore[union-attr]


def _health_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    if base.endswith("/v1"):
        base = base[:-3]
    return f"{base}/health"


@dataclass(frozen=True)
class Health:
    """The outcome of waiting: how long it took and how many polls."""

    url: str
    seconds: float
    polls: int


async def wait_healthy(
    base_url: str,
    timeout: float = 900.0,
    *,
    interval: float = 1.0,
    progress: Callable[[str], None] | None = None,
    progress_every: float = 10.0,
    process: subprocess.Popen | None = None,
) -> Health:
    """Poll ``GET /health`` until it answers 200; ServeError on timeout or when ``process`` exits first.

    ``progress`` gets a line about every ``progress_every`` seconds (and once at the start), saying
    what the last poll saw — loading a model takes minutes, and silence looks like a hang.
    """
    url = _health_url(base_url)
    started = time.monotonic()
    polls = 0
    last_report = -progress_every
    status = "no answer yet"
    async with httpx.AsyncClient(timeout=httpx.Timeout(min(5.0, max(interval, 0.5)))) as http:
        while True:
            polls += 1
            try:
                r = await http.get(url)
                if r.status_code == 200:
                    elapsed = time.monotonic() - started
                    if progress:
                        progress(f"server at {url} is healthy after {elapsed:.1f} s")
                    return Health(url, elapsed, polls)
                status = f"HTTP {r.status_code}"
            except httpx.ConnectError:
                status = "connection refused"
            except httpx.HTTPError as e:
                status = f"{type(e).__name__}"
            elapsed = time.monotonic() - started
            if process is not None and process.poll() is not None:
                raise ServeError(f"the server process exited with code {process.returncode} before {url} became "
                                 "healthy; see its log")
            if elapsed >= timeout:
                raise ServeError(f"{url} was not healthy within {timeout:g} s (last poll: {status}); the model may "
                                 "still be loading — raise the timeout, or read the server log")
            if progress and elapsed - last_report >= progress_every:
                progress(f"waiting for {url}: {status} ({elapsed:.0f} s of {timeout:g} s)")
                last_report = elapsed
            await asyncio.sleep(min(interval, max(0.0, timeout - elapsed)))
