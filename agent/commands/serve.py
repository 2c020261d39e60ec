"""``screenact serve``: print or run the vLLM command for a model profile, then wait until it is healthy.

vLLM listens on 127.0.0.1 unless ``--host`` says otherwise. Its API key (``--api-key`` or
``VLLM_API_KEY``) reaches it through its environment, never its command line, which every local
user can read. Stop signals are passed on to vLLM and waited for; vLLM gets SIGTERM when this
command dies, even by SIGKILL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
from pathlib import Path

from agent.commands._common import out_folder, positive_float, positive_int
from agent.errors import UsageError

KEY_ENV = "VLLM_API_KEY"  # vLLM's own name for it


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="start vLLM for a model profile (or print the command with --dry-run)",
        description="Build the vLLM command for a profile: the seed's flags (served model name, --max-num-seqs 16, "
        "--gpu-memory-utilization 0.95, port 8000 on 127.0.0.1) with the profile's own context length, images per "
        "prompt and --trust-remote-code where the model needs it; check that the installed vLLM is new enough for "
        "the profile's architecture, warn about known pitfalls, start it, and wait until /health answers. SIGTERM "
        "and SIGINT are passed on to vLLM. Arguments after -- go to vLLM unchanged.")
    p.add_argument("--profile", default="kimi-vl-thinking", help="model profile (default kimi-vl-thinking)")
    p.add_argument("--model", help="local path or Hugging Face id of the weights (default: the profile's)")
    p.add_argument("--port", type=port_number, default=8000, help="port vLLM listens on (default 8000)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address vLLM listens on (default 127.0.0.1: this machine only). Any other address "
                        "exposes the model; give it an API key then")
    p.add_argument("--api-key", default=None,
                   help=f"the key clients must send (Authorization: Bearer …); default: the {KEY_ENV} environment "
                        "variable, which is better than this flag because other local users can read command "
                        "lines. It reaches vLLM through its environment; clients set OPENAI_API_KEY to it")
    p.add_argument("--max-model-len", type=positive_int, default=None,
                   help="context length (default: the profile's, e.g. 32768; clients read it from /v1/models)")
    p.add_argument("--max-num-seqs", type=positive_int, default=16, help="requests batched at once (default 16)")
    p.add_argument("--gpu-memory-utilization", type=fraction, default=0.95,
                   help="share of GPU memory vLLM may take, above 0 up to 1 (default 0.95)")
    p.add_argument("--allowed-local-media-path", type=Path,
                   help="let the server read file:// images under this folder (for --image-transport file)")
    p.add_argument("--limit-images", type=positive_int,
                   help="images per prompt, vLLM's --limit-mm-per-prompt (default: the profile's, its history + 1)")
    p.add_argument("--dry-run", action="store_true", help="print the command and exit")
    p.add_argument("--timeout", type=positive_float, default=1800, help="seconds to wait for /health (default 1800)")
    p.add_argument("extra", nargs=argparse.REMAINDER,
                   help="-- then extra vLLM arguments; a flag given there replaces screenact's own")
    p.set_defaults(func=run)


def port_number(text: str) -> int:
    """argparse type: a TCP port, 1–65535."""
    port = positive_int(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"a port is 1–65535, got {port}")
    return port


def fraction(text: str) -> float:
    """argparse type: a share above 0 up to 1."""
    value = positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1, got {text}")
    return value


def with_extra(argv: list[str], extra: list[str]) -> list[str]:
    """``argv`` with ``extra`` appended; a flag ``extra`` sets is dropped from ``argv`` (with its value), so vLLM
    sees each flag once and the user's wins."""
    given = {a.split("=", 1)[0] for a in extra if a.startswith("--")}
    kept, i = [], 0
    while i < len(argv):
        flag = argv[i].split("=", 1)[0]
        takes_value = "=" not in argv[i] and i + 1 < len(argv) and not argv[i + 1].startswith("-")
        if flag.startswith("--") and flag in given:
            i += 2 if takes_value else 1
            continue
        kept.append(argv[i])
        i += 1
    return kept + extra


