"""``screenact doctor``: check this machine for what a sandboxed desktop needs, and print each fix."""

from __future__ import annotations

import argparse
import importlib
import sys

from agent.commands._common import endpoints


def _check_modules() -> list:
    """The modules that register doctor checks (``agent.doctor.CHECK_MODULES``), imported."""
    from agent.doctor import CHECK_MODULES

    return [importlib.import_module(name) for name in CHECK_MODULES]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "doctor", help="check this machine for what a sandbox needs, and print what is missing with its fix",
        description="Check bubblewrap and user namespaces, Xvfb, the window manager, fonts (CJK included), Tk, the "
        "OCR models, the optional extras and the live view's programs; with --base-url, that each model server "
        "answers. Prints one line per check and, for anything missing, the command that fixes it. Exit 0 when "
        "all is well (an optional extra that is not installed is only noted), 1 when something is missing, "
        "2 for bad flags.")
    p.add_argument("--base-url", action="append", metavar="URL",
                   help="also check this model server answers (repeatable, or comma-separated)")
    p.add_argument("--model", help="with --base-url: the model name each server must serve")
    for module in _check_modules():
        add_flags = getattr(module, "add_flags", None)
        if add_flags is not None:
            add_flags(p)
    p.set_defaults(func=run)


MARK = {"ok": "ok", "missing": "MISSING", "optional": "optional"}


def run(args: argparse.Namespace) -> int:
    from agent.doctor import fix_commands, run_checks

    if args.base_url:
        endpoints(args)  # a malformed URL is a bad flag (exit 2), not a missing server
    findings = []
    width = 18
    for finding in run_checks(args):
        findings.append(finding)
        line = f"{MARK[finding.status]:8} {finding.name:{width}} {finding.detail}"
        if finding.fix and not finding.ok:
            line += f"\n{'':8} {'':{width}} fix: {finding.fix}"
        print(line, flush=True)
    missing = [f for f in findings if f.status == "missing"]
    if not missing:
        optional = sum(f.status == "optional" for f in findings)
        print(f"\nall is well: a sandbox can run here" + (f" ({optional} optional piece(s) not installed)"
                                                           if optional else ""))
        return 0
    print(f"\n{len(missing)} missing: {', '.join(f.name for f in missing)}. To fix, run:", file=sys.stderr)
    for fix in fix_commands(missing):
        print(f"  {fix}", file=sys.stderr)
    return 1
