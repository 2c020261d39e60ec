"""Sandbox benchmark: cold start, screenshot, click, typing — ours beside what other harnesses do.

Every row is measured in this one run on this machine. "Other harnesses" are measured inside the
same sandbox: scrot + reading its PNG (what pyautogui.screenshot() does) for capture, one xdotool process per action.
Run: python bench/bench_sandbox.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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

TEXT_100 = ("The quick brown fox jumps over the lazy dog, 0123456789! " * 2)[:100]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=30)
    n = ap.parse_args().rounds
    print(f"# sandbox benchmark — {machine()}")
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
