"""Demo wall time, before and after issue 17 (incremental OCR, operator glyphs, warm sandbox pool).

``screenact demo`` runs from a temporary git worktree at the baseline revision and from this
checkout, in turns (so that a busy machine weighs on both alike), at each --parallel; prints wall time
and tasks passed side by side.
Run: python bench/bench_demo.py [--filter TEXT] [--parallel 1 2 4] [--baseline REV]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._machine import machine  # noqa: E402

BASELINE_REV = "edaeb17"
"""main before issue 17's work (every step a whole-frame OCR, ÷ read as +, no pool)."""


def demo(tree: Path, parallel: int, text: str | None, out: Path) -> tuple[float, int, int]:
    """(wall seconds, passed, total) of one ``screenact demo`` run from ``tree``."""
    argv = [sys.executable, "-m", "agent.cli", "demo", "--parallel", str(parallel), "--out", str(out)]
    if text:
        argv += ["--filter", text]
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, timeout=3600)
    wall = time.perf_counter() - t0
    summary = json.loads((out / "results.json").read_text())["summary"]
    return wall, summary["passed"], summary["total"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--filter", default="calc", help="only tasks whose id contains TEXT ('' for all 41; default calc)")
    ap.add_argument("--parallel", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--baseline", default=BASELINE_REV)
    args = ap.parse_args()
    print(f"# demo benchmark — {machine()}; tasks: {args.filter or 'all'}; load avg {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="screenact-demo-bench-") as tmp:
        tree = Path(tmp) / "before"
        add = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), args.baseline],
                             capture_output=True, text=True)
        if add.returncode != 0:
            print(f"(skipped: cannot check out {args.baseline}: {add.stderr.strip()})")
            return
        try:
            print("| --parallel | before: wall, passed | after: wall, passed | after / before |")
            print("|---|---|---|---|")
            for parallel in args.parallel:
                before = demo(tree, parallel, args.filter, Path(tmp) / f"b{parallel}")
                after = demo(ROOT, parallel, args.filter, Path(tmp) / f"a{parallel}")
                print(f"| {parallel} | {before[0]:.1f} s, {before[1]}/{before[2]} | {after[0]:.1f} s, {after[1]}/{after[2]} "
                      f"| {after[0] / before[0]:.2f} |", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)
    print(f"load avg {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
