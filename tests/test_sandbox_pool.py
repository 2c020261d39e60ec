"""The warm sandbox pool with real sandboxes: started ahead in task order, each taken once, the rest closed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from agent.runner import RunSettings, run_tasks
from agent.sandbox_pool import SandboxPool, default_capacity, started_ahead
from sandbox import sandbox_processes
from tasks import SUITE_DIR, load_task


def test_pool_starts_the_next_sizes_ahead_and_hands_each_sandbox_out_once():
    sizes = [(640, 480), (800, 600), (640, 480)]
    with SandboxPool(sizes, capacity=2, isolate=True) as pool:
        assert pool.wait_ready(2)
        assert sorted(pool.ready()) == [(640, 480), (800, 600)]  # the next two tasks' sizes, not three
        first = pool.open(800, 600, True)
        assert (first.width, first.height) == (800, 600) and pool.taken_warm == 1
        assert first.screenshot().width == 800
        assert pool.wait_ready(2)  # one more started behind the one taken: the third task's size
        assert sorted(pool.ready()) == [(640, 480), (640, 480)]
        second, third = pool.open(640, 480, True), pool.open(640, 480, True)
        assert len({id(first), id(second), id(third)}) == 3 and pool.taken_warm == 3
        other = pool.open(700, 500, True)  # a size nobody planned: started on the spot
        assert (other.width, other.height) == (700, 500) and pool.taken_cold == 1
        for sb in (first, second, third, other):
            sb.close()
        assert pool.ready() == []


def test_closing_the_pool_closes_the_sandboxes_not_taken():
    pool = SandboxPool([(640, 480)] * 3, capacity=2, isolate=True)
    assert pool.wait_ready(2)
    ids = [sb.id for sb in pool.held()]
    assert all(sandbox_processes(i) for i in ids)
    pool.close()
    assert not any(sandbox_processes(i) for i in ids)


def test_a_run_takes_its_sandboxes_from_the_pool(tmp_path: Path):
    tasks = [load_task(SUITE_DIR / f"{name}.yaml") for name in ("calc-keyboard", "calc-infeasible-sqrt")]
    summary = run_tasks(tasks, RunSettings(mode="scripted", out=tmp_path, parallel=1, pool=2),
                        progress=lambda line: None)
    assert [t.status for t in summary.tasks] == ["passed", "passed"]
    resets = [json.loads((tmp_path / t.id / "result.json").read_text())["reset"] for t in summary.tasks]
    assert all(r["from_pool"] for r in resets)  # recorded per episode, with the reset's parts
    assert all(r["desktop_s"] >= 0 and r["setup_s"] > 0 for r in resets)


def test_default_pool_is_small():
    assert 1 <= default_capacity(1) <= 2 and default_capacity(2) <= 3


def test_a_standing_pool_keeps_the_size_last_asked_for_and_a_task_waits_for_the_one_starting():
    """The UI's pool: it knows no next task, so it keeps one of the size last asked for; a run asking while
    that one is still starting gets it (not a second one started cold)."""
    with SandboxPool([(640, 480)], capacity=1, isolate=True, keep=True) as pool:
        first = pool.open(640, 480, True)  # asked at once: the pool is still starting it
        assert pool.taken_warm == 1 and pool.taken_cold == 0 and started_ahead(first)
        first.close()
        assert pool.wait_ready(1) and pool.ready() == [(640, 480)]  # one more behind the one taken
        other = pool.open(800, 600, True)  # another size: started now, and kept from now on
        assert pool.taken_cold == 1 and not started_ahead(other)
        other.close()
        assert pool.wait_ready(1)
        deadline = time.monotonic() + 30
        while pool.ready() != [(800, 600)] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pool.ready() == [(800, 600)]  # the 640×480 one was closed, not kept beside it


@pytest.mark.parametrize("command", [["run", "suite", "--grounder", "ocr"], ["demo"], ["ui"]])
@pytest.mark.parametrize("value, says", [("-1", "must be 0 or more, got -1"), ("two", "expected a whole number, got 'two'")])
def test_a_bad_pool_flag_is_refused_with_its_value(command, value, says, capsys):
    from agent.cli import main

    with pytest.raises(SystemExit) as exc:
        main([*command, "--pool", value])
    assert exc.value.code == 2
    assert f"argument --pool: {says}" in capsys.readouterr().err
