"""The pytest plugin (entry point pytest11): ``pytest --screenact-episodes DIR`` replays every recorded episode
under DIR as one test item named by its task; a diverging episode fails with its first diverging step."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

pytest_plugins = ["pytester"]

CORPUS = Path(__file__).resolve().parent / "corpus" / "episodes"


def bent(folder: Path) -> None:
    """Make the first recorded reply parse to another click than the recorded one."""
    lines = (folder / "steps.jsonl").read_text().splitlines()
    step = json.loads(lines[0])
    step["reply"] = step["reply"].replace("pyautogui.click(x=0.", "pyautogui.click(x=0.0")
    lines[0] = json.dumps(step, ensure_ascii=False)
    (folder / "steps.jsonl").write_text("\n".join(lines) + "\n")


def test_a_folder_of_episodes_replays_as_a_test_suite(pytester):
    library = pytester.path / "episodes"
    shutil.copytree(CORPUS / "form-country-canada", library / "form")  # a run episode: replayed live, judged
    shutil.copytree(CORPUS / "xterm-write", library / "terminal" / "xterm")  # no task: offline only
    shutil.copytree(CORPUS / "xterm-write", library / "terminal" / "bent")
    bent(library / "terminal" / "bent")
    result = pytester.runpytest_subprocess("--screenact-episodes", str(library), "-v",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*::form-country-canada PASSED*", "*::xterm-write FAILED*",  # bent/ sorts first
                                 "*::xterm-write?terminal/xterm? PASSED*"])
    result.stdout.fnmatch_lines(["*step 1: parsed actions differ*"])
    offline = pytester.runpytest_subprocess("--screenact-episodes", str(library), "--screenact-offline",
                                            "-m", "screenact", "-k", "canada", "-p", "no:cacheprovider")
    offline.assert_outcomes(passed=1, deselected=2)


def test_a_missing_folder_is_a_usage_error(pytester):
    result = pytester.runpytest_subprocess("--screenact-episodes", str(pytester.path / "nope"),
                                           "-p", "no:cacheprovider")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--screenact-episodes:*nope is not a folder*"])
