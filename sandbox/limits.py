"""Per-sandbox resource limits: a memory and pids cgroup where the host offers one, rlimits always.

With a cgroup (v2, or the v1 ``memory`` and ``pids`` hierarchies, both need root or a delegated
subtree) the host notices when the sandbox hit a limit and ends that sandbox with
:class:`ResourceLimitExceeded`. Without one, rlimits still bound every process (data size, file size,
processes per sandbox user) but a process at the limit only sees its own calls fail.
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PREFIX = "screenact-"


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox (bytes and counts)."""

    memory_bytes: int = 4 << 30  # all its processes together, tmpfs contents included
    processes: int = 1024  # processes and threads together
    tmpfs_bytes: int = 1 << 30  # each private tmpfs (/tmp, /home, /run, ...)
    file_bytes: int = 1 << 30  # the largest file a process may write

    def __post_init__(self) -> None:
        for name in ("memory_bytes", "processes", "tmpfs_bytes", "file_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive integer, got {value!r}")
        if self.processes < 16:
            raise ValueError(f"Limits.processes must be at least 16 (the desktop itself needs some), got {self.processes}")
        if self.memory_bytes < 64 << 20:
            raise ValueError(f"Limits.memory_bytes must be at least 64 MiB, got {self.memory_bytes}")


def _own_paths() -> dict[str, str]:
    """controller (or "" for v2) → this process's cgroup path, from /proc/self/cgroup."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            paths[c] = path
    return paths


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _counter(fd: int, key: str) -> int:
    try:
        for line in os.pread(fd, 4096, 0).decode().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


class Cgroup:
    """The cgroup folders holding one sandbox: {"memory": dir, "pids": dir} (one dir for both with v2)."""

    def __init__(self, dirs: dict[str, Path], v2: bool, limits: Limits) -> None:
        self.dirs, self.v2, self.limits = dirs, v2, limits
        self._events: dict[str, int] = {}  # kept open: checked after every call, pread is cheap

    def _open_events(self) -> None:
        memory = self.dirs["memory"] / ("memory.events" if self.v2 else "memory.oom_control")
        self._events = {"memory": os.open(memory, os.O_RDONLY | os.O_CLOEXEC),
                        "pids": os.open(self.dirs["pids"] / "pids.events", os.O_RDONLY | os.O_CLOEXEC)}

    @classmethod
    def create(cls, name: str, limits: Limits) -> "Cgroup | None":
        """A new cgroup with the limits set, or None when this host does not let us make one."""
        try:
            own = _own_paths()
        except OSError:
            return None
        with contextlib.suppress(OSError, ValueError):
            if "" in own and (CGROUP_ROOT / "cgroup.controllers").exists():
                return cls._create_v2(CGROUP_ROOT / own[""].lstrip("/"), name, limits)
            if (CGROUP_ROOT / "memory").is_dir() and (CGROUP_ROOT / "pids").is_dir():
                return cls._create_v1(own, name, limits)
        return None

    @classmethod
    def _create_v2(cls, parent: Path, name: str, limits: Limits) -> "Cgroup":
        enabled = set((parent / "cgroup.subtree_control").read_text().split())
        if not {"memory", "pids"} <= enabled:
            _write(parent / "cgroup.subtree_control", "+memory +pids")  # fails when processes live in parent
        _sweep(parent)
        group = parent / name
        group.mkdir()
        cg = cls({"memory": group, "pids": group}, True, limits)
        try:
            _write(group / "memory.max", str(limits.memory_bytes))
            with contextlib.suppress(OSError):
                _write(group / "memory.swap.max", "0")
            _write(group / "pids.max", str(limits.processes))
            cg._open_events()
        except OSError:
            cg.remove()
            raise
        return cg

    @classmethod
    def _create_v1(cls, own: dict[str, str], name: str, limits: Limits) -> "Cgroup":
        dirs = {c: CGROUP_ROOT / c / own.get(c, "/").lstrip("/") / name for c in ("memory", "pids")}
        for parent in {d.parent for d in dirs.values()}:
            _sweep(parent)
        cg = cls({}, False, limits)
        try:
            for c, d in dirs.items():
                d.mkdir()
                cg.dirs[c] = d
            _write(dirs["memory"] / "memory.limit_in_bytes", str(limits.memory_bytes))
            with contextlib.suppress(OSError):
                _write(dirs["memory"] / "memory.memsw.limit_in_bytes", str(limits.memory_bytes))
            _write(dirs["pids"] / "pids.max", str(limits.processes))
            cg._open_events()
        except OSError:
            cg.remove()
            raise
        return cg

    def procs_files(self) -> list[str]:
        """The files a new process writes "0" into to join (in the child, before exec)."""
        return sorted({str(d / "cgroup.procs") for d in self.dirs.values()})

    def exceeded(self) -> str | None:
        """What limit the sandbox hit, or None."""
        if not self._events:  # removed
            return None
        if _counter(self._events["memory"], "oom_kill") > 0:
            return (f"the sandbox ran out of memory (limit {self.limits.memory_bytes >> 20} MiB) "
                    "and the kernel killed one of its processes")
        if _counter(self._events["pids"], "max") > 0:
            return f"the sandbox hit its process limit ({self.limits.processes} processes and threads)"
        return None

    def remove(self, timeout: float = 3.0) -> None:
        """Remove the folders once the processes in them are gone (they die with the sandbox's PID namespace)."""
        for fd in self._events.values():
            os.close(fd)
        self._events = {}
        deadline = time.monotonic() + timeout
        for d in set(self.dirs.values()):
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.01)


def cgroup_name(sandbox_id: str) -> str:
    """Named after the host process too, so a later run can remove what a killed one left behind."""
    return f"{PREFIX}{os.getpid()}-{sandbox_id}"


def _sweep(parent: Path) -> None:
    """Remove empty cgroups left by screenact processes that no longer exist."""
    with contextlib.suppress(OSError):
        for d in parent.glob(f"{PREFIX}*"):
            pid = d.name[len(PREFIX):].split("-", 1)[0]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                with contextlib.suppress(OSError):
                    d.rmdir()


def set_rlimits(limits: Limits, *, memory: bool, processes: bool) -> None:
    """In the child before exec: file size always; data size (heap and private writable mappings, not the
    address space that browsers reserve) when no cgroup bounds memory; processes
    (counted per user namespace, so per sandbox) when isolated, above the cgroup's limit so that the
    cgroup, which the host can observe, is hit first."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    if memory:
        resource.setrlimit(resource.RLIMIT_DATA, (limits.memory_bytes, limits.memory_bytes))
    if processes:
        n = limits.processes * 2
        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
