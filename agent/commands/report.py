"""``screenact report DIR``: render an episode folder or a run folder as one self-contained HTML page."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from agent.commands._common import out_file, out_folder
from agent.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="render an episode or a run folder as one self-contained HTML page",
        description="Render DIR as one HTML file with its CSS, script and frames inline. An episode folder "
        "(task.json, steps.jsonl, step-NNNN.png, result.json) gives the task, the verdict, a timeline of where "
        "the time went, and every step's frame with its actions drawn on it, thought, reply, rejections, "
        "timings and tokens. A run folder (results.json and one episode folder per task) gives a sortable "
        "results table with totals, and every episode's page is written into its own folder. Partial and "
        "damaged folders render too, saying what is missing.")
    p.add_argument("dir", type=Path, metavar="DIR", help="an episode folder or a run folder")
    p.add_argument("--out", metavar="FILE",
                   help="where the page goes (default DIR/report.html; an existing folder, or a path ending in /, "
                   "means FOLDER/report.html)")
    p.add_argument("--open", action="store_true", help="open the page in a web browser afterwards")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agent.report import REPORT_NAME, NotAReportFolder, render_report

    out = None
    if args.out is not None:
        folder = args.out.endswith(("/", os.sep)) or Path(args.out).is_dir()
        out = out_folder(Path(args.out)) / REPORT_NAME if folder else out_file(Path(args.out))
    try:
        page = render_report(args.dir, out)
    except (FileNotFoundError, NotAReportFolder) as exc:
        raise UsageError(str(exc)) from exc
    except OSError as exc:
        raise UsageError(f"cannot write the report: {exc}") from exc
    print(page)
    if args.open:
        import webbrowser

        if not webbrowser.open(page.resolve().as_uri()):
            print(f"no web browser to open; the page is {page}", file=sys.stderr)
    return 0
