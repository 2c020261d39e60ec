"""Arguments and helpers several subcommands share."""

from __future__ import annotations

import argparse
import errno
import os
import re
import shlex
import shutil
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from agent.budget import MIN_CONTEXT_LEN
from agent.errors import UsageError
from agent.profiles import DEFAULT_PROFILE

if TYPE_CHECKING:
    from agent.models.openai_backend import OpenAIModel
    from agent.models.server_pool import ServerPool
    from agent.profiles import Profile
    from agent.ui.gate import Gate

TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~-]{16,}")
"""What a server token must look like: at least 16 URL-safe characters."""


def parse_screen(text: str) -> tuple[int, int]:
    """``"1280x800"`` → (1280, 800), with an argparse error naming the value otherwise."""
    from tools.frame import SCREEN_SIDE

    low, high = SCREEN_SIDE
    m = re.fullmatch(r"\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*", text)
    if not m or not (low <= int(m[1]) <= high and low <= int(m[2]) <= high):
        raise argparse.ArgumentTypeError(f"screen size must look like 1280x800 ({low}..{high} each), got {text!r}")
    return int(m[1]), int(m[2])


def add_screen_arg(p: argparse.ArgumentParser, default: str | None) -> None:
    """``--screen WxH``."""
    p.add_argument("--screen", metavar="WxH", type=parse_screen, default=parse_screen(default) if default else None,
                   help=f"screen size of the desktop{f' (default {default})' if default else ''}")


