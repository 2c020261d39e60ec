"""OCR grounder: time per frame at 1280x800 and 1920x1080, and accuracy on the OCR test app's elements.

A real sandbox shows xterm and tests/ocr_app.py (English and Chinese buttons, labelled entries, lone
glyph keys); the app reports its widget boxes. Timing: a full OCR of the frame with an empty cache
(median of --runs, the engine already loaded), then the per-step cost once the frame is cached, and
the isolated-glyph pass. Accuracy: a point counts when it lies inside the described widget's box;
descriptions of text that is not on screen count when the answer is None.
The CPU column counts onnxruntime's threads too (time the process spent, whoever else is busy).
Incremental reading: the frames of a few suite tasks (setup, then each reference-solution action,
in a real sandbox) are read in order by an incremental grounder, and each one right after again whole
with the recognition cache emptied first (what every step cost before incremental reading); the ratio
is the median incremental step (after each task's first frame) over the median whole read, in the
same run, in wall time and in CPU time.
Run: python bench/bench_ocr.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.grounders.ocr import OCRGrounder  # noqa: E402
from agent.grounders.ocr.engine import ENGINE_DEFAULTS, engine  # noqa: E402
from bench._machine import machine  # noqa: E402
from sandbox import Sandbox  # noqa: E402
from tests.ocr_desktop import read_boxes, start_ocr_app  # noqa: E402
from tests.suite_frames import task_frames  # noqa: E402
from tools.frame import Frame  # noqa: E402
from tools.settle import settle  # noqa: E402

CASES = [  # (description, widget id or None when the text is not on screen)
    ("the Save button", "save"), ("Cancel", "cancel"), ("Save As…", "save_as"), ("the Open File button", "open_file"),
    ("the Remember me checkbox", "remember"), ("保存", "cn_save"), ("点击 取消 按钮", "cn_cancel"),
    ("the Name field", "name_entry"), ("the Email field", "email_entry"), ("the Phone number field", "phone_entry"),
    ("the Company field", "company_entry"), ("姓名 输入框", "cn_name_entry"), ("“邮箱地址”输入框", "cn_email_entry"),
    ("type 'Alice' into the Name field", "name_entry"), ("the 7 button", "key_0"), ("the 8 button", "key_1"),
    ("+", "key_2"), ("the − key", "key_3"), ("=", "key_4"), ("export", "status"), ("Account settings", "heading"),
    ("the Delete button", None), ("删除", None), ("OK", None), ("the Preferences menu", None),
]


def desktop(width: int, height: int) -> tuple[Frame, dict]:
    """A settled screenshot of xterm and the OCR test app, and the app's widget boxes."""
    with Sandbox(width, height) as sb:
        sb.launch(["xterm", "-title", "term", "-geometry", "100x20+0+0"])
        start_ocr_app(sb)
        frame = settle(sb.screenshot, quiet=0.3, timeout=5).frame
        return frame, read_boxes(sb)["widgets"]


INCREMENTAL_TASKS = ["calc-chain", "form-register-alice", "settings-volume", "todo-add-item", "editor-save-hello"]


def incremental() -> None:
    """Per-step read time, incremental vs whole, over real suite frames (see the module docstring)."""
    # the whole reads use an engine of their own (max_side_len only matters above 8191 px), so emptying its
    # recognition cache before each whole read leaves the incremental grounder's cache as a run has it
    whole_options = {"max_side_len": 8191}
    recogniser = engine(tuple(sorted({**ENGINE_DEFAULTS, **whole_options}.items()))).text_rec
    steps, wholes, step_cpu, whole_cpu = [], [], [], []
    print("| task | frames | whole read (median) | incremental step (median, after the first frame) | ratio |")
    print("|---|---|---|---|---|")
    for task_id in INCREMENTAL_TASKS:
        frames = list(task_frames(task_id))
        g, inc, whole = OCRGrounder(), [], []
        for k, frame in enumerate(frames):  # interleaved: a busy machine weighs on both alike
            c, t = time.process_time(), time.perf_counter()
            g.read(frame)
            inc.append(time.perf_counter() - t)
            if k:
                step_cpu.append(time.process_time() - c)
            recogniser.forget()
            c, t = time.process_time(), time.perf_counter()
            OCRGrounder(incremental=False, engine_options=whole_options).read(frame)
            whole.append(time.perf_counter() - t)
            whole_cpu.append(time.process_time() - c)
        steps += inc[1:]
        wholes += whole
        print(f"| {task_id} | {len(frames)} | {statistics.median(whole) * 1000:.0f} ms | "
              f"{statistics.median(inc[1:]) * 1000:.0f} ms | {statistics.median(inc[1:]) / statistics.median(whole):.2f} |")
    print(f"| all | {len(wholes)} | {statistics.median(wholes) * 1000:.0f} ms | {statistics.median(steps) * 1000:.0f} ms "
          f"| **{statistics.median(steps) / statistics.median(wholes):.2f}** (target ≤ 0.15) |")
    print(f"| all, CPU time (all threads) | | {statistics.median(whole_cpu) * 1000:.0f} ms | "
          f"{statistics.median(step_cpu) * 1000:.0f} ms | {statistics.median(step_cpu) / statistics.median(whole_cpu):.2f} |")
    print(f"load avg {os.getloadavg()[0]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    runs = ap.parse_args().runs
    print(f"# OCR grounder benchmark — {machine()}")
    t0 = time.perf_counter()
    OCRGrounder().read(Frame(64, 32, bytes(64 * 32 * 4)))  # loads the engine
    print(f"engine load + first call: {(time.perf_counter() - t0) * 1000:.0f} ms")
    print("| screen | full OCR wall (median / min) | its CPU (all threads) | per step, frame cached | glyph pass "
          "| accuracy | load avg |")
    print("|---|---|---|---|---|---|---|")
    misses = []
    for width, height in ((1280, 800), (1920, 1080)):
        frame, widgets = desktop(width, height)
        full, cpu = [], []
        for _ in range(runs):
            g = OCRGrounder()
            c, t = time.process_time(), time.perf_counter()
            g.read(frame)
            full.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        t = time.perf_counter()
        g.read_glyphs(frame)
        glyph_s = time.perf_counter() - t
        hits, step = 0, []
        for description, wid in CASES:
            t = time.perf_counter()
            found = g.locate_sync(frame, description)
            step.append(time.perf_counter() - t)
            if wid is None:
                ok = found.point is None
            else:
                x1, y1, x2, y2 = widgets[wid]["box"]
                ok = found.point is not None and x1 <= found.point.x < x2 and y1 <= found.point.y < y2
            hits += ok
            if not ok:
                misses.append(f"{width}x{height} {description!r}: {found.point} {found.details.get('matched')}"
                              f" {found.details.get('reason', '')}")
        print(f"| {width}x{height} | {statistics.median(full) * 1000:.0f} / {min(full) * 1000:.0f} ms | "
              f"{statistics.median(cpu) * 1000:.0f} ms | "
              f"{statistics.median(step) * 1000:.1f} ms | {glyph_s * 1000:.0f} ms | {hits}/{len(CASES)} | "
              f"{os.getloadavg()[0]:.1f} |")
    for miss in misses:
        print(f"  miss: {miss}")
    incremental()


if __name__ == "__main__":
    main()
