"""The warm sandbox pool with real sandboxes: started ahead in task order, each taken once, the rest closed."""

from __future__ import annotations

from pathlib import Path

from agent.runner import RunSettings, run_tasks
from agent.sandbox_pool import SandboxPool, default_capacity
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


def test_default_pool_is_small():
    assert 1 <= default_capacity(1) <= 2 and default_capacity(2) <= 3
