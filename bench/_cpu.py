"""CPU time of processes, for the watching and recording benchmarks: a sandbox's (every process tagged
with its id, found from the host) and any set of PIDs, in seconds of CPU."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: set[int] | list[int]) -> dict[int, float]:
    """utime + stime of each live PID, in seconds."""
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / TICK  # fields 14 and 15 of stat(5), after "pid (comm)"
    return out


def sandbox_pids(sandbox_id: str, name: str | None = None) -> set[int]:
    """Host PIDs of a sandbox's processes (only those called ``name``, when given)."""
    from sandbox.procs import sandbox_processes

    return {pid for pid, comm in sandbox_processes(sandbox_id).items() if name is None or comm == name}


def children_pids(root: int) -> set[int]:
    """``root`` and every descendant of it."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    parents[int(entry.name)] = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        kids = [pid for pid, ppid in parents.items() if ppid == parent and pid not in found]
        found.update(kids)
        frontier.extend(kids)
    return found


def cores_used(groups: dict[str, Callable[[], set[int]]], seconds: float) -> dict[str, float]:
    """Average cores each group of processes used over the same ``seconds`` of wall clock (``groups`` maps a
    name to a function listing its PIDs; processes that start or end inside the window count for the part
    they lived through both samples)."""
    before = {name: cpu_seconds(pids()) for name, pids in groups.items()}
    t0 = time.monotonic()
    time.sleep(seconds)
    after = {name: cpu_seconds(pids()) for name, pids in groups.items()}
    wall = time.monotonic() - t0
    return {name: sum(t - before[name].get(p, 0.0) for p, t in after[name].items()) / wall for name in groups}


def load() -> str:
    """The machine's load averages, for the table's heading."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} on {os.cpu_count()} cores"
