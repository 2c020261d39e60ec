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
COMMANDS = ["demo", "run", "tasks", "export", "ground", "make_grounding_set", "replay", "report", "serve", "ui", "mcp", "sandbox", "doctor"]


def _available() -> list:
    mods = []
    for name in COMMANDS:
        try:
            mods.append(importlib.import_module(f"agent.commands.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"agent.commands.{name}":
                raise
    return mods


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("screenact")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand that is installed."""
    parser = argparse.ArgumentParser(
        prog="screenact",
        description="A vision-language model operates a sandboxed Linux desktop through its screen.",
        epilog="Exit codes: 0 success, 1 tasks ran but failed, 2 bad input. "
        "Model endpoint: --base-url or OPENAI_BASE_URL (default http://localhost:8000/v1).",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("--version", action="version", version=f"screenact {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _available():
        mod.add_parser(sub)
    for command in sub.choices.values():  # -v after the subcommand works too
        command.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                             help="more log output (-vv for debug)")
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv``; a flag no command knows is reported with the usage of the subcommand it was given to."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        command = getattr(args, "command", None)
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        (subparsers.choices[command] if command else parser).error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``screenact`` console script."""
    parser = build_parser()
    args = parse(parser, argv)
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
    except Exception as exc:
        if not _set_up_failure(exc):
            raise
        logging.getLogger("screenact").debug("set-up failure", exc_info=True)
        print(f"screenact {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _set_up_failure(exc: BaseException) -> bool:
    """A desktop that cannot start (a missing program, no bubblewrap) or a path that cannot be used: the user's
    set-up, told in one line, never a traceback."""
    errors = sys.modules.get("sandbox.errors")  # not imported for commands that never open a desktop
    return isinstance(exc, OSError) or (errors is not None and isinstance(exc, errors.SandboxError))


def _one_line(exc: BaseException) -> str:
    """An exception as one line for people: an OSError names its file, anything else its own message."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