def _whole_number(text: str, least: int, words: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be {words}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1, with an error naming the value otherwise."""
    return _whole_number(text, 1, "at least 1")


def add_pool_flag(p: argparse.ArgumentParser, default: str) -> None:
    """``--pool N``: sandboxes kept started ahead (the warm pool, :mod:`agent.sandbox_pool`); 0 turns it off."""
    p.add_argument("--pool", type=non_negative_int, default=None, metavar="N",
                   help="desktops kept started ahead so that the next task finds one ready (each used once, "
                   f"then closed; each idle one holds ~100-180 MiB); 0 turns the warm pool off (default {default})")


def non_negative_int(text: str) -> int:
    """argparse type: a whole number of at least 0, with an error naming the value otherwise."""
    return _whole_number(text, 0, "0 or more")


DEFAULT_REQUEST_TIMEOUT = 300.0
"""Seconds to wait for an answer: a long thinking reply fits, a server that never answers is named in minutes."""


def positive_float(text: str) -> float:
    """argparse type: a number above 0, with an error naming the value otherwise."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def add_model_flags(p: argparse.ArgumentParser, several: bool = False) -> None:
    """``--base-url``, ``--model``, ``--profile``, ``--context-len``: where the model is and how to talk to it.
    ``several``: ``--base-url`` may name several servers (repeated, or comma-separated; see :func:`endpoints`).

    Check them with :func:`check_model_flags` before use."""
    p.add_argument("--base-url", action="append" if several else "store", metavar="URL",
                   help="OpenAI-compatible server, e.g. http://gpu-box:8000/v1 "
                   + ("(repeatable, or comma-separated: requests are spread over the servers) " if several else "")
                   + "(default: $OPENAI_BASE_URL, else http://localhost:8000/v1)")
    p.add_argument("--model", help="served model name (default: the only model the server lists)")
    p.add_argument("--profile", default=DEFAULT_PROFILE, help=f"model profile (default {DEFAULT_PROFILE})")
    p.add_argument("--context-len", type=int, default=None, metavar="TOKENS",
                   help="the server's --max-model-len, for a server that does not publish it; by default every "
                   "request is fitted to the max_model_len the server lists in /v1/models (vLLM does), and a "
                   f"different value here is refused (at least {MIN_CONTEXT_LEN})")
    p.add_argument("--request-timeout", type=positive_float, default=DEFAULT_REQUEST_TIMEOUT, metavar="SECONDS",
                   help="give up on a request the server accepted but has not answered after this long "
                   f"(default {DEFAULT_REQUEST_TIMEOUT:g})")


def add_estimate_tokens_flag(p: argparse.ArgumentParser) -> None:
    """``--estimate-tokens``: budget text by the estimate, for a server without a usable /tokenize."""
    p.add_argument("--estimate-tokens", action="store_true",
                   help="budget the prompt's text by the conservative estimate instead of the server's /tokenize "
                   "(one request fewer per model call; max_tokens may come out a little lower)")


def _checked_url(source: str, value: str) -> str:
    """``value`` without its trailing slash; a UsageError naming ``source`` and the fix when it has no scheme."""
    if not value.startswith(("http://", "https://")):
        raise UsageError(f"{source} must start with http:// or https://, got {value!r}; "
                         f"for example http://{value.split('://')[-1]}")
    return value.rstrip("/")


def endpoints(args: argparse.Namespace) -> list[str]:
    """Every model server's base URL: each ``--base-url`` (repeated, or comma-separated), else
    ``$OPENAI_BASE_URL`` / ``$OPENAI_API_BASE``, else the default; a UsageError naming where a URL came from
    when it has no http:// or https://, or when one server is named twice."""
    from agent.models.base import DEFAULT_BASE_URL

    given = args.base_url if isinstance(args.base_url, list) else [args.base_url] if args.base_url else []
    urls = [_checked_url("--base-url", part.strip()) for value in given for part in value.split(",") if part.strip()]
    if given and not urls:
        raise UsageError("--base-url needs a URL, e.g. http://localhost:8000/v1")
    twice = next((u for i, u in enumerate(urls) if u in urls[:i]), None)
    if twice is not None:
        raise UsageError(f"--base-url {twice} is named twice")
    if urls:
        return urls
    for source in ("OPENAI_BASE_URL", "OPENAI_API_BASE"):
        value = os.environ.get(source)
        if value:
            return [_checked_url(source, value)]
    return [DEFAULT_BASE_URL]


def endpoint(args: argparse.Namespace) -> str:
    """The model server's base URL, for a command that talks to one (see :func:`endpoints`)."""
    urls = endpoints(args)
    if len(urls) > 1:
        raise UsageError(f"this command talks to one model server; --base-url names {len(urls)}")
    return urls[0]


def check_model_flags(args: argparse.Namespace) -> "Profile":
    """The profile ``--profile`` names; a UsageError naming the flag and value when a model flag is bad."""
    from agent.profiles import get_profile

    endpoints(args)
    if args.context_len is not None and args.context_len < MIN_CONTEXT_LEN:
        raise UsageError(f"--context-len must be at least {MIN_CONTEXT_LEN}, got {args.context_len}")
    try:
        return get_profile(args.profile)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


async def check_server(model: "OpenAIModel", override: int | None) -> int:
    """Ask the server once, before any work, for the model (its name checked) and its context length.

    Returns the context length to fit every request to (the server's own, see
    ``agent.budget.context_len_from``). A UsageError (exit 2) names an unknown model or a
    ``--context-len`` that disagrees with the server, both numbers named; an unreachable server
    raises its ``ModelError``.
    """
    from agent.budget import ContextMismatch, context_len_from
    from agent.models.base import UnknownModel

    try:
        served = await model.served_model()
    except UnknownModel as exc:
        raise UsageError(str(exc)) from None
    try:
        return context_len_from(served.max_model_len, override, f"the server at {model.base_url} ({served.name})")
    except ContextMismatch as exc:
        raise UsageError(str(exc)) from None


async def check_servers(pool: "ServerPool", override: int | None) -> int:
    """:func:`check_server` for every server of the pool, all at once, before any work: each reachable, each
    serving the model (the same one: with no ``--model``, each server's only one), each context length agreeing
    with ``override``. Sets the pool's model and context length, the smallest of the servers', and returns it."""
    import asyncio

    clients = [pool.client(url) for url in pool.urls]
    try:
        answers = await asyncio.gather(*(check_server(c, override) for c in clients), return_exceptions=True)
    finally:
        for client in clients:
            await client.aclose()
    failed = next((a for a in answers if isinstance(a, BaseException)), None)
    if failed is not None:
        raise failed
    names = dict.fromkeys(str(c.model) for c in clients)
    if len(names) > 1:
        served = ", ".join(f"{c.base_url} serves {c.model}" for c in clients)
        raise UsageError(f"the model servers serve different models ({served}); pass --model NAME with the model "
                         "every server serves")
    pool.model = next(iter(names))
    pool.max_model_len = min(int(a) for a in answers)
    return pool.max_model_len


def out_folder(path: Path, flag: str = "--out") -> Path:
    """``path`` as a folder to write into, created now; a UsageError naming the flag when it cannot be."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"{flag} {path}: exists and is not a folder") from None
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot create the folder ({exc.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: the folder is not writable")
    return path


def out_file(path: Path, flag: str = "--out") -> Path:
    """``path`` as a file to write, its folder created now; a UsageError naming the flag when it cannot be."""
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a folder; name a file, e.g. {path / 'results.json'}")
    out_folder(path.parent if str(path.parent) else Path("."), flag)
    return path


def command_argv(text: str, flag: str = "--launch") -> list[str]:
    """A command line split like a shell would (never run by one); a UsageError naming the flag when it does not
    split, is empty, or names a program that is not installed."""
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"{flag} {text!r}: {str(exc).lower()}; quote it as in a shell") from None
    if not argv:
        raise UsageError(f"{flag} needs a command")
    if shutil.which(argv[0]) is None:
        raise UsageError(f"{flag} {text!r}: no program {argv[0]!r} is installed (not found on PATH)")
    return argv


def shell_command(*argv: object) -> str:
    """A command for the user to copy, quoted for a shell."""
    return shlex.join(str(a) for a in argv)


def warn_unisolated(no_isolate: bool) -> None:
    """The loud warning ``--no-isolate`` owes the user, on stderr before any desktop starts."""
    if no_isolate:
        import sys

        print("WARNING: --no-isolate: the desktops run WITHOUT bubblewrap. Apps and actions inside them can read "
              "and change your files and reach the network as you.", file=sys.stderr)


def check_door(host: str, port: int, token: str | None, origins: Iterable[str], token_env: str, what: str) -> "Gate":
    """The gate of a server (``ui``, ``mcp --http``) listening on ``host:port``: a UsageError for a weak
    token, for no token off loopback (``what`` is who others could then reach), or for a bad origin."""
    from agent.ui.gate import Gate, is_loopback

    if token is not None and not TOKEN_CHARS.fullmatch(token):
        raise UsageError(f"the token (--token or {token_env}) must be at least 16 characters of letters, "
                         "digits and - _ . ~")
    if token is None and not is_loopback(host):
        raise UsageError(f"--host {host} lets other machines reach {what}, which then needs a token: set "
                         f"{token_env} (e.g. to the output of `python3 -c 'import secrets; "
                         "print(secrets.token_urlsafe())'`) or pass --token")
    try:
        return Gate.for_bind(host, port, origins, token)
    except ValueError as exc:
        raise UsageError(f"--allow-origin: {exc}") from None


def check_port(host: str, port: int, flag: str = "--port") -> None:
    """UsageError when nothing can listen on ``host:port`` (in use, or not an address of this machine)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(f"port {port} on {host} is already in use; pick another with {flag}") from None
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


DESKTOP_PROGRAMS = {"Xvfb": "xvfb", "openbox": "openbox"}
"""Programs every desktop starts, and the Debian package of each."""


def check_desktop(isolate: bool) -> None:
    """Before any task: the programs a desktop needs are installed, and bubblewrap works when isolating; a
    UsageError naming what is missing (and the package) otherwise, so no task starts only to fail."""
    missing = [f"{exe} (Debian: apt-get install {pkg})" for exe, pkg in DESKTOP_PROGRAMS.items() if not shutil.which(exe)]
    if missing:
        raise UsageError(f"a desktop cannot start: {', '.join(missing)} not installed")
    if isolate:
        from sandbox import bwrap_problem

        problem = bwrap_problem()
        if problem is not None:
            raise UsageError(f"{problem}; or pass --no-isolate to run the desktops without isolation")


def add_record_video_flag(p: argparse.ArgumentParser) -> None:
    """``--record-video``: episode.webm next to each episode (agent/video.py)."""
    p.add_argument("--record-video", action="store_true",
                   help="record each episode's screen as episode.webm in its folder (ffmpeg inside the sandbox, "
                   "VP8 at 5 fps; the report plays it with the steps marked)")


def check_record_video(wanted: bool) -> None:
    """--record-video on a machine without ffmpeg: a UsageError saying what to install."""
    from agent.video import video_problem

    problem = video_problem() if wanted else None
    if problem:
        raise UsageError(problem)
