"""``screenact export``: episodes of a real run (real sandbox, real stub model server) become a fine-tuning
set, and reading it back gives the same frames, prompts and targets; canonical targets are re-rendered from
the validated actions and parse back to them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from datasets import Image, Sequence, load_from_disk
from PIL import Image as PILImage

from agent.episode import load_episode
from agent.errors import UsageError
from agent.export import export, target_profile
from agent.profiles import PROFILES, get_profile
from agent.prompts import build_agent_messages
from tests.stub_openai import StubOpenAI
from tests.test_cli_checks import ROOT, screenact
from tests.test_cli_results import GIVE_UP, kimi
from tests.test_osworld_files import OS_DIR
from tools.actions import Click, Done, Drag, Fail, Key, Move, Scroll, TypeText, Wait
from tools.frame import Frame
from tools.render import Unrenderable

OPEN_TERMINAL = kimi("Open a terminal.", "pyautogui.hotkey('ctrl', 'alt', 't')")


def read_set(folder):
    return [json.loads(line) for line in (folder / "data.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One real run: 7688b85f (move a file) opens a terminal, then gives up -> failed; b3d4a89c (infeasible)
    gives up -> passed."""
    tmp = tmp_path_factory.mktemp("export-run")
    tasks = tmp / "tasks"
    tasks.mkdir()
    for name in ("7688b85f-87a4-4e4a-b2f8-f3d6c3f29b82", "b3d4a89c-53f2-4d6b-8b6a-541fb5d205fa"):
        shutil.copy(OS_DIR / f"{name}.json", tasks)
    with StubOpenAI([OPEN_TERMINAL, GIVE_UP, GIVE_UP]) as stub:
        proc = screenact("run", tasks, "--base-url", stub.base_url, "--out", tmp / "run")
    assert proc.returncode == 1, proc.stderr
    return tmp / "run"


def model_steps(run):
    episodes = [load_episode(run / name) for name in sorted(p.name for p in run.iterdir() if p.is_dir())]
    return [(ep, s) for ep in episodes for s in ep.steps]


def test_export_round_trip_only_passed_and_canonical_targets(run, tmp_path):
    proc = screenact("export", run, "--out", tmp_path / "all")
    assert proc.returncode == 0, proc.stderr
    samples = read_set(tmp_path / "all")
    steps = model_steps(run)
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


def test_export_as_a_hugging_face_dataset_loads_back_with_the_same_frames_and_targets(run, tmp_path):
    export([run], tmp_path / "jsonl")  # the same samples as JSONL, to compare with
    proc = screenact("export", run, "--out", tmp_path / "hf", "--format", "hf")
    assert proc.returncode == 0, proc.stderr
    dataset = load_from_disk(str(tmp_path / "hf")).cast_column("images", Sequence(Image(decode=False)))
    samples = read_set(tmp_path / "jsonl")
    assert len(dataset) == len(samples) == 3
    for row, sample in zip(dataset, samples):
        assert [i["bytes"] for i in row["images"]] == [(tmp_path / "jsonl" / r).read_bytes() for r in sample["images"]]
        assert row["messages"][-1] == {"role": "assistant", "content": [{"type": "text", "text": sample["messages"][-1]["content"]}]}
        slots = [p for m in row["messages"] for p in m["content"] if p["type"] == "image"]
        assert len(slots) == len(row["images"]) and all(p["text"] is None for p in slots)


