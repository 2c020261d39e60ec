"""``screenact export``: episodes of a real run (real sandbox, real stub model server) become a fine-tuning
set, and reading it back gives the same frames, prompts and targets; canonical targets are re-rendered from
the validated actions and parse back to them."""

from __future__ import annotations

import json
import shutil

from agent.episode import load_episode
from agent.profiles import get_profile
from tests.stub_openai import StubOpenAI
from tests.test_cli_checks import screenact
from tests.test_cli_results import GIVE_UP, kimi
from tests.test_osworld_files import OS_DIR
from tools.actions import Fail, Key

OPEN_TERMINAL = kimi("Open a terminal.", "pyautogui.hotkey('ctrl', 'alt', 't')")


def read_set(folder):
    return [json.loads(line) for line in (folder / "data.jsonl").read_text().splitlines()]


def test_export_round_trip_only_passed_and_canonical_targets(tmp_path):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    for name in ("7688b85f-87a4-4e4a-b2f8-f3d6c3f29b82", "b3d4a89c-53f2-4d6b-8b6a-541fb5d205fa"):
        shutil.copy(OS_DIR / f"{name}.json", tasks)
    run = tmp_path / "run"
    # 7688b85f (move a file): opens a terminal, then gives up -> failed; b3d4a89c (infeasible): gives up -> passed
    with StubOpenAI([OPEN_TERMINAL, GIVE_UP, GIVE_UP]) as stub:
        proc = screenact("run", tasks, "--base-url", stub.base_url, "--out", run)
    assert proc.returncode == 1, proc.stderr

    proc = screenact("export", run, "--out", tmp_path / "all")
    assert proc.returncode == 0, proc.stderr
    samples = read_set(tmp_path / "all")
    episodes = [load_episode(run / name) for name in sorted(p.name for p in run.iterdir() if p.is_dir())]
    steps = [(ep, s) for ep in episodes for s in ep.steps]
    assert len(samples) == len(steps) == 3
    for sample, (ep, step) in zip(samples, steps):
        assert sample["messages"][-1] == {"role": "assistant", "content": step.reply}
        recorded = step.request.messages
        assert [m["role"] for m in sample["messages"][:-1]] == [m["role"] for m in recorded]
        frames = [p["image_url"]["url"] for m in recorded if isinstance(m["content"], list)
                  for p in m["content"] if p.get("type") == "image_url"]
        assert len(sample["images"]) == len(frames) >= 1
        for rel, frame in zip(sample["images"], frames):  # the very frames the model saw
            assert (tmp_path / "all" / rel).read_bytes() == (ep.folder / frame).read_bytes()
        slots = sum(p == {"type": "image"} for m in sample["messages"] if isinstance(m["content"], list)
                    for p in m["content"])
        assert slots == len(sample["images"])

    proc = screenact("export", run, "--out", tmp_path / "passed", "--only", "passed", "--target", "canonical")
    assert proc.returncode == 0, proc.stderr
    (only,) = read_set(tmp_path / "passed")
    assert "Bluetooth" in json.dumps(only["messages"])
    profile = get_profile("kimi-vl-thinking")
    parsed, usable = profile.read(only["messages"][-1]["content"])
    assert usable and parsed.actions == [Fail()]

    proc = screenact("export", run, "--out", tmp_path / "canon", "--target", "canonical")
    first = read_set(tmp_path / "canon")[0]["messages"][-1]["content"]
    parsed, usable = profile.read(first)
    assert usable and parsed.actions == [Key(keys=["ctrl", "alt", "t"])]
    assert parsed.thought == "Open a terminal."


def test_export_refuses_what_is_not_an_episode_and_a_profile_it_cannot_render(tmp_path):
    proc = screenact("export", tmp_path, "--out", tmp_path / "o")
    assert proc.returncode == 2 and "neither a run folder" in proc.stderr
    proc = screenact("export", tmp_path, "--out", tmp_path / "o", "--profile", "nope")
    assert proc.returncode == 2 and "unknown" in proc.stderr


def test_a_foreign_episode_cannot_make_export_copy_files_from_outside_it(tmp_path):
    episode = tmp_path / "ep"
    episode.mkdir()
    (tmp_path / "secret.png").write_bytes(b"\x89PNG\r\n\x1a\nsecret")
    step = {"v": 2, "index": 1, "kind": "model", "frame": "../secret.png", "reply": GIVE_UP,
            "request": {"messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "../secret.png"}}, {"type": "text", "text": "go"}]}]}}
    (episode / "steps.jsonl").write_text(json.dumps(step) + "\n")
    (episode / "task.json").write_text(json.dumps({"id": "ep", "instruction": "go", "profile": "kimi-vl-thinking"}))
    proc = screenact("export", episode, "--out", tmp_path / "o")
    assert proc.returncode == 0, proc.stderr
    assert "left out: ep step 1" in proc.stderr and "not a frame of the episode" in proc.stderr
    assert (tmp_path / "o" / "data.jsonl").read_text() == ""
    assert not (tmp_path / "o" / "images").exists()
