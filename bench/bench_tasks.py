"""Task benchmark: reset time (sandbox + setup + first frame) cold and from a warm pool, memory per sandbox
(with its app, and idle in the pool), and suite wall time at --parallel 1, 2, 4, 8 with and without the warm
pool (scripted mode, embedded OCR grounder). OSWorld's reference harness sleeps 60 s after
every reset; that is the number to compare the reset time with.
Run: python bench/bench_tasks.py [--tasks N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.runner import RunSettings, run_tasks  # noqa: E402
from agent.sandbox_pool import SandboxPool, default_capacity  # noqa: E402
from bench._machine import machine  # noqa: E402
from sandbox import Sandbox, sandbox_processes  # noqa: E402
from tasks import SUITE_DIR, load_suite, run_setup  # noqa: E402


def pss_mib(pids: list[int]) -> float:
    """Proportional set size of the processes (shared pages split fairly), in MiB."""
    total = 0
    for pid in pids:
        try:
            for line in open(f"/proc/{pid}/smaps_rollup"):
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=8, help="tasks in the parallel-scaling run (default 8)")
    ap.add_argument("--parallel", type=int, nargs="+", default=[1, 2, 4], help="--parallel values (default 1 2 4)")
    args = ap.parse_args()
    n = args.tasks
    print(f"# task benchmark — {machine()}; load avg {os.getloadavg()[0]:.1f}")
    suite = load_suite(SUITE_DIR)
    one_per_app: dict[str, object] = {}
    for task in suite:
        app = task.id.split("-")[0]
        if app not in one_per_app and not task.infeasible:
            one_per_app[app] = task
    print("\n## reset: sandbox + setup + first frame (median of 3)")
    mems = []
    for app, task in one_per_app.items():
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            with Sandbox(task.screen.width, task.screen.height) as sb:
                run_setup(task, sb)
                sb.screenshot()
                times.append(time.perf_counter() - t0)
                mems.append(pss_mib(list(sandbox_processes(sb.id))))
        print(f"{task.id:28} {statistics.median(times) * 1000:7.0f} ms   target <= 1500 ms (OSWorld: 60 s sleep)")
    print(f"\nmemory per sandbox with its app (PSS of all its processes): median {statistics.median(mems):.0f} MiB, "
          f"max {max(mems):.0f} MiB")
    warm_resets()
    scripted = [t for t in suite if t.steps and not t.id.startswith("calc")][:n]
    print(f"\n## suite wall time, {len(scripted)} tasks, scripted with the OCR grounder")
    base = None
    for parallel in args.parallel:
        for pool in (0, None):
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                summary = run_tasks(scripted, RunSettings(mode="scripted", out=Path(tmp), parallel=parallel,
                                                          grounder="ocr", pool=pool), progress=lambda line: None)
                wall = time.perf_counter() - t0
            base = base or wall
            label = "no pool" if pool == 0 else f"pool {default_capacity(parallel)}"
            print(f"--parallel {parallel}, {label:7}: {wall:6.1f} s  ({summary.passed}/{len(scripted)} passed)  "
                  f"speed-up {base / wall:.2f}x")


def _reset(open_desktop: Any, task: Any) -> tuple[Any, list[float]]:
    """A task's reset: (the desktop, [getting it, its setup, its first frame] in seconds)."""
    t0 = time.perf_counter()
    sb = open_desktop()
    t1 = time.perf_counter()
    run_setup(task, sb)
    t2 = time.perf_counter()
    sb.screenshot()
    return sb, [t1 - t0, t2 - t1, time.perf_counter() - t2]


def warm_resets(rounds: int = 5) -> None:
    """Reset from a warm pool (the sandbox started ahead; setup + first frame remain) beside a cold one,
    its parts, and the memory an idle pooled sandbox holds."""
    print(f"\n## reset: cold sandbox vs one from a warm pool (sandbox ready + setup + first frame; median of {rounds})")
    print("| task | no pool (cold) | warm pool | its parts: sandbox ready / setup / first frame | warm / cold "
          "| idle pooled sandbox (PSS) |")
    print("|---|---|---|---|---|---|")
    warm_all = []
    for task in [t for t in load_suite(SUITE_DIR) if t.id in ("calc-multiply", "form-newsletter", "todo-add-item")]:
        size = (task.screen.width, task.screen.height)
        cold, warm, idle = [], [], []
        with SandboxPool([size] * rounds, capacity=1) as pool:
            for _ in range(rounds):
                sb, parts = _reset(lambda: Sandbox(*size), task)
                sb.close()
                cold.append(parts)
                pool.wait_ready(1)
                idle += [pss_mib(list(sandbox_processes(sb.id))) for sb in pool.held()]
                sb, parts = _reset(lambda: pool.open(*size, True), task)
                sb.close()
                warm.append(parts)
        c, w = statistics.median(map(sum, cold)), statistics.median(map(sum, warm))
        warm_all += [sum(p) for p in warm]
        split = " / ".join(f"{statistics.median(p[k] for p in warm) * 1000:.0f}" for k in range(3))
        print(f"| {task.id} | {c * 1000:.0f} ms | {w * 1000:.0f} ms | {split} ms | {w / c:.2f} "
              f"| {statistics.median(idle):.0f} MiB |")
    print(f"| all | | **{statistics.median(warm_all) * 1000:.0f} ms** (target ≤ 300 ms) | | | |")
    print(f"load avg {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