def _extra_value(extra: list[str], flag: str) -> str | None:
    """The last value ``extra`` gives ``flag`` (``--flag V`` or ``--flag=V``)."""
    value = None
    for i, arg in enumerate(extra):
        if arg == flag and i + 1 < len(extra):
            value = extra[i + 1]
        elif arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
    return value


def api_key(args: argparse.Namespace) -> str | None:
    """The key for vLLM, and a warning on stderr when vLLM is exposed without one."""
    from agent.ui.gate import is_loopback

    key = args.api_key or os.environ.get(KEY_ENV) or None
    if key is None and not is_loopback(args.host):
        print(f"screenact serve: WARNING: vLLM will listen on {args.host} without an API key: anyone who can "
              f"reach port {args.port} can use the model. Set {KEY_ENV} (or pass --api-key).", file=sys.stderr)
    return key


def run(args: argparse.Namespace) -> int:
    from agent.serve import ServeError, check_vllm, installed_vllm_version, serve_command, serve_warnings

    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra
    if any(a == "--api-key" or a.startswith("--api-key=") for a in extra):
        raise UsageError(f"pass the key with --api-key before -- or in {KEY_ENV}, not to vLLM's command line")
    try:
        version = None if args.dry_run else check_vllm(profile=args.profile)
        version = version or installed_vllm_version()
        argv = with_extra(serve_command(args.profile, args.model, args.port, args.host, args.max_model_len,
                                        args.max_num_seqs, args.gpu_memory_utilization, args.allowed_local_media_path,
                                        args.limit_images, (), vllm_version=version), extra)
        warnings = serve_warnings(args.profile, version, extra)
    except (ValueError, KeyError) as exc:
        raise UsageError(str(exc).strip("'\"")) from exc
    except ServeError as exc:
        print(f"screenact serve: {exc}", file=sys.stderr)
        return 1
    for line in warnings:
        print(f"screenact serve: WARNING: {line}", file=sys.stderr)
    args.host = _extra_value(extra, "--host") or args.host  # where to wait for /health
    port = _extra_value(extra, "--port")
    args.port = port_number(port) if port is not None and port.isdigit() else args.port
    key = api_key(args)
    print(shlex.join(argv))
    if key is not None:
        print(f"screenact serve: the API key goes to vLLM in {KEY_ENV}; clients send it as OPENAI_API_KEY",
              file=sys.stderr)
    if args.dry_run:
        return 0
    return supervise(argv, key, args)


def supervise(argv: list[str], key: str | None, args: argparse.Namespace) -> int:
    """Start vLLM, wait for /health, then for its end; SIGTERM/SIGINT are passed on and waited for."""
    from agent.lifecycle import forwarding, stop_and_wait
    from agent.serve import ServeError, launch, wait_healthy

    started: list = []
    with forwarding(lambda: started[0] if started else None) as received:
        log = out_folder(Path("runs")) / f"vllm-serve-{args.port}.log"  # under runs/ (git-ignored), not the cwd
        started.append(launch(argv, log_path=str(log), env={KEY_ENV: key} if key else None))
        proc = started[0]
        if received:  # a stop signal came while vLLM was being started: nothing had it to pass on to
            stop_and_wait(proc)
            return 128 + received[0]
        print(f"vLLM started (pid {proc.pid}); its output goes to {log}", file=sys.stderr)
        near = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
        base = f"http://{f'[{near}]' if ':' in near else near}:{args.port}/v1"
        try:
            health = asyncio.run(wait_healthy(base, args.timeout, process=proc,
                                              progress=lambda line: print(line, file=sys.stderr)))
            print(f"ready after {health.seconds:.0f} s: export OPENAI_BASE_URL={base}", file=sys.stderr)
        except ServeError as exc:
            if not received:
                print(f"screenact serve: {exc}", file=sys.stderr)
            code = stop_and_wait(proc)
            return 128 + received[0] if received else (code or 1)
        code = proc.wait()
        return 128 + received[0] if received else code
