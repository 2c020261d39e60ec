"""One way to run an episode: a fresh desktop → the task's setup → a driver → the checker → the verdict.

:func:`run_episode` is the only place that does this; ``screenact run`` (``agent.runner``), the UI's
agent mode and live replays all call it. What drives the steps is a :class:`Driver`: the autonomous
:class:`agent.loop.Agent` or the scripted :class:`agent.scripted.ScriptedRunner`. Who watches is a list
of observers (``agent.recorder.Observer``): they hear status changes, every recorded step and the
model's streamed text. The episode folder is always finished, whatever fails; the desktop is always
closed. Cancelling the coroutine ends the episode as ``cancelled`` and returns normally.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agent.episode import RESULT_FILE, EpisodeWriter, update_result
from agent.execute import Desktop
from agent.recorder import Observer, Recorder, RunOutcome, TaskLike
from agent.sandbox_pool import started_ahead

_STAGES = {"start": "the desktop could not be started", "setup": "setup failed", "drive": "the run failed",
           "check": "the checker could not run"}

DesktopFactory = Callable[[int, int, bool], Any]
"""Opens a desktop of (width, height), isolated or not; the result must have ``close()``."""


class Driver(Protocol):
    """What runs an episode's steps on a desktop: ``Agent`` (the model plans) or ``ScriptedRunner``."""

    mode: str

    def describe(self) -> dict[str, Any]:
        """What ``task.json`` records about the driver (mode, profile, model, grounder)."""
        ...

    async def drive(self, task: TaskLike, desktop: Desktop, recorder: Recorder) -> RunOutcome:
        """Run the task's steps, report each to ``recorder``, and always finish the episode."""
        ...


@dataclass
class EpisodeResult:
    """How one episode went. ``verdict`` is the checker's (None when not judged); ``error`` says why the
    episode could not start, be set up or be judged."""

    folder: Path
    outcome: RunOutcome | None = None
    verdict: Any = None
    error: str | None = None
    cancelled: bool = False
    seconds: float = 0.0
    reset: dict[str, Any] | None = None  # from_pool, desktop_s (to get the desktop), setup_s (the task's setup)


def open_sandbox(width: int, height: int, isolate: bool, home: str | None = None) -> Any:
    """The default desktop: a fresh ``sandbox.Sandbox`` (with ``HOME`` at ``home``, when given)."""
    from sandbox import Sandbox

    env = {"HOME": home} if home else None
    return Sandbox(width, height, isolate=isolate, allow_unisolated=not isolate, env=env)


async def run_episode(task: Any, driver: Driver, folder: str | Path, *, observers: Sequence[Observer] = (),
                      judge: bool = True, isolate: bool = True, open_desktop: DesktopFactory = open_sandbox,
                      meta: dict[str, Any] | None = None, record_video: bool = False) -> EpisodeResult:
    """Run ``task`` (a ``tasks.Task``: screen, setup, checker) with ``driver`` into ``folder``.

    ``judge=False`` skips the checker (a typed instruction has none). ``meta`` adds fields to
    ``task.json``. ``record_video`` writes ``episode.webm`` of the whole episode (``agent.video``). Never
    raises for a failure of the desktop, the setup, the model or the checker: they come back in
    ``outcome`` or ``error``, and in the episode folder.
    """
    started = time.monotonic()
    result = EpisodeResult(Path(folder))
    writer = EpisodeWriter(folder, {"id": task.id, "instruction": task.instruction, **driver.describe(),
                                    **(meta or {})})
    recorder = Recorder(writer, observers)
    desktop, stage, video = None, "start", None
    try:
        recorder.status("starting", f"Opening a fresh {task.screen.width}×{task.screen.height} desktop…")
        home = getattr(task, "home", None)
        if home and open_desktop is open_sandbox:
            open_desktop = functools.partial(open_sandbox, home=home)
        t0 = time.monotonic()
        desktop = await _open(open_desktop, task.screen.width, task.screen.height, isolate)
        if record_video:
            from agent.video import EpisodeVideo

            video = await asyncio.to_thread(EpisodeVideo, desktop)
        t1 = time.monotonic()
        recorder.desktop(desktop)
        stage = "setup"
        await _set_up(task, desktop, recorder)
        result.reset = {"from_pool": started_ahead(desktop), "desktop_s": round(t1 - t0, 4),
                        "setup_s": round(time.monotonic() - t1, 4)}
        stage = "drive"
        recorder.status("running", f"The {driver.mode} driver is running.")
        result.outcome = await driver.drive(task, desktop, recorder)
        if (result.folder / RESULT_FILE).exists():  # the driver finished the episode: add how its reset went
            update_result(result.folder, reset=result.reset)
        if judge and result.outcome.status not in ("error", "cancelled"):
            stage = "check"
            recorder.status("checking", "Checking the result…")
            result.verdict = await _judge(task, desktop, result.outcome, result.folder)
    except asyncio.CancelledError:
        result.cancelled = True
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()  # the stop is handled here: closing and reporting must still run
    except Exception as exc:  # the desktop, the setup or the checker: recorded, never raised
        result.error = f"{_STAGES[stage]}: {str(exc).strip() or type(exc).__name__}"
    finally:
        if not (result.folder / RESULT_FILE).exists():
            writer.finish({"status": "cancelled" if result.cancelled else "error", "reason": result.error})
        writer.close()
        if video is not None:
            await asyncio.to_thread(video.save, result.folder)
        if desktop is not None:
            await asyncio.to_thread(_close_quietly, desktop)
        result.seconds = time.monotonic() - started
        recorder.status("ended", _ending(result))
    return result


def _ending(result: EpisodeResult) -> str:
    """How the episode ended, in one line for people."""
    if result.cancelled:
        return "stopped"
    if result.outcome is None:
        return result.error or "did not run"
    verdict = "" if result.verdict is None else f", {'passed' if result.verdict.passed else 'failed'}"
    return f"{result.outcome.status} after {result.outcome.steps} steps{verdict}"


async def _open(factory: DesktopFactory, width: int, height: int, isolate: bool) -> Any:
    """A new desktop, started off the event loop; one that finishes starting after a cancel is closed."""
    starting = asyncio.ensure_future(asyncio.to_thread(factory, width, height, isolate))
    try:
        return await asyncio.shield(starting)
    except asyncio.CancelledError:
        starting.add_done_callback(_close_when_started)
        raise


async def _set_up(task: Any, desktop: Any, recorder: Recorder) -> None:
    setup = getattr(task, "setup", None)
    if setup:
        from tasks import run_setup

        recorder.status("setup", f"Preparing the desktop ({len(setup)} setup steps)…")
        await asyncio.to_thread(run_setup, task, desktop)


async def _judge(task: Any, desktop: Any, outcome: RunOutcome, folder: Path) -> Any:
    from tasks import check, run_setup

    if getattr(task, "before_check", None):
        await asyncio.to_thread(run_setup, task, desktop, task.before_check)

    verdict = await asyncio.to_thread(check, task, desktop, outcome.final_action)
    update_result(folder, verdict={"passed": verdict.passed, "reason": verdict.reason})
    return verdict


def _close_quietly(desktop: Any) -> None:
    try:
        desktop.close()
    except Exception:  # closing is best effort; the sandbox reaps itself
        pass


def _close_when_started(future: "asyncio.Future[Any]") -> None:
    if future.cancelled() or future.exception() is not None:
        return
    threading.Thread(target=_close_quietly, args=(future.result(),), name="close-stopped-sandbox",
                     daemon=True).start()
