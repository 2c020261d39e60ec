"""The UI's warm desktops: agent runs take a sandbox started ahead (``screenact ui --pool N``, default 1).

The UI does not know the next run's task, so its pool is a standing one (:class:`agent.sandbox_pool.SandboxPool`
with ``keep=True``): it keeps N desktops of the sizes last asked for (at first the default desktop size
of typed instructions), each used by one run only, and starts a new one behind each taken. The pool
starts with the server and closes at its shutdown, after the runs have stopped.
"""

from __future__ import annotations

import threading
from typing import Any

from agent.pipeline import open_sandbox
from agent.sandbox_pool import SandboxPool

_pool: SandboxPool | None = None
_lock = threading.Lock()


def start(size: tuple[int, int], capacity: int, isolate: bool) -> SandboxPool | None:
    """Start the UI's pool of ``capacity`` desktops of ``size`` (none for 0); the one already started, if any."""
    global _pool
    with _lock:
        if _pool is None and capacity > 0:
            _pool = SandboxPool([size] * capacity, capacity, isolate=isolate, keep=True)
        return _pool


def open_desktop(width: int, height: int, isolate: bool) -> Any:
    """A fresh desktop for one agent run: from the pool when it has one of this size, else started now."""
    pool = _pool
    return pool.open(width, height, isolate) if pool is not None else open_sandbox(width, height, isolate)


def close() -> None:
    """Close the desktops not taken (a server shutdown, after the runs stopped)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.close()


__all__ = ["close", "open_desktop", "start"]
