"""Arguments and helpers several subcommands share."""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING

from agent.budget import MIN_CONTEXT_LEN
from agent.errors import UsageError
from agent.profiles import DEFAULT_PROFILE

if TYPE_CHECKING:
    from agent.models.openai_backend import OpenAIModel
    from agent.profiles import Profile


def parse_screen(text: str) -> tuple[int, int]:
    """``"1280x800"`` → (1280, 800), with an argparse error naming the value otherwise."""
    m = re.fullmatch(r"\s*(\d{2,5})\s*[xX×]\s*(\d{2,5})\s*", text)
    if not m or not (64 <= int(m[1]) <= 8192 and 64 <= int(m[2]) <= 8192):
        raise argparse.ArgumentTypeError(f"screen size must look like 1280x800 (64..8192 each), got {text!r}")
    return int(m[1]), int(m[2])


def add_screen_arg(p: argparse.ArgumentParser, default: str | None) -> None:
    """``--screen WxH``."""
    p.add_argument("--screen", metavar="WxH", type=parse_screen, default=parse_screen(default) if default else None,
                   help=f"screen size of the desktop{f' (default {default})' if default else ''}")


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1, with an error naming the value otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_model_flags(p: argparse.ArgumentParser) -> None:
    """``--base-url``, ``--model``, ``--profile``, ``--context-len``: where the model is and how to talk to it.

    Check them with :func:`check_model_flags` before use."""
    p.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://gpu-box:8000/v1 "
                   "(default: $OPENAI_BASE_URL, else http://localhost:8000/v1)")
    p.add_argument("--model", help="served model name (default: the only model the server lists)")
    p.add_argument("--profile", default=DEFAULT_PROFILE, help=f"model profile (default {DEFAULT_PROFILE})")
    p.add_argument("--context-len", type=int, default=None, metavar="TOKENS",
                   help="the server's --max-model-len, for a server that does not publish it; by default every "
                   "request is fitted to the max_model_len the server lists in /v1/models (vLLM does), and a "
                   f"different value here is refused (at least {MIN_CONTEXT_LEN})")


def check_model_flags(args: argparse.Namespace) -> "Profile":
    """The profile ``--profile`` names; a UsageError naming the flag and value when a model flag is bad."""
    from agent.profiles import get_profile

    if args.base_url and not args.base_url.startswith(("http://", "https://")):
        raise UsageError(f"--base-url must start with http:// or https://, got {args.base_url!r}")
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
