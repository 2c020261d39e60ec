"""Replaying scripted episodes: offline checks the recorded grounded actions, live replays them at their recorded
screen points (the task's own setup and checker), and ``assert_replays`` does both. Real sandboxes, the real
OCR grounder for the recording, the real ``screenact`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.replay import assert_replays
from tests.test_cli_checks import FORM, screenact


@pytest.fixture(scope="module")
def scripted_episode(tmp_path_factory) -> Path:
    """One scripted run, recorded. --grounder alone means scripted mode, and an exported OPENAI_BASE_URL (as the
    README suggests) does not switch the grounder: it stays ocr, and says so."""
    out = tmp_path_factory.mktemp("scripted") / "run"
    proc = screenact("run", FORM, "--grounder", "ocr", "--out", out, env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert proc.returncode == 0, proc.stderr
    assert "grounder: ocr" in proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["run"]["mode"] == "scripted" and results["run"]["grounder"] == "ocr"
    return out / "form-country-canada"


def test_grounder_implies_scripted_mode_and_an_exported_server_does_not_switch_it(scripted_episode):
    assert json.loads((scripted_episode / "task.json").read_text())["grounder"] == "ocr"


def test_offline_replay_checks_the_recorded_grounded_actions(scripted_episode):
    proc = screenact("replay", scripted_episode, "--offline")
    assert proc.returncode == 0, proc.stderr
    assert "2 steps checked, identical" in proc.stdout


def test_offline_replay_finds_an_action_away_from_its_grounding_or_off_screen(scripted_episode, tmp_path):
    tampered = tmp_path / "ep"
    tampered.mkdir()
    for f in scripted_episode.iterdir():
        if f.is_file():
            (tampered / f.name).write_bytes(f.read_bytes())
    lines = [json.loads(line) for line in (tampered / "steps.jsonl").read_text().splitlines()]
    lines[0]["executed"][0]["action"]["x"] = 5000.0  # off the 1280-wide screen, and not where it was grounded
    (tampered / "steps.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    proc = screenact("replay", tampered, "--offline")
    assert proc.returncode == 1
    assert "step 1: a recorded action does not validate" in proc.stdout
    assert "step 1: an action is not at its recorded grounding" in proc.stdout


def test_live_replay_runs_the_recorded_points_with_the_tasks_setup_and_checker(scripted_episode, tmp_path):
    proc = screenact("replay", scripted_episode, "--out", tmp_path / "again")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 steps replayed, identical" in proc.stdout and "verdict: passed" in proc.stdout
    task = json.loads((tmp_path / "again" / "task.json").read_text())
    assert task["mode"] == "scripted" and task["grounder"] == "recorded:ocr"


def test_assert_replays_replays_a_scripted_episode_offline_and_live(scripted_episode, tmp_path):
    from sandbox import Sandbox

    report = assert_replays(scripted_episode, lambda w, h: Sandbox(w, h), tmp_path)
    assert report.ok and report.steps == 2 and report.status == "done"
