"""Replays catch regressions: an episode recorded through the stub model on the bundled form app replays against
a changed app (``SCREENACT_TEST_FORM``: a moved dropdown entry, a renamed button, a broken feature) and the change
is reported at the step it shows, with a diff image; the unchanged app replays clean, run after run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agent.cli import main
from agent.replay import assert_replays, replay_task_episode
from sandbox import Sandbox
from tests.stub_openai import StubOpenAI
from tests.test_cli_checks import FORM


def kimi(action: str, code: str) -> str:
    return f"◁think▷…◁/think▷## Action:\n{action}\n\n## Code:\n```python\n{code}\n```"


REPLIES = [kimi("Open the country dropdown showing France.", "pyautogui.click(x=0.1738, y=0.2775)"),
           kimi("Click 'Canada' in the list.", "pyautogui.click(x=0.1383, y=0.4581)"),
           kimi("Finish.", "DONE")]


@pytest.fixture(scope="module")
def episode(tmp_path_factory) -> Path:
    """form-country-canada recorded by `screenact run` in auto mode, the model being the stub server."""
    out = tmp_path_factory.mktemp("recorded") / "run"
    with StubOpenAI(list(REPLIES)) as stub:
        code = main(["run", FORM, "--mode", "auto", "--base-url", stub.base_url, "--model", "Kimi-VL-A3B-Thinking",
                     "--out", str(out)])
    assert code == 0
    return out / "form-country-canada"


def changed_app(switch: str):
    """A desktop factory whose form app runs with the test switch ``switch``."""
    return lambda width, height: Sandbox(width, height, env={"SCREENACT_TEST_FORM": switch})


def test_the_unchanged_app_replays_clean_run_after_run(episode, tmp_path):
    for n in range(2):  # a third clean replay runs in test_assert_replays…, a fourth in test_the_cli_prints…
        report = replay_task_episode(episode, tmp_path / f"again-{n}")
        assert report.ok, report.summary()
        assert [c.similarity for c in report.checks] == [1.0, 1.0, 1.0]
        assert [c.target for c in report.checks] == [True, True, None]
        assert report.verdict is True and report.recorded_verdict is True
        assert not list((tmp_path / f"again-{n}").glob("diff-step-*.png"))


def test_a_moved_entry_is_reported_at_its_step_with_a_diff_image(episode, tmp_path):
    report = replay_task_episode(episode, tmp_path / "moved", open_desktop=changed_app("move"))
    assert not report.ok
    first = report.first
    assert first.step == 2 and first.what == "the screen differs", report.summary()
    assert report.checks[0].screen_same and report.checks[0].target  # the closed dropdown looks the same
    assert not report.checks[1].screen_same and report.checks[1].target is False
    assert any(d.what == "a pointer target shows something else" and d.step == 2 for d in report.divergences)
    assert first.image == tmp_path / "moved" / "diff-step-0002.png"
    with Image.open(first.image) as img:  # recorded | replayed | difference, side by side
        assert img.size[0] > 3 * 1280 and img.size[1] == 800
    assert report.verdict is False  # the click now chose another country


def test_a_renamed_button_is_a_screen_difference_but_not_under_the_pointer(episode, tmp_path):
    report = replay_task_episode(episode, tmp_path / "renamed", open_desktop=changed_app("rename"))
    assert report.first.step == 1 and report.first.what == "the screen differs"
    assert all(c.target in (True, None) for c in report.checks)
    assert report.verdict is True


def test_a_broken_feature_fails_on_the_verdict(episode, tmp_path):
    report = replay_task_episode(episode, tmp_path / "broken", open_desktop=changed_app("broken"))
    assert not report.ok
    assert report.checks[0].screen_same and report.checks[1].screen_same  # it looks the same until it is used
    assert any(d.what == "the checker's verdict differs" for d in report.divergences)
    assert report.verdict is False and report.recorded_verdict is True


def test_assert_replays_names_the_first_diverging_step_and_the_diff_image(episode, tmp_path):
    assert_replays(episode, tmp=tmp_path / "clean")  # a sandbox of the recorded size, the task's setup
    with pytest.raises(AssertionError) as failed:
        assert_replays(episode, changed_app("move"), tmp_path / "moved")
    message = str(failed.value).splitlines()[0]
    assert "replay diverges at step 2: the screen differs" in message
    assert str(tmp_path / "moved" / "replay" / "diff-step-0002.png") in message
    # A large tolerance: the screens count as the same, but the click still lands on another entry.
    with pytest.raises(AssertionError, match="step 2: a pointer target shows something else"):
        assert_replays(episode, changed_app("move"), tmp_path / "masked", tolerance=0.5)


def test_the_cli_prints_each_step_and_both_verdicts_and_exits_1(episode, tmp_path, capsys):
    assert main(["replay", str(episode), "--out", str(tmp_path / "r")]) == 0
    printed = capsys.readouterr().out
    assert "step 2  actions ✓  screen 100.0% ✓  target ✓" in printed
    assert "recorded verdict: passed" in printed and "verdict: passed" in printed
    with pytest.raises(SystemExit) as bad:
        main(["replay", str(episode), "--mask", "10,10,5,5"])
    assert bad.value.code == 2


def test_reground_ocr_heals_the_moved_entry_and_reports_the_offset(episode, tmp_path, capsys):
    from agent.reground import make_grounder

    report = replay_task_episode(episode, tmp_path / "healed", open_desktop=changed_app("move"),
                                 reground=make_grounder("ocr"))
    assert report.ok, report.summary()
    moved = report.checks[1].moved
    assert len(moved) == 1 and moved[0][0] == 0 and moved[0][1] < -40, moved  # Canada went up the list
    assert f"target regrounded, moved by ({moved[0][0]}, {moved[0][1]})" in report.summary()
    assert report.verdict is True
    assert any("the screen differs" in n and "diff-step-0002.png" in n for n in report.notes)


def test_reground_does_not_hide_a_broken_feature(episode, tmp_path):
    with pytest.raises(AssertionError, match="the checker's verdict differs"):
        assert_replays(episode, changed_app("broken"), tmp_path, reground="ocr")


def test_a_caret_is_not_a_difference_a_patch_is_unless_masked(episode):
    from PIL import ImageDraw

    from agent.frame_diff import DiffSettings, compare, gray

    frame = gray(episode / "step-0001.png")
    caret, patch = Image.fromarray(frame.copy()), Image.fromarray(frame.copy())
    ImageDraw.Draw(caret).rectangle((300, 150, 301, 168), fill=0)  # a 2-px text caret in the Name field
    ImageDraw.Draw(patch).rectangle((300, 150, 339, 169), fill=0)  # a 40x20 block: something new on screen
    settings = DiffSettings()
    assert compare(frame, np.asarray(caret), settings)[0].similarity == 1.0
    moved = compare(frame, np.asarray(patch), settings)[0]
    assert not moved.same(settings) and moved.box == (301, 150, 339, 170)  # its edge columns count as a caret's
    assert compare(frame, np.asarray(patch), DiffSettings(masks=((290, 140, 350, 180),)))[0].similarity == 1.0


def test_a_hostile_episode_frame_is_a_divergence_not_a_crash_nor_a_read_outside(episode, tmp_path):
    import json
    import shutil

    bad = shutil.copytree(episode, tmp_path / "bad")
    (bad / "step-0002.png").write_bytes(b"not a png at all")
    lines = [json.loads(line) for line in (bad / "steps.jsonl").read_text().splitlines()]
    lines[0]["frame"] = "../../../../etc/passwd"  # a frame path that leaves the folder is not opened
    (bad / "steps.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = replay_task_episode(bad, tmp_path / "again")
    assert report.checks[0].similarity is None
    assert report.first.step == 2 and report.first.what == "a frame cannot be read"
    assert report.verdict is True
