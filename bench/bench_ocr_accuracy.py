"""OCR grounder accuracy per app, type and element kind on a generated grounding set, before and after.

``screenact make-grounding-set`` draws scenes of the bundled Tk apps and xterm in real sandboxes (true
boxes from the toolkit); the embedded OCR grounder grounds every sample's English instruction, and a
point counts when it lies in the true box (ScreenSpot's rule). The same set is scored by the grounder
of this checkout and by the one at ``--before`` (a temporary git worktree; default: the commit before
issue 17's grounding of elements without text), in one run.
Run: python bench/bench_ocr_accuracy.py [--n 200] [--seed 1] [--set DIR] [--before REV]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._machine import machine  # noqa: E402

BEFORE = "a163f2f"  # OCR before role words, terminal lines and control shapes (issue 17)

SCORE = r"""
import json, sys
from collections import Counter
from pathlib import Path
from agent.grounders.ocr import OCRGrounder
from tools.frame import Frame

root = Path(sys.argv[1])
records = [r for f in sorted((root / "annotations").glob("*.json")) for r in json.loads(f.read_text())]
grounder, frames, ok, total = OCRGrounder(), {}, Counter(), Counter()
for r in sorted(records, key=lambda r: r["img_filename"]):
    if r["img_filename"] not in frames:
        frames = {r["img_filename"]: Frame.open(root / "images" / r["img_filename"])}
    p = grounder.locate_sync(frames[r["img_filename"]], r["instruction"]).point
    x1, y1, x2, y2 = r["bbox"]
    hit = p is not None and x1 <= p.x <= x2 and y1 <= p.y <= y2
    for key in ("all", "app:" + r["application"], "type:" + r["ui_type"], "kind:" + r["kind"]):
        total[key] += 1
        ok[key] += hit
print(json.dumps({k: [ok[k], total[k]] for k in total}))
"""


def score(tree: Path, dataset: Path) -> dict[str, list[int]]:
    """{"all" | "app:…" | "type:…" | "kind:…": [correct, total]} of the OCR grounder in ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", SCORE, str(dataset)], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"scoring with {tree} failed: {done.stderr.strip()[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def pct(cell: list[int] | None) -> str:
    return f"{100 * cell[0] / cell[1]:5.1f} % ({cell[0]}/{cell[1]})" if cell else "–"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--set", type=Path, help="score this generated set instead of generating one")
    ap.add_argument("--before", default=BEFORE, help=f"git revision of the 'before' column (default {BEFORE})")
    args = ap.parse_args()
    print(f"# OCR grounder accuracy on make-grounding-set --n {args.n} --seed {args.seed}\n{machine()}")
    with tempfile.TemporaryDirectory(prefix="screenact-bench-") as tmp:
        dataset = args.set
        if dataset is None:
            dataset = Path(tmp) / "set"
            subprocess.run([sys.executable, "-m", "agent.cli", "make-grounding-set", str(dataset), "--n", str(args.n),
                            "--seed", str(args.seed)], cwd=ROOT, check=True, capture_output=True)
        tree = Path(tmp) / "before"
        add = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), args.before],
                             capture_output=True, text=True)
        try:
            before = score(tree, dataset) if add.returncode == 0 else {}
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)
        after = score(ROOT, dataset)
    print(f"\n| | before ({args.before}) | after | target |\n|---|---|---|---|")
    targets = {"all": "≥ 70 %", "type:icon": "≥ 50 %", "app:xterm": "≥ 50 %"}
    for key in sorted(after, key=lambda k: (k != "all", k.split(":")[0] != "type", k.split(":")[0] == "kind", k)):
        print(f"| {key} | {pct(before.get(key))} | {pct(after[key])} | {targets.get(key, '')} |")


if __name__ == "__main__":
    main()
