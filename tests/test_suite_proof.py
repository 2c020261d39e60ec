"""Proof of every task in the bundled suite, each in fresh sandboxes:

* setup, then the reference solution, then the checker → it must pass;
* setup, then nothing at all → the checker must FAIL (a checker that passes when nobody did the
  work is a bug).

Also an imported OSWorld-format task runs the same way, with the work done by a command.
"""

from __future__ import annotations

import pytest

from sandbox import Sandbox
from tasks import SUITE_DIR, check, load_suite, run_setup, run_solution
from tasks.checkers import Infeasible
from tasks.osworld import load_osworld

pytestmark = pytest.mark.slow  # the tasks assume an isolated sandbox; CI has bubblewrap (make installs it)

SUITE = load_suite(SUITE_DIR)


def _sandbox(task) -> Sandbox:
    return Sandbox(task.screen.width, task.screen.height)


@pytest.mark.parametrize("task", SUITE, ids=[t.id for t in SUITE])
def test_doing_nothing_fails_and_the_reference_solution_passes(task):
    """One sandbox per task: the checkers only read (files, app state, a read-only command), so the desktop
    judged after doing nothing is the one the reference solution then works on."""
    with _sandbox(task) as sb:
        run_setup(task, sb)
        verdict = check(task, sb, None, wait=False)  # nothing happened: nothing to wait for
        assert not verdict.passed, f"{task.id}: the checker passes although nobody did anything: {verdict.reason}"
        assert verdict.reason
        final = run_solution(task, sb)
        verdict = check(task, sb, final)
        assert verdict.passed, f"{task.id}: reference solution failed: {verdict.reason}"
        if not isinstance(task.checker, Infeasible):  # the work done, yet giving up fails a feasible task
            verdict = check(task, sb, {"type": "fail", "reason": "too hard"})
            assert not verdict.passed and "feasible" in verdict.reason, (task.id, verdict.reason)


def test_osworld_task_runs_in_a_sandbox():
    from pathlib import Path

    corpus = Path(__file__).resolve().parent / "corpus" / "tasks" / "osworld"
    tasks, _ = load_osworld(corpus / "compare-text-file.json")
    (task,) = tasks
    with Sandbox(1280, 800) as sb:  # the task asks for 1920x1080; the checks do not depend on it
        run_setup(task, sb)
        verdict = check(task, sb, None, wait=False)
        assert not verdict.passed and "does not exist" in verdict.reason
        assert sb.run(["sh", "-c", "printf 'Hello  OSWorld\\n' > /home/user/Desktop/greeting.txt"]).code == 0
        verdict = check(task, sb, None, wait=False)
        assert verdict.passed, verdict.reason
