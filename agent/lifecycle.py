"""Processes the commands start end with them.

Two rules, for every long-running command: a stop signal (SIGTERM from a supervisor, ``docker
stop`` or ``kill``; SIGINT from Ctrl-C) is passed on to what the command started, and the command
waits for it; and nothing it started outlives it, even when it dies by SIGKILL and cannot pass
anything on. The second rule is the kernel's: ``PR_SET_PDEATHSIG`` in the child.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
from typing import Any, Callable, Iterator

PR_SET_PDEATHSIG = 1
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn`` that makes the child receive ``sig`` when the thread that started it dies.

    SIGTERM by default, so a server gets to stop its own children. Call ``Popen`` from a thread that
    lives as long as the child should (the main thread of a command)."""
    parent = os.getpid()

    def arm() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the death signal was armed
            os.kill(os.getpid(), sig)

    return arm


@contextlib.contextmanager
def forwarding(proc_holder: Callable[[], subprocess.Popen | None]) -> Iterator[list[int]]:
    """Within the block, SIGTERM and SIGINT to this process go to the process group of the child that
    ``proc_holder`` returns (started with ``start_new_session=True``) instead of ending this process; a
    second stop signal (an impatient Ctrl-C) sends SIGKILL. Yields the list of signals received, so the
    caller can stop waiting for health and wait for the exit."""
    received: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        received.append(signum)
        proc = proc_holder()
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL if len(received) > 1 else signum)

    previous = {sig: signal.signal(sig, forward) for sig in STOP_SIGNALS}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def stop_and_wait(proc: subprocess.Popen, grace: float = 30.0) -> int:
    """SIGTERM the child's process group, wait up to ``grace`` seconds, then SIGKILL it; its exit code."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)
    return proc.wait()


def sigterm_as_interrupt() -> None:
    """Make SIGTERM end this process the way Ctrl-C does (KeyboardInterrupt), so the ``finally`` blocks
    that close sandboxes and write results run for a supervisor's stop too."""

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
