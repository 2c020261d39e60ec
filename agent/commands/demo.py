"""``screenact demo``: the main job out of the box — the bundled suite, scripted, with the embedded OCR grounder.

Needs no model, GPU or network: each task's steps in words ("click the Save button") are grounded on
the live screen by OCR, executed in a fresh isolated sandbox, and judged by the task's checker.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from agent.commands._common import add_pool_flag, add_record_video_flag


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="run the bundled task suite, scripted, with the embedded OCR grounder (no model needed)",
        description="Run every bundled task in scripted mode: its steps in words are grounded on the live screen "
        "by the embedded OCR grounder (RapidOCR on the CPU) and executed in fresh isolated sandboxes; each "
        "task's checker gives the verdict. Prints the results table and where the episodes and report are.")
    p.add_argument("--parallel", type=int, default=2, metavar="N", help="tasks at once (default 2)")
    add_pool_flag(p, "--parallel + 1, at most 2 on a machine of 2 cores")
    p.add_argument("--out", type=Path, help="run folder (default runs/demo-<date-time>)")
    p.add_argument("--filter", metavar="TEXT", help="only tasks whose id contains TEXT")
    p.add_argument("--overwrite", action="store_true", help="start again in an --out that holds an earlier run")
    add_record_video_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agent.commands._common import check_desktop, check_record_video, out_folder
    from agent.commands.run import check_run_folder, finish, load_inputs
    from agent.errors import UsageError
    from agent.runner import RunSettings, run_tasks

    if args.parallel < 1:
        raise UsageError(f"--parallel must be at least 1, got {args.parallel}")
    tasks = [t for t in load_inputs(["suite"], args.filter)[0] if t.steps]
    out = args.out or Path("runs") / time.strftime("demo-%Y%m%d-%H%M%S")
    check_run_folder(out, False, args.overwrite, "scripted", "ocr")
    check_desktop(True)
    check_record_video(args.record_video)
    out_folder(out)
    print(f"running {len(tasks)} bundled tasks, scripted, with the OCR grounder, {args.parallel} at once → {out}",
          flush=True)
    settings = RunSettings(mode="scripted", out=out, parallel=args.parallel, grounder="ocr", pool=args.pool,
                           record_video=args.record_video)
    return finish(run_tasks(tasks, settings, suite="bundled (scripted steps)"), out)
