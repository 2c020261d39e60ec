"""Ray benchmark: eight scripted tasks on a two-node Ray cluster of this machine against the local pool.

Both runs go through the real CLI (``screenact run … --grounder ocr``), at the same parallelism (2: the
cluster's two nodes have one sandbox each), one after the other in this one process, on the same tasks.
Wall time is the run's own (``results.json``: first task submitted → last result written), so the
cluster's start and the driver's connect are not in it; they are printed apart. Ray's overhead per task
is the extra wall time × parallelism / tasks: the time each of the two slots spent on something other
than the tasks (shipping the task, starting a worker and a sandbox without the local warm pool,
sending the episode back). Also measured: a call that does nothing, mapped over the cluster.
Run: python bench/bench_ray.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._machine import machine  # noqa: E402
from tests.ray_cluster import LocalCluster, driver_env  # noqa: E402

TASKS = ["xterm-mkdir", "xterm-zh-copy", "xterm-infeasible-gui", "xterm-unicode", "xterm-echo-file",
         "xterm-count-lines", "calc-keyboard", "todo-add-item"]
PARALLEL = 2

NOOP = """
import sys, time
from agent.cluster import RESOURCE, connect
with connect(sys.argv[1]) as cluster:
    list(cluster.map(int, ["0"] * 20, in_flight=2, resources={RESOURCE: 1}))  # workers started
    t0 = time.perf_counter()
    n = sum(1 for _ in cluster.map(int, ["1"] * 400, in_flight=2, resources={RESOURCE: 1}))
    print((time.perf_counter() - t0) / n)
"""


def run(out: Path, ray: str | None) -> tuple[float, dict]:
    files = [str(ROOT / "tasks" / "suite" / f"{t}.yaml") for t in TASKS]
    argv = [sys.executable, "-m", "agent.cli", "run", *files, "--grounder", "ocr", "--parallel", str(PARALLEL),
            "--out", str(out)] + (["--ray", ray] if ray else [])
    t0 = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=driver_env(), capture_output=True, text=True)
    whole = time.perf_counter() - t0
    if done.returncode not in (0, 1):
        raise SystemExit(f"run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    results = json.loads((out / "results.json").read_text())
    return whole, results


def wall(results: dict) -> float:
    return results["run"]["finished_at"] - results["run"]["started_at"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2,
                        help="local/ray pairs, in turns (default 2; the first Ray round also starts its workers)")
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f} at start")
    t0 = time.perf_counter()
    cluster = LocalCluster().start(nodes=1)
    started = time.perf_counter() - t0
    try:
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                local_whole, local = run(Path(tmp) / f"local{r}", None)
                ray_whole, remote = run(Path(tmp) / f"ray{r}", cluster.address)
                rows.append((wall(local), wall(remote), local_whole, ray_whole, local, remote))
        noop = float(subprocess.run([sys.executable, "-c", NOOP, cluster.address], cwd=ROOT, env=driver_env(),
                                    capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
    finally:
        cluster.stop()
    print(f"cluster: head + 1 node joined with `ray start`, 1 CPU and 1 sandbox each; started in {started:.1f} s")
    print(f"{len(TASKS)} scripted tasks (OCR grounder), {PARALLEL} at once, local pool then Ray, in turns")
    print(f"{'round':>5} {'local wall':>11} {'ray wall':>9} {'ratio':>6} {'overhead/task':>14}   passed (local/ray)")
    for r, (lw, rw, lwhole, rwhole, local, remote) in enumerate(rows):
        over = (rw - lw) * PARALLEL / len(TASKS)
        print(f"{r:>5} {lw:>10.1f}s {rw:>8.1f}s {rw / lw:>6.2f} {over * 1000:>11.0f} ms   "
              f"{local['summary']['passed']}/{remote['summary']['passed']}   (whole command: {lwhole:.1f} s / "
              f"{rwhole:.1f} s, the Ray one with connecting)")
    print(f"a call that does nothing, through cluster.map (2 in flight): {noop * 1000:.2f} ms per call")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
