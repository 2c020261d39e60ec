"""The ``screenact`` command line: one subcommand per job, each in ``agent/commands/``.

Exit codes: 0 success, 1 tasks ran but failed, 2 bad input (with a message naming what is wrong).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from agent.errors import UsageError
from agent.lifecycle import sigterm_as_interrupt

# Subcommands in the order --help lists them; each module has add_parser(subparsers) and run(args).
COMMANDS = ["demo", "run", "ground", "make_grounding_set", "replay", "report", "serve", "ui", "sandbox"]


def _available() -> list:
    mods = []
    for name in COMMANDS:
        try:
            mods.append(importlib.import_module(f"agent.commands.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"agent.commands.{name}":
                raise
    return mods


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand that is installed."""
    parser = argparse.ArgumentParser(
        prog="screenact",
        description="A vision-language model operates a sandboxed Linux desktop through its screen.",
        epilog="Exit codes: 0 success, 1 tasks ran but failed, 2 bad input. "
        "Model endpoint: --base-url or OPENAI_BASE_URL (default http://localhost:8000/v1).",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _available():
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``screenact`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    sigterm_as_interrupt()  # a supervisor's stop cleans up like Ctrl-C: sandboxes closed, results written
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"screenact {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
