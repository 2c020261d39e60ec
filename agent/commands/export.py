"""``screenact export RUN_OR_EPISODE… --out DIR``: episodes as a fine-tuning set (JSONL plus images)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.commands._common import out_folder
from agent.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="write episodes as fine-tuning data (JSONL of {messages, images}, images beside it)",
        description="One sample per model step: the prompt as the model saw it (system prompt, instruction, the "
        "history the context budget kept) with the reply as the assistant target. Writes DIR/data.jsonl and "
        "DIR/images/. Exit 0, or 2 for bad input.")
    p.add_argument("paths", nargs="+", type=Path, metavar="RUN_OR_EPISODE", help="run folders or episode folders")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="where data.jsonl and images/ go")
    p.add_argument("--only", choices=["passed"], help="only episodes whose verdict passed")
    p.add_argument("--target", choices=["raw", "canonical"], default="raw",
                   help="raw: the model's reply; canonical: its thought and the validated actions re-rendered as "
                   "pyautogui code in the profile's format (default raw)")
    p.add_argument("--profile", help="the profile to render canonical targets for (default: each episode's own)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agent.export import DATA_FILE, export

    if args.profile:
        from agent.profiles import PROFILES

        if args.profile not in PROFILES:
            raise UsageError(f"--profile {args.profile!r}: unknown; known: {', '.join(PROFILES)}")
    out_folder(args.out)
    summary = export(args.paths, args.out, only_passed=args.only == "passed", target=args.target,
                     profile_name=args.profile)
    for why in summary.left_out:
        print(f"left out: {why}", file=sys.stderr)
    print(f"{summary.samples} sample(s) from {summary.episodes} episode(s): {args.out / DATA_FILE}")
    return 0
