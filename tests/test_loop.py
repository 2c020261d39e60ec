"""The loop drives a real sandbox with a real HTTP model server replying in Kimi-VL-A3B-Thinking's format."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import pytest

from agent.episode import load_episode
from agent.loop import Agent, AgentConfig
from agent.models import OpenAIModel, RetryPolicy
from agent.profiles import get_profile
from agent.step import STEP_VERSION, StepRecord
from sandbox import Sandbox
from tests.stub_openai import StubOpenAI


@dataclass
class SimpleTask:
    id: str
    instruction: str
    max_steps: int = 8


def kimi(thought: str, action: str, code: str) -> str:
    return f"◁think▷{thought}◁/think▷## Action:\n{action}\n\n## Code:\n```python\n{code}\n```"


@pytest.fixture
def xterm_desktop():
    with Sandbox(1280, 800) as sb:
        sb.launch(["xterm", "-title", "shell", "-geometry", "80x20+100+100"])
        win = sb.wait_window("shell")
        yield sb, win


def model_for(stub: StubOpenAI) -> OpenAIModel:
    return OpenAIModel(base_url=stub.base_url, model="Kimi-VL-A3B-Thinking", read_timeout=10,
                       retry=RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05))


def test_the_loop_completes_a_task_and_records_every_step(xterm_desktop, tmp_path):
    sb, win = xterm_desktop
    cx, cy = (win.x + win.width / 2) / sb.width, (win.y + win.height / 2) / sb.height
    replies = [
        kimi("The terminal is open; focus it first.", "Click the terminal.",
             f"pyautogui.click(x={cx:.4f}, y={cy:.4f})"),
        "◁think▷I will type without the code block◁/think▷I think I should type now.",  # unusable
        kimi("Type the command.", "Write the file.",
             "pyautogui.write('echo héllo 世界 > /tmp/out.txt')\npyautogui.press('enter')"),
        kimi("The file is written.", "Finish.", "DONE"),
    ]
    with StubOpenAI(replies) as stub:
        agent = Agent(model_for(stub), get_profile("kimi-vl-thinking"), model_name="Kimi-VL-A3B-Thinking")
        outcome = asyncio.run(agent.run(SimpleTask("t1", "Write héllo 世界 into /tmp/out.txt"), sb, tmp_path / "ep"))
        requests = stub.chat_requests
    assert outcome.status == "done", outcome.reason
    assert sb.read_file("/tmp/out.txt").decode() == "héllo 世界\n"
    # The unusable reply went back to the model as text, in the next request.
    assert "could not be used" in json.dumps(requests[2].body["messages"], ensure_ascii=False)
    ep = load_episode(tmp_path / "ep")
    assert ep.complete, ep.problems
    assert [s.index for s in ep.steps] == [1, 2, 3, 4]
    first = ep.steps[0]
    click = first.executed[0].action
    assert click.type == "click"
    assert abs(click.x - (win.x + win.width / 2)) <= 1 and abs(click.y - (win.y + win.height / 2)) <= 1
    assert ep.frame_path(first) is not None and first.request.messages[-1]["content"]
    assert set(first.timings) >= {"capture", "encode", "model", "parse", "act", "settle"}
    assert first.action_text == "Click the terminal." and first.thought.startswith("The terminal is open")
    assert ep.steps[1].errors and not ep.steps[1].executed and ep.steps[1].feedback
    assert ep.result["status"] == "done" and ep.result["steps"] == 4
    # Every line is a current-version StepRecord, field for field (no key the record does not define).
    for line in (tmp_path / "ep" / "steps.jsonl").read_text(encoding="utf-8").splitlines():
        record = StepRecord.model_validate_json(line)
        assert record.v == STEP_VERSION and json.loads(record.line()) == json.loads(line)
    # Every request fit the context budget (the stub enforces max_model_len like vLLM).
    assert all(r.prompt_tokens <= 8192 for r in requests)


def test_a_rejected_action_is_fed_back_and_not_executed(xterm_desktop, tmp_path):
    sb, _ = xterm_desktop
    replies = [
        kimi("Reboot.", "Press ctrl+alt+delete.", "pyautogui.hotkey('ctrl', 'alt', 'delete')"),
        kimi("Give up.", "Fail.", "FAIL"),
    ]
    with StubOpenAI(replies) as stub:
        agent = Agent(model_for(stub), get_profile("kimi-vl-thinking"))
        outcome = asyncio.run(agent.run(SimpleTask("t2", "do something"), sb, tmp_path / "ep"))
        second = json.dumps(stub.chat_requests[1].body["messages"], ensure_ascii=False)
    assert outcome.status == "fail"
    ep = load_episode(tmp_path / "ep")
    assert ep.steps[0].rejections and not ep.steps[0].executed
    assert "not executed" in second


def test_a_dead_server_ends_the_episode_as_a_recorded_error(xterm_desktop, tmp_path):
    sb, _ = xterm_desktop
    model = OpenAIModel(base_url="http://127.0.0.1:9/v1", model="x", connect_timeout=0.5,
                        retry=RetryPolicy(max_retries=1, base_delay=0.01, max_delay=0.02))
    agent = Agent(model, get_profile("kimi-vl-thinking"), config=AgentConfig())
    outcome = asyncio.run(agent.run(SimpleTask("t3", "anything"), sb, tmp_path / "ep"))
    assert outcome.status == "error" and "model" in outcome.reason
    ep = load_episode(tmp_path / "ep")
    assert ep.result["status"] == "error"


@pytest.mark.parametrize("fault,options", [("500", {}), ("429", {"retry_after": 0.05}), ("drop", {}),
                                           ("refuse", {})])
def test_transient_server_faults_are_retried_and_the_task_completes(xterm_desktop, tmp_path, fault, options):
    sb, _ = xterm_desktop
    replies = [kimi("Nothing to do.", "Finish.", "DONE")]
    with StubOpenAI(replies) as stub:
        model = model_for(stub)
        if fault == "refuse":  # the server is down for a moment: back-off must outlast it
            stub.refuse_for(0.3)
            model = OpenAIModel(base_url=stub.base_url, model="Kimi-VL-A3B-Thinking", read_timeout=10,
                                retry=RetryPolicy(max_retries=6, base_delay=0.05, max_delay=0.3))
        else:
            stub.fail_next(fault, times=2, **options)
        agent = Agent(model, get_profile("kimi-vl-thinking"))
        outcome = asyncio.run(agent.run(SimpleTask("t-retry", "finish"), sb, tmp_path / "ep"))
    assert outcome.status == "done", outcome.reason


@pytest.mark.parametrize("fault,options", [("slow", {"delay": 3.0}), ("truncate", {}), ("invalid_json", {})])
def test_a_broken_reply_ends_as_a_clean_recorded_error_without_hanging(xterm_desktop, tmp_path, fault, options):
    sb, _ = xterm_desktop
    with StubOpenAI([kimi("x", "y", "DONE")] * 3) as stub:
        stub.fail_next(fault, times=3, **options)
        model = OpenAIModel(base_url=stub.base_url, model="Kimi-VL-A3B-Thinking", read_timeout=1.0,
                            retry=RetryPolicy(max_retries=0), stream=fault == "truncate")
        agent = Agent(model, get_profile("kimi-vl-thinking"))
        outcome = asyncio.run(agent.run(SimpleTask("t-fault", "finish"), sb, tmp_path / "ep"))
    assert outcome.status == "error" and outcome.reason.startswith("model")
    ep = load_episode(tmp_path / "ep")
    assert ep.result["status"] == "error" and "model" in ep.result["reason"]


def test_an_unknown_model_name_lists_what_the_server_offers(xterm_desktop, tmp_path):
    sb, _ = xterm_desktop
    with StubOpenAI([kimi("x", "y", "DONE")]) as stub:
        model = OpenAIModel(base_url=stub.base_url, model="no-such-model", retry=RetryPolicy(max_retries=0))
        outcome = asyncio.run(Agent(model, get_profile("kimi-vl-thinking")).run(
            SimpleTask("t-unknown", "finish"), sb, tmp_path / "ep"))
    assert outcome.status == "error" and "Kimi-VL-A3B-Thinking" in outcome.reason


def test_the_model_name_the_server_answered_with_is_recorded(xterm_desktop, tmp_path):
    sb, _ = xterm_desktop
    with StubOpenAI([kimi("x", "Finish.", "DONE")]) as stub:
        model = OpenAIModel(base_url=stub.base_url, retry=RetryPolicy(max_retries=0))  # name found by asking
        asyncio.run(Agent(model, get_profile("kimi-vl-thinking")).run(SimpleTask("t-name", "finish"), sb,
                                                                      tmp_path / "ep"))
    assert load_episode(tmp_path / "ep").task["model"] == "Kimi-VL-A3B-Thinking"


def test_a_long_wait_is_cut_at_the_run_deadline(xterm_desktop, tmp_path):
    sb, _ = xterm_desktop
    replies = [kimi("Wait for it.", "Wait.", "computer.wait()"), kimi("x", "Finish.", "DONE")]
    with StubOpenAI(replies) as stub:
        agent = Agent(model_for(stub), get_profile("kimi-vl-thinking"), config=AgentConfig(time_limit_s=1.5))
        outcome = asyncio.run(agent.run(SimpleTask("t-deadline", "wait"), sb, tmp_path / "ep"))
    assert outcome.status == "time_limit", outcome
    step = load_episode(tmp_path / "ep").steps[0]
    assert step.parsed[0].seconds == 20  # the model asked for 20 s (the Kimi agent's computer.wait())
    assert step.executed[0].action.type == "wait" and step.executed[0].action.seconds <= 1.5
