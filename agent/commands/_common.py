"""Arguments and helpers several subcommands share."""

from __future__ import annotations

import argparse
import re


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
