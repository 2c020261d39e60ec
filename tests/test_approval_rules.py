"""Approval rules from a file (``run --approve-rules``) and from a profile, and a run's approvals and video in
its report: the real CLI against the stub model server in a real sandbox, with no terminal."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agent.profiles import get_profile
from agent.runner import RunSettings, _driver, _Shared
from tests.stub_openai import StubOpenAI
from tests.test_approval import kimi
from tools.actions import ACTION_ADAPTER
from tools.approval import DEFAULT_RULES, ApprovalRules, RulesFileError, load_rules

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, start_new_session=True)  # no terminal


def test_a_rules_file_sets_the_rules(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("actions: [drag]\nkeys: [ctrl+alt+t]\ntext: ['\\bshutdown\\b']\nregions: [[0, 0, 100, 40]]\n")
    rules = load_rules(path)
    assert rules.match(ACTION_ADAPTER.validate_python({"type": "type", "text": "shutdown -h now"})) is not None
    assert rules.match(ACTION_ADAPTER.validate_python({"type": "click", "x": 5, "y": 5})) is not None
    assert rules.match(ACTION_ADAPTER.validate_python({"type": "type", "text": "sudo ls"})) is None  # replaced
    (tmp_path / "more.json").write_text(json.dumps({"defaults": True, "actions": ["drag"]}))
    both = load_rules(tmp_path / "more.json")
    assert both.actions == ("drag",) and both.text == DEFAULT_RULES.text


@pytest.mark.parametrize("content, field, value", [
    ("actions: [clack]\n", "'actions.0'", '"clack"'),
    ("keys: [ctrl+nokey]\n", "'keys.0'", '"ctrl+nokey"'),
    ("text: ['(unclosed']\n", "'text.0'", '"(unclosed"'),
    ("regions: [[0, 0, -5, 10]]\n", "'regions.0'", "[0, 0, -5, 10]"),
    ("action: [click]\n", "'action'", '["click"]'),
])
def test_a_bad_rules_file_names_file_field_and_value(tmp_path: Path, content: str, field: str, value: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(content)
    with pytest.raises(RulesFileError) as caught:
        load_rules(path)
    assert str(caught.value).startswith(f"{path}: field {field}") and f"(value {value})" in str(caught.value)


def test_the_cli_exits_2_on_a_bad_rules_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("regions: [[0, 0, -5, 10]]\n")
    done = _cli("run", "suite", "--filter", "xterm-echo-file", "--base-url", "http://127.0.0.1:9/v1",
                "--out", str(tmp_path / "run"), "--approve-rules", str(path))
    assert done.returncode == 2, done.stderr
    assert f"--approve-rules {path}: field 'regions.0'" in done.stderr and "[0, 0, -5, 10]" in done.stderr


def test_the_profile_rules_apply_unless_a_file_replaces_them(tmp_path: Path) -> None:
    from agent import profiles

    strict = get_profile("kimi-vl-thinking").with_(name="test-strict-approval", approval=ApprovalRules(actions=("click",)))
    profiles.PROFILES[strict.name] = strict
    try:
        settings = RunSettings(mode="auto", approve=True, profile=strict.name)
        agent = _driver(settings, _Shared(settings), None, threading.Event())
        assert agent.approval.rules.match(ACTION_ADAPTER.validate_python({"type": "click", "x": 1, "y": 1}))
        settings.approval_rules = ApprovalRules(actions=("drag",))
        agent = _driver(settings, _Shared(settings), None, threading.Event())
        assert agent.approval.rules.actions == ("drag",)
        assert _driver(RunSettings(mode="auto"), _Shared(settings), None, threading.Event()).approval is None
    finally:
        del profiles.PROFILES[strict.name]
    assert get_profile("kimi-vl-thinking").approval is DEFAULT_RULES


def test_rules_from_a_file_apply_and_the_report_shows_approvals_and_video(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("actions: [click]\n")
    replies = [kimi("Focus the terminal.", "pyautogui.click(x=0.3, y=0.3)"), kimi("Give up.", "FAIL")]
    out = tmp_path / "run"
    with StubOpenAI(replies) as stub:
        done = _cli("run", "suite", "--filter", "xterm-echo-file", "--base-url", stub.base_url, "--model",
                    "Kimi-VL-A3B-Thinking", "--out", str(out), "--approve-rules", str(rules), "--record-video",
                    timeout=300)
        second = json.dumps(stub.chat_requests[1].body["messages"], ensure_ascii=False)
    assert done.returncode == 1, done.stderr
    assert "needs a person's approval (action type click)" in second
    folder = out / "xterm-echo-file"
    step = json.loads((folder / "steps.jsonl").read_text().splitlines()[0])
    (decision,) = step["approvals"]
    assert decision["rule"] == "action type click" and decision["approved"] is False
    assert decision["by"] == "no terminal" and isinstance(decision["at"], float)
    video = json.loads((folder / "result.json").read_text())["video"]
    assert video["file"] == "episode.webm" and video["finalised"] is True
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert '<table class="acts-table approvals">' in page and "action type click" in page
    assert '<tr data-approved="false">' in page and "no terminal" in page
    assert '<video controls preload="metadata" src="episode.webm">' in page
    assert f'class="vmark approval" href="#step-{step["index"]}"' in page
