"""PNG encoding of a real desktop frame: Pillow level 1 (the encoder agent/images.py uses) against tools.png.

Screens: xterm with a page of output plus a Tk window (tests/ocr_app.py), at 1280x800 and 1920x1080,
captured from a real sandbox. Every encoder runs on the same frame, interleaved round by round so that
load from other processes hits them alike; wall time (median, p95) and the CPU time the process spent
(all its threads: less sensitive than wall time to other processes on a busy machine) are printed,
with the PNG size. Every output is decoded and compared with the frame's pixels before timing.
Run: python bench/bench_png.py [--rounds N]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from tools.png import backends, default_threads, encode_png  # noqa: E402
from bench._machine import machine  # noqa: E402
from sandbox import Sandbox  # noqa: E402
from tests.ocr_desktop import start_ocr_app  # noqa: E402
from tools.frame import Frame  # noqa: E402
from tools.settle import settle  # noqa: E402


def desktop(width: int, height: int) -> Frame:
    """A settled screenshot of xterm (with output) and the OCR test app."""
    with Sandbox(width, height) as sb:
        sb.launch(["xterm", "-title", "term", "-geometry", "110x40+0+0"])
        sb.wait_window("term")
        sb.act({"type": "type", "text": "ls -la /usr/bin | head -60\n"})
        start_ocr_app(sb)
        return settle(sb.screenshot, quiet=0.3, timeout=5).frame


def pillow_level1(frame: Frame) -> bytes:
    """What Frame.png did before tools.png: Pillow's encoder at compress_level 1."""
    buf = io.BytesIO()
    frame.image().save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=30)
    rounds = ap.parse_args().rounds
    print(f"# PNG encoding benchmark — {machine()}")
    print(f"# deflate backends installed: {', '.join(backends())}; default threads {default_threads()}; "
          f"load average at start {os.getloadavg()[0]:.2f}")
    for width, height in ((1280, 800), (1920, 1080)):
        frame = desktop(width, height)
        ref = frame.image().tobytes()
        encoders = {"pillow level 1": pillow_level1}
        for name in backends():
            encoders[f"tools.png {name}, 1 thread"] = lambda f, name=name: encode_png(f, backend=name, threads=1)
            encoders[f"tools.png {name}, default threads"] = lambda f, name=name: encode_png(f, backend=name)
        sizes = {}
        for label, enc in encoders.items():
            data = enc(frame)
            with Image.open(io.BytesIO(data)) as img:
                assert img.convert("RGB").tobytes() == ref, f"{label} is not lossless"
            sizes[label] = len(data)
        wall: dict[str, list[float]] = {k: [] for k in encoders}
        cpu: dict[str, list[float]] = {k: [] for k in encoders}
        for _ in range(rounds):
            for label, enc in encoders.items():
                c0, t0 = time.process_time(), time.perf_counter()
                enc(frame)
                wall[label].append(time.perf_counter() - t0)
                cpu[label].append(time.process_time() - c0)
        base = statistics.median(wall["pillow level 1"])
        print(f"\n## {width}x{height}, {rounds} rounds (load average now {os.getloadavg()[0]:.2f})")
        print("| encoder | wall median | wall p95 | CPU median | size | wall speed-up vs Pillow |")
        print("|---|---|---|---|---|---|")
        for label in encoders:
            w = sorted(wall[label])
            med, p95 = statistics.median(w), w[min(len(w) - 1, round(0.95 * (len(w) - 1)))]
            print(f"| {label} | {med * 1000:.1f} ms | {p95 * 1000:.1f} ms | "
                  f"{statistics.median(cpu[label]) * 1000:.1f} ms | {sizes[label] / 1024:.1f} KiB | "
                  f"{base / med:.1f}x |")


if __name__ == "__main__":
    main()
