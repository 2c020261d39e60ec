"""Sandbox benchmark: cold start, screenshot, click, typing — ours beside what other harnesses do.

Every row is measured in this one run on this machine. "Other harnesses" are measured inside the
same sandbox: scrot + reading its PNG (what pyautogui.screenshot() does) for capture, one xdotool process per action.
"Before and after" runs the same measurements on a checkout of the sandbox as it was before the
hardening of issue 11 (a temporary git worktree) and on this one, in turns.
Run: python bench/bench_sandbox.py [--rounds N] [--baseline REV | --no-baseline]
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

from bench._machine import machine, median, ms  # noqa: E402
from sandbox import Sandbox  # noqa: E402

# Runs inside the sandbox (DISPLAY is the sandbox's): time the other harnesses' ways.
INSIDE = r"""
import json, subprocess, sys, time
n = int(sys.argv[1])
out = {}
from PIL import Image
t = []
for _ in range(n):  # what pyautogui.screenshot() does with scrot: run it, read the PNG back
    t0 = time.perf_counter()
    subprocess.run(["scrot", "-o", "/tmp/shot.png"], check=True)
    Image.open("/tmp/shot.png").load()
    t.append(time.perf_counter() - t0)
out["scrot_screenshot"] = t
t = []
for i in range(n):
    t0 = time.perf_counter()
    subprocess.run(["xdotool", "mousemove", str(100 + i), "200", "click", "1"], check=True)
    t.append(time.perf_counter() - t0)
out["xdotool_click"] = t
t = []
for _ in range(max(3, n // 10)):
    t0 = time.perf_counter()
    subprocess.run(["xdotool", "type", "--delay", "0", sys.argv[2]], check=True)
    t.append(time.perf_counter() - t0)
out["xdotool_type"] = t
print(json.dumps(out))
"""

# The sandbox before issue 11 (no user namespace, the whole host visible, a shared frame file).
BASELINE_REV = "bf695df"

# Runs on the host with PYTHONPATH set to the checkout under test: cold start, 1080p screenshot, task reset.
BEFORE_AFTER = r"""
import json, sys, time
from sandbox import Sandbox
from tasks.setup import run_setup
from tasks.suite import SUITE_DIR
from tasks.task import load_task
n = int(sys.argv[1])
out = {"start": [], "shot": [], "reset": []}
for _ in range(5):
    t0 = time.perf_counter()
    with Sandbox(1920, 1080):
        out["start"].append(time.perf_counter() - t0)
with Sandbox(1920, 1080) as sb:
    sb.launch(["xterm", "-geometry", "120x40+10+10"])
    sb.wait_window("xterm")
    for _ in range(n):
        t0 = time.perf_counter()
        sb.screenshot()
        out["shot"].append(time.perf_counter() - t0)
task = load_task(SUITE_DIR / "form-register-alice.yaml")
for _ in range(3):
    t0 = time.perf_counter()
    with Sandbox(task.screen.width, task.screen.height) as sb:
        run_setup(task, sb)
        sb.screenshot()
        out["reset"].append(time.perf_counter() - t0)
print(json.dumps(out))
"""

TEXT_100 = ("The quick brown fox jumps over the lazy dog, 0123456789! " * 2)[:100]


def _measure(tree: Path, rounds: int) -> dict[str, list[float]]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", BEFORE_AFTER, str(rounds)], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {tree} failed: {done.stderr.strip()[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def before_and_after(rev: str, rounds: int) -> None:
    """The same measurements on the sandbox at ``rev`` (a temporary git worktree) and on this checkout."""
    print(f"\n## before ({rev}, before issue 11) and after (this checkout), measured in turns")
    with tempfile.TemporaryDirectory(prefix="screenact-bench-") as tmp:
        tree = Path(tmp) / "before"
        add = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev],
                             capture_output=True, text=True)
        if add.returncode != 0:
            print(f"(skipped: cannot check out {rev}: {add.stderr.strip()})")
            return
        before: dict[str, list[float]] = {}
        after: dict[str, list[float]] = {}
        try:
            for _ in range(2):  # interleaved, so that a busy machine weighs on both columns alike
                for into, checkout in ((before, tree), (after, ROOT)):
                    for key, samples in _measure(checkout, rounds).items():
                        into.setdefault(key, []).extend(samples)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)
    rows = [("cold start to first frame, 1920x1080", "start", "<= 1000 ms"),
            ("screenshot delivered to host, 1920x1080", "shot", "<= 10 ms"),
            ("task reset (form-register-alice: sandbox + setup + frame)", "reset", "<= 1500 ms")]
    for label, key, target in rows:
        print(f"{label:58} before {ms(before[key])}   after {ms(after[key])}   target {target}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--baseline", default=BASELINE_REV, help=f"git revision of the 'before' column (default {BASELINE_REV})")
    ap.add_argument("--no-baseline", action="store_true", help="skip the before/after comparison")
    args = ap.parse_args()
    n = args.rounds
    print(f"# sandbox benchmark — {machine()}")
    if not args.no_baseline:
        before_and_after(args.baseline, n)
    starts = []
    for _ in range(5):
        t0 = time.perf_counter()
        with Sandbox(1920, 1080) as sb:
            starts.append(time.perf_counter() - t0)  # includes the first frame
    print(f"cold start to first frame (1920x1080, isolated): {ms(starts)}   target <= 1000 ms")
    for w, h in [(1280, 800), (1920, 1080)]:
        with Sandbox(w, h) as sb:
            sb.launch(["xterm", "-geometry", "120x40+10+10"])
            sb.wait_window("xterm")
            ours = []
            for _ in range(n):
                t0 = time.perf_counter()
                sb.screenshot()
                ours.append(time.perf_counter() - t0)
            clicks = []
            for i in range(n):
                t0 = time.perf_counter()
                sb.act({"type": "click", "x": 600 + i, "y": 300})
                clicks.append(time.perf_counter() - t0)
            typing = []
            for _ in range(max(3, n // 10)):
                t0 = time.perf_counter()
                sb.act({"type": "type", "text": TEXT_100})
                typing.append(time.perf_counter() - t0)
            code, out, err = sb.run([sys.executable, "-c", INSIDE, str(n), TEXT_100], timeout=300)
            if code != 0:
                raise SystemExit(f"inside measurement failed: {err}")
            other = json.loads(out)
            print(f"\n## {w}x{h}")
            print(f"screenshot delivered to host, ours (mss + shared memory): {ms(ours)}   target <= 10 ms at 1080p")
            print(f"screenshot, scrot + PNG read back (pyautogui's way):    {ms(other['scrot_screenshot'])}"
                  f"   ours is {median(other['scrot_screenshot']) / median(ours):.0f}x faster")
            print(f"click, ours (host -> worker -> XTEST):                  {ms(clicks)}   target <= 5 ms")
            print(f"click, one xdotool process per action:                  {ms(other['xdotool_click'])}"
                  f"   ours is {median(other['xdotool_click']) / median(clicks):.0f}x faster")
            print(f"type 100 characters, ours:                              {ms(typing)}")
            print(f"type 100 characters, xdotool type --delay 0:            {ms(other['xdotool_type'])}"
                  f"   ratio {median(other['xdotool_type']) / median(typing):.1f}x")


if __name__ == "__main__":
    main()
