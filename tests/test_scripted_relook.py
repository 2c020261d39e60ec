"""Scripted mode looks at the screen once more before giving up on a step (a real sandbox and OCR).

On a busy machine a frame can settle before an app has drawn everything (a tab's page still blank).
Here the word to click appears on the terminal shortly after the first frame is taken: the step
grounds on a second look instead of failing.
"""

from __future__ import annotations

import asyncio

import pytest

from agent.episode import load_episode
from agent.grounders.ocr import OCRGrounder
from agent.pipeline import run_episode
from agent.scripted import ScriptedRunner
from tasks import task_from_data

pytest.importorskip("rapidocr_onnxruntime")


def test_a_step_whose_target_appears_late_is_grounded_on_a_second_look(tmp_path):
    task = task_from_data({
        "id": "late-word", "instruction": "click the word when it shows", "checker": {"kind": "infeasible"},
        "screen": {"width": 800, "height": 600},
        "steps": ["click 'Continue'"],
        "setup": [{"kind": "launch", "wait_window": "Late",
                   "argv": ["xterm", "-title", "Late", "-geometry", "60x10+20+20", "-fa", "DejaVu Sans Mono",
                            "-fs", "14", "-bg", "white", "-fg", "black", "-e", "sh", "-c",
                            "sleep 0.6; echo Continue; sleep 60"]}]})
    episode = asyncio.run(run_episode(task, ScriptedRunner(OCRGrounder()), tmp_path / "ep", judge=False))
    assert episode.outcome.status == "done", episode.outcome.reason
    step = load_episode(tmp_path / "ep").steps[0]
    assert step.grounding[0].point is not None and step.executed
