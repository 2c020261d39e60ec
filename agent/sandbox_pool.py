"""A warm pool of sandboxes: the next tasks' desktops start while the current ones run.

A sandbox takes ~0.5–0.8 s to start (Xvfb, the window manager, the worker). A run knows the screen
sizes of the tasks still to come, so the pool starts up to ``capacity`` of them ahead, in task order,
on one background thread. A task takes a fresh one of its size (never one another task used) and the
pool starts the next behind it; a size it has none of ready is started on the spot, as without a pool
(or, when the pool is starting one of that size right now, that one is waited for: it is ready sooner).
The pool closes what it holds when the run ends.

A *standing* pool (``keep=True``, the UI's) does not know the next tasks: it keeps ``capacity`` sandboxes
of the sizes last asked for, and starts a new one behind each taken.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)

Size = tuple[int, int]
Opener = Callable[[int, int, bool], Any]

_STARTED_AHEAD: "weakref.WeakSet[Any]" = weakref.WeakSet()


def started_ahead(desktop: Any) -> bool:
    """Whether ``desktop`` came warm out of a pool (started before its task asked for it)."""
    try:
        return desktop in _STARTED_AHEAD
    except TypeError:  # not weak-referenceable: not one of ours
        return False


def default_capacity(parallel: int) -> int:
    """Sandboxes kept ready: one per running task and one more, but at most 2 on a machine of 2 cores
    or fewer (each holds ~180 MiB and its start costs CPU the running tasks need)."""
    cores = os.cpu_count() or 1
    return parallel + 1 if cores > 2 else min(parallel + 1, 2)


class SandboxPool:
    """Sandboxes started ahead for the screen ``sizes`` of the tasks to come, in order (see the module docstring).

    ``open(width, height, isolate)`` is a desktop factory for :func:`agent.pipeline.run_episode`.
    ``opener`` makes one sandbox (default :func:`agent.pipeline.open_sandbox`). ``keep``: a standing pool
    (see the module docstring); ``sizes`` are then the sizes to keep ready before anything is asked for.
    """

    def __init__(self, sizes: Iterable[Size], capacity: int, *, isolate: bool = True,
                 opener: Opener | None = None, keep: bool = False) -> None:
        if opener is None:
            from agent.pipeline import open_sandbox

            opener = open_sandbox
        self.capacity = max(0, capacity)
        self.isolate = isolate
        self.keep = keep
        self._opener = opener
        self._planned: deque[Size] = deque(sizes)
        self._ready: list[Any] = []
        self._starting: Size | None = None  # the size the filler thread is starting now
        self._closed = False
        self._wake = threading.Condition()
        self.taken_warm = 0  # tasks that got a sandbox started ahead
        self.taken_cold = 0  # tasks whose sandbox was started on the spot
        self._starting = self._wanted()  # set before the thread runs: a task asking at once waits for this one
        self._thread = threading.Thread(target=self._fill, name="sandbox-pool", daemon=True)
        self._thread.start()

    def open(self, width: int, height: int, isolate: bool) -> Any:
        """A fresh sandbox of this size: a warm one when the pool has it (or is starting it now), else one
        started now."""
        size = (width, height)
        with self._wake:
            if size in self._planned:
                self._planned.remove(size)
            if self.keep:  # the next run will likely want this size again: start one behind it
                self._planned.append(size)
                while len(self._planned) > self.capacity:
                    self._planned.popleft()
            warm = None
            if isolate == self.isolate:
                self._wake.wait_for(lambda: self._closed or self._starting != size or self._has(size))
                warm = next((sb for sb in self._ready if (sb.width, sb.height) == size), None)
                if warm is not None:
                    self._ready.remove(warm)
            spare = self._surplus() if self.keep else []
            self._wake.notify_all()
        for sb in spare:
            _close_quietly(sb)
        if warm is not None:
            self.taken_warm += 1
            _STARTED_AHEAD.add(warm)
            return warm
        self.taken_cold += 1
        return self._opener(width, height, isolate)

    def _has(self, size: Size) -> bool:
        return any((sb.width, sb.height) == size for sb in self._ready)

    def _surplus(self) -> list[Any]:
        """Ready sandboxes of a size no longer planned, taken out of the pool (to be closed)."""
        wanted = Counter(self._planned)
        spare = []
        for sb in list(self._ready):
            size = (sb.width, sb.height)
            if wanted[size] > 0:
                wanted[size] -= 1
            else:
                self._ready.remove(sb)
                spare.append(sb)
        return spare

    def ready(self) -> list[Size]:
        """Sizes of the sandboxes started and waiting."""
        with self._wake:
            return [(sb.width, sb.height) for sb in self._ready]

    def held(self) -> list[Any]:
        """The sandboxes started and waiting (still the pool's: do not close or use them)."""
        with self._wake:
            return list(self._ready)

    def wait_ready(self, count: int, timeout: float = 30.0) -> bool:
        """Wait until ``count`` sandboxes are ready (or nothing more will start); False on timeout."""
        with self._wake:
            return self._wake.wait_for(
                lambda: len(self._ready) >= min(count, self.capacity) or self._closed
                or (self._starting is None and self._wanted() is None),
                timeout)

    def close(self) -> None:
        """Stop starting sandboxes and close the ones not taken."""
        with self._wake:
            self._closed = True
            spare, self._ready = self._ready, []
            self._wake.notify_all()
        for sb in spare:
            _close_quietly(sb)
        self._thread.join(timeout=60)

    def __enter__(self) -> "SandboxPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the filler thread
    def _wanted(self) -> Size | None:
        """The size to start next: among the next ``capacity`` planned tasks, one not covered yet."""
        have = Counter((sb.width, sb.height) for sb in self._ready)
        if self._starting is not None:
            have[self._starting] += 1
        if sum(have.values()) >= self.capacity:
            return None
        for size in list(self._planned)[:self.capacity]:
            if have[size] > 0:
                have[size] -= 1
            else:
                return size
        return None

    def _fill(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._closed or self._starting is not None or self._wanted() is not None)
                if self._closed:
                    self._starting = None
                    return
                if self._starting is None:
                    self._starting = self._wanted()
                size = self._starting
            try:
                sb = self._opener(size[0], size[1], self.isolate)
            except Exception as exc:  # the task will start its own and report the failure
                log.warning("sandbox pool: starting a %dx%d sandbox failed: %s", *size, exc)
                with self._wake:
                    self._starting = None
                    self._closed = True  # do not retry in a loop; tasks start their own
                    self._wake.notify_all()
                return
            with self._wake:
                self._starting = None
                if self._closed:
                    _close_quietly(sb)
                    return
                self._ready.append(sb)
                spare = self._surplus() if self.keep else []  # the sizes asked for changed meanwhile
                self._wake.notify_all()
            for old in spare:
                _close_quietly(old)


def _close_quietly(sb: Any) -> None:
    try:
        sb.close()
    except Exception:  # best effort: a sandbox reaps itself
        pass


__all__ = ["SandboxPool", "default_capacity", "started_ahead"]
