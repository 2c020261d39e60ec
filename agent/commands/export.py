"""``screenact export RUN_OR_EPISODE… --out DIR``: episodes as a fine-tuning set (JSONL plus images)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.commands._common import out_folder


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="write episodes as fine-tuning data (JSONL of {messages, images}, images beside it)",
        description="One sample per model step: the prompt as the model saw it (system prompt, instruction, the "
        "history the context budget kept) with the reply as the assistant target. Writes DIR/data.jsonl and "
        "DIR/images/. Exit 0, or 2 for bad input.")
    p.add_argument("paths", nargs="+", type=Path, metavar="RUN_OR_EPISODE", help="run folders or episode folders")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="where data.jsonl and images/ go")
    p.add_argument("--only", choices=["passed"], help="only episodes whose verdict passed")
    p.add_argument("--target", choices=["raw", "canonical"], default=None,
                   help="raw: the model's reply; canonical: its thought and the validated actions re-rendered in "
                   "the profile's action format (default raw; canonical with --profile)")
    p.add_argument("--profile", help="re-render the whole sample for this profile's model family: its prompt, "
                   "history, images and canonical target (implies --target canonical; default: each episode's "
                   "own prompt as recorded)")
    p.add_argument("--format", choices=["jsonl", "hf"], default="jsonl", dest="fmt",
                   help="jsonl: DIR/data.jsonl and DIR/images/ (default); hf: a Hugging Face datasets folder "
                   "(load_from_disk(DIR); needs pip install 'screenact[hf]')")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agent.export import DATA_FILE, export

    target = args.target or ("canonical" if args.profile else "raw")
    out_folder(args.out)
    summary = export(args.paths, args.out, only_passed=args.only == "passed", target=target,
                     profile_name=args.profile, fmt=args.fmt)
    for why in summary.left_out:
        print(f"left out: {why}", file=sys.stderr)
    where = args.out / DATA_FILE if args.fmt == "jsonl" else f"{args.out} (datasets.load_from_disk)"
    print(f"{summary.samples} sample(s) from {summary.episodes} episode(s): {where}")
    return 0
