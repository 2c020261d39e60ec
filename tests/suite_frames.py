"""Real frames of the bundled suite: a task's settled screen after its setup and after each solution step.

Used by the incremental-OCR test and by bench/bench_ocr.py: the frames a scripted run grounds on.
"""

from __future__ import annotations

from typing import Iterator

from sandbox import Sandbox
from tasks import SUITE_DIR, load_task, run_setup
from tasks.solution import resolve
from tools.frame import Frame
from tools.settle import settle


def task_frames(task_id: str) -> Iterator[Frame]:
    """The settled frames of one suite task: after its setup, then after each solution action."""
    task = load_task(SUITE_DIR / f"{task_id}.yaml")
    with Sandbox(task.screen.width, task.screen.height) as sb:
        run_setup(task, sb)
        yield settle(sb.screenshot, quiet=0.2, timeout=5).frame
        for step in task.solution:
            action = resolve(step, sb, task)
            if action is None or action.type in ("done", "fail"):
                continue
            sb.act(action)
            yield settle(sb.screenshot, quiet=0.2, timeout=5).frame
