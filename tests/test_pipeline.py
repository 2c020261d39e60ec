"""One way to run an episode: run_episode with both drivers, its observers, and what lands on disk."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from agent.episode import load_episode
from agent.loop import Agent
from agent.models import OpenAIModel, RetryPolicy
from agent.pipeline import run_episode
from agent.profiles import get_profile
from agent.runner import ProgressLine
from agent.scripted import ScriptedRunner
from agent.step import STEP_VERSION, StepRecord
from tasks import SUITE_DIR, load_task
from tests.stub_openai import StubOpenAI


class Watcher:
    """An observer that keeps everything it hears."""

    def __init__(self) -> None:
        self.statuses: list[str] = []
        self.steps: list[StepRecord] = []
        self.text: list[tuple[int, str, str]] = []

    def on_status(self, status: str, text: str) -> None:
        self.statuses.append(status)

    def on_step(self, step: StepRecord) -> None:
        self.steps.append(step)

    def on_text(self, index: int, kind: str, text: str) -> None:
        self.text.append((index, kind, text))


def test_a_scripted_episode_runs_set_up_driven_and_judged_with_its_observers(tmp_path):
    from agent.grounders.ocr import OCRGrounder

    task = load_task(Path(SUITE_DIR) / "form-country-canada.yaml")
    watcher = Watcher()
    episode = asyncio.run(run_episode(task, ScriptedRunner(OCRGrounder()), tmp_path / "ep", observers=[watcher]))
    assert episode.error is None and episode.verdict.passed, (episode.error, episode.outcome)
    assert watcher.statuses == ["starting", "setup", "running", "checking", "ended"]
    on_disk = load_episode(tmp_path / "ep")
    assert on_disk.complete and on_disk.result["verdict"]["passed"] is True
    assert on_disk.task["mode"] == "scripted" and on_disk.task["grounder"] == "ocr"
    # The observers saw exactly the records on disk, in order.
    assert [s.model_dump() for s in watcher.steps] == [s.model_dump() for s in on_disk.steps]
    assert all(s.v == STEP_VERSION and s.kind == "scripted" and s.grounding for s in watcher.steps)


def test_an_autonomous_episode_streams_to_its_observers_and_a_failing_setup_is_named(tmp_path):
    from tasks import task_from_data

    task = load_task(Path(SUITE_DIR) / "xterm-infeasible-gui.yaml")
    replies = ["◁think▷There is no such window.◁/think▷## Action:\nGive up.\n## Code:\n```python\nFAIL\n```"]
    watcher = Watcher()
    with StubOpenAI(replies, chunk_chars=7) as stub:
        model = OpenAIModel(base_url=stub.base_url, stream=True, retry=RetryPolicy(max_retries=0))
        agent = Agent(model, get_profile("kimi-vl-thinking"))
        episode = asyncio.run(run_episode(task, agent, tmp_path / "ep", observers=[watcher]))
    assert episode.outcome.status == "fail" and episode.verdict.passed, episode
    assert "".join(t for _, _, t in watcher.text) == replies[0] and {i for i, _, _ in watcher.text} == {1}
    assert load_episode(tmp_path / "ep").task["model"] == "Kimi-VL-A3B-Thinking"  # found by asking the server

    broken = task_from_data({"id": "bad-setup", "instruction": "x", "setup": [{"kind": "run", "argv": ["false"]}],
                             "checker": {"kind": "infeasible"}, "screen": {"width": 640, "height": 480}})
    episode = asyncio.run(run_episode(broken, agent, tmp_path / "bad"))
    assert episode.outcome is None and episode.error.startswith("setup failed: ") and "setup[0] (run)" in episode.error
    result = load_episode(tmp_path / "bad").result
    assert result["status"] == "error" and result["reason"] == episode.error


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_line_rewrites_one_terminal_line_and_stays_silent_in_logs():
    from tools.actions import Click

    step = StepRecord.start(3, executed=[{"action": Click(x=5, y=6)}])
    tty, log = _Terminal(), io.StringIO()
    ProgressLine("form", tty).on_step(step)
    ProgressLine("form", log).on_step(step)
    assert tty.getvalue() == "\r\x1b[Kform: step 3 click(5, 6)" and log.getvalue() == ""
