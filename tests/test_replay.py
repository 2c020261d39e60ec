"""Recorded episodes replay: offline (parser regression) and live in a fresh sandbox; kill -9 loses nothing."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.episode import load_episode
from agent.replay import assert_replays, replay_live, replay_offline
from sandbox import Sandbox
from tests.episode_recorder import HEIGHT, WIDTH, XTERM, setup

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = Path(__file__).resolve().parent / "corpus" / "episodes" / "xterm-write"


def test_committed_episode_is_complete_and_replays_offline():
    ep = load_episode(COMMITTED)
    assert ep.complete, ep.problems
    report = replay_offline(COMMITTED)
    assert report.ok and report.steps == 4, report.summary()


def test_committed_episode_replays_live_to_the_same_state(tmp_path):
    with Sandbox(WIDTH, HEIGHT) as sb:
        setup(sb)
        report = replay_live(COMMITTED, sb, tmp_path / "again")
        assert report.ok, report.summary()
        assert report.status == "done"
        assert sb.read_file("/tmp/out.txt").decode() == "héllo 世界\n"


def test_the_user_helper_replays_in_a_few_lines(tmp_path):
    def desktop(width, height):
        sb = Sandbox(width, height)
        setup(sb)
        return sb

    report = assert_replays(COMMITTED, desktop, tmp_path)
    assert report.ok and [c.similarity for c in report.checks] == [1.0] * 4
    again = assert_replays(COMMITTED, tmp=tmp_path / "launched", launch=[XTERM], wait_window="shell")
    assert again.ok and len(again.checks) == 4


def test_a_diverging_step_is_reported_with_both_sides(tmp_path):
    bent = tmp_path / "bent"
    shutil.copytree(COMMITTED, bent)
    lines = (bent / "steps.jsonl").read_text().splitlines()
    step = json.loads(lines[0])
    step["reply"] = step["reply"].replace("pyautogui.click(x=0.", "pyautogui.click(x=0.0")
    lines[0] = json.dumps(step, ensure_ascii=False)
    (bent / "steps.jsonl").write_text("\n".join(lines) + "\n")
    report = replay_offline(bent)
    assert not report.ok and report.divergences[0].step == 1
    text = report.summary()
    assert "recorded:" in text and "replayed:" in text
    with Sandbox(WIDTH, HEIGHT) as sb:
        setup(sb)
        live = replay_live(bent, sb, tmp_path / "live")
    assert not live.ok and live.divergences[0].step == 1


def test_kill_9_mid_episode_leaves_a_readable_folder(tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "tests.episode_recorder", str(out), "--slow", "0.6"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        steps = out / "steps.jsonl"
        if steps.exists() and steps.read_bytes().count(b"\n") >= 2:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    ep = load_episode(out)
    assert len(ep.steps) >= 2 and ep.result is None
    assert any("did not finish" in p for p in ep.problems)
    assert all(ep.frame_path(s) is not None for s in ep.steps)


def test_a_torn_last_line_is_skipped_and_named(tmp_path):
    torn = tmp_path / "torn"
    shutil.copytree(COMMITTED, torn)
    (torn / "result.json").unlink()
    data = (torn / "steps.jsonl").read_bytes()
    (torn / "steps.jsonl").write_bytes(data[: len(data) - 40])
    ep = load_episode(torn)
    assert len(ep.steps) == 3
    assert any("cut short" in p for p in ep.problems) and any("did not finish" in p for p in ep.problems)
    assert any("step-0004.png has no step line" in p for p in ep.problems)


def test_not_a_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an episode folder"):
        load_episode(tmp_path / "nope")


FORM = Path(__file__).resolve().parent / "corpus" / "episodes" / "form-country-canada"


def test_a_run_episode_replays_with_its_own_task_setup_and_checker(tmp_path):
    from agent.replay import recorded_task, replay_task_episode

    assert recorded_task(FORM).id == "form-country-canada"
    assert replay_offline(FORM).ok
    report = replay_task_episode(FORM, tmp_path / "again")
    assert report.ok, report.summary()
    assert report.status == "done" and report.verdict is True


def test_screenact_replay_cli_sets_up_a_run_episode(tmp_path, capsys):
    from agent.cli import main

    assert main(["replay", str(FORM), "--out", str(tmp_path / "r")]) == 0
    printed = capsys.readouterr().out
    assert "identical" in printed and "verdict: passed" in printed
    assert load_episode(tmp_path / "r").result["verdict"]["passed"] is True  # recorded in the replay's result.json


def test_a_replayed_verdict_unlike_the_recorded_one_exits_1(tmp_path, capsys):
    import json
    import shutil

    from agent.cli import main

    bent = shutil.copytree(FORM, tmp_path / "bent")
    result = json.loads((bent / "result.json").read_text())
    result["verdict"] = {"passed": False, "reason": "recorded as failed"}
    (bent / "result.json").write_text(json.dumps(result))
    assert main(["replay", str(bent), "--out", str(tmp_path / "r")]) == 1
    printed = capsys.readouterr().out
    assert "the checker's verdict differs" in printed and "verdict: passed" in printed