def test_format_hf_without_the_datasets_package_names_the_extra(run, tmp_path):
    blocker = tmp_path / "no-datasets" / "datasets"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('datasets is not installed here')\n")
    env = {**os.environ, "PYTHONPATH": f"{blocker.parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "export", str(run), "--out", str(tmp_path / "o"),
                           "--format", "hf"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and "pip install 'screenact[hf]'" in proc.stderr, proc.stderr


def without_reasons(actions):
    """UI-TARS says fail as call_user(), which reads back with a reason of its own."""
    return [a.model_copy(update={"reason": None}) if isinstance(a, Fail) else a for a in actions]


AGENT_PROFILES = [n for n, p in PROFILES.items() if not p.grounding_only]


@pytest.mark.parametrize("name", [n for n in AGENT_PROFILES if n != "kimi-vl-thinking"])
def test_profile_re_renders_prompt_images_history_and_target(run, tmp_path, name):
    summary = export([run], tmp_path / name, target="canonical", profile_name=name)  # `export --profile NAME`
    assert (summary.samples, summary.left_out) == (3, [])
    profile = get_profile(name)
    samples, steps = read_set(tmp_path / name), model_steps(run)
    assert len(samples) == len(steps) == 3
    for sample, (ep, step) in zip(samples, steps):
        frame = Frame.open(ep.folder / step.frame)
        image = profile.prepare(frame)
        # the images are what this family is sent (its image rule), not the recorded frames
        assert (tmp_path / name / sample["images"][-1]).read_bytes() == image.data
        with PILImage.open(tmp_path / name / sample["images"][-1]) as img:
            assert img.size == image.sent_size
        # the prompt is this profile's own
        expected = build_agent_messages(profile, ep.task["instruction"], [], image, frame.size)
        assert sample["messages"][0]["content"] == expected[0]["content"]
        # the target reads back, in this profile's format and space, to what ran on the screen
        parsed, usable = profile.read(sample["messages"][-1]["content"])
        assert usable, parsed.errors
        ran = [e.action for e in step.executed if e.ok] or [a for a in step.parsed]
        assert without_reasons([image.transform.action_to_screen(a) for a in parsed.actions]) == without_reasons(ran)
    # the history replays the earlier step as this family writes it (the terminal opened in step 1)
    replayed = [m["content"] for m in samples[1]["messages"][1:-1] if m["role"] == "assistant"]
    opened = profile.render_reply([Key(keys=["ctrl", "alt", "t"])], image.transform, line="Open a terminal.",
                                  thought="Open a terminal.")
    assert replayed and profile.split(opened)[1] in replayed[-1], replayed


def test_export_refuses_what_is_not_an_episode_and_a_profile_it_cannot_render(tmp_path):
    proc = screenact("export", tmp_path, "--out", tmp_path / "o")
    assert proc.returncode == 2 and "neither a run folder" in proc.stderr
    proc = screenact("export", tmp_path, "--out", tmp_path / "o", "--profile", "nope")
    assert proc.returncode == 2 and "unknown" in proc.stderr
    with pytest.raises(UsageError, match="grounding-only"):
        target_profile("qwen-thousand", "canonical")
    with pytest.raises(UsageError, match="use --target canonical"):
        target_profile("ui-tars-1.5", "raw")


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
    # re-rendered for another family, the frame is not opened either
    summary = export([episode], tmp_path / "p", target="canonical", profile_name="ui-tars-1.5")
    assert summary.samples == 0 and summary.left_out == ["ep step 1: its frame is missing"]


ACTIONS = [Click(x=100, y=200), Click(x=1919, y=1079, clicks=2), Click(x=5, y=7, button="right"), Move(x=640, y=480),
           Key(keys=["ctrl", "alt", "t"]), TypeText(text="it's \"x\" \\ ok 你好"), Scroll(dy=-5, x=100, y=100),
           Wait(seconds=1.0), Done(answer="42"), Done(), Fail()]


@pytest.mark.parametrize("name", AGENT_PROFILES)
def test_canonical_targets_read_back_to_the_same_actions_in_every_profiles_format(name):
    profile = get_profile(name)
    image = profile.prepare(Frame.from_image(PILImage.new("RGB", (1920, 1080))))
    slack = 0 if profile.space != "thousand" else 2  # a 0-1000 grid cannot name every one of 1920 pixels
    # WAIT and UI-TARS's wait() last as long as the prompt says; only Qwen's wait names its seconds
    for action in ACTIONS + [Drag(x1=10, y1=20, x2=300, y2=400)]:
        try:
            text = profile.render_reply([action], image.transform, line="Do it.", thought="Because.")
        except Unrenderable:
            continue  # (none of these today; a format without a form for an action says so)
        parsed, usable = profile.read(text)
        assert usable, (action, text, parsed.errors)
        back = [image.transform.action_to_screen(a) for a in parsed.actions if not isinstance(a, Move)
                or isinstance(action, Move)]  # pyautogui draws a drag as moveTo + dragTo
        assert len(back) == 1 and back[0].type == action.type, (action, text, back)
        got, want = back[0].model_dump(), action.model_dump()
        for key, value in want.items():
            if key in ("x", "y", "x1", "y1", "x2", "y2") and value is not None:
                assert abs(got[key] - value) <= slack, (action, text, back)
            elif not (isinstance(action, Fail) and key == "reason") and not (isinstance(action, Wait) and
                                                                              profile.fmt != "qwen-tool"):
                assert got[key] == value, (action, text, back)
