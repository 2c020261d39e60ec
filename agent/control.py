"""Pause, take over, resume: a person's hold on a running episode, checked by the driver between steps.

One :class:`RunControl` belongs to one run. Whoever watches it (the UI's buttons, a test, a future MCP
tool) calls :meth:`~RunControl.pause`, :meth:`~RunControl.take_over` and :meth:`~RunControl.resume`
from any thread; the driver calls :func:`hold` before each step. A pause therefore lets the current
step finish (its actions and settling) and then waits. A takeover is a pause during which a person
has the desktop's input (the UI hands the live view control only while :attr:`RunControl.holding`
says so). On resume the driver takes a fresh screenshot, and the next prompt carries the profile's
``takeover_note``. Each hold becomes an :class:`agent.step.InterventionRecord` on the next step, with
the screen before and after it saved beside the step frames; a hold the run is stopped in goes to
``result.json``'s ``interventions`` (no after frame).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from agent.step import InterventionRecord

Kind = Literal["pause", "takeover"]
POLL_S = 0.05  # how often a held driver looks for a resume (cheap; cancelling needs no thread)


@dataclass(frozen=True)
class ControlState:
    """What the control says now: ``wanted`` (pause/takeover asked for, or None) and whether the driver
    is ``holding`` (stopped between steps, waiting for resume)."""

    wanted: Kind | None
    by: str
    holding: bool

    @property
    def word(self) -> str:
        """running, pausing (asked, the step still going), paused or taken over."""
        if self.wanted is None:
            return "running"
        if not self.holding:
            return "pausing"
        return "taken over" if self.wanted == "takeover" else "paused"


class RunControl:
    """The pause/takeover switch of one run; thread-safe, no event loop of its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wanted: Kind | None = None
        self._by = ""
        self._holding = False

    @property
    def state(self) -> ControlState:
        """A consistent snapshot of the switch."""
        with self._lock:
            return ControlState(self._wanted, self._by, self._holding)

    @property
    def holding(self) -> Kind | None:
        """The kind of hold the driver is in now (None while it runs or is still finishing a step)."""
        with self._lock:
            return self._wanted if self._holding else None

    def pause(self, by: str = "a person") -> None:
        """Ask the driver to stop after the current step (a takeover already asked for stays one)."""
        with self._lock:
            if self._wanted is None:
                self._wanted, self._by = "pause", by

    def take_over(self, by: str = "a person") -> None:
        """Ask for a pause in which ``by`` acts on the desktop (a pause in progress becomes a takeover)."""
        with self._lock:
            self._wanted, self._by = "takeover", by

    def resume(self) -> None:
        """Let the driver go on (or withdraw a pause it has not reached yet)."""
        with self._lock:
            self._wanted = None

    async def wait(self) -> tuple[Kind, str]:
        """For the driver: hold until resumed (cancellable); the last kind asked for and by whom."""
        with self._lock:
            self._holding = True
        try:
            kind, by = "pause", ""
            while True:
                with self._lock:
                    if self._wanted is None:
                        return kind, by
                    kind, by = self._wanted, self._by
                await asyncio.sleep(POLL_S)
        finally:
            with self._lock:
                self._holding = False


async def hold(control: RunControl | None, desktop: Any, recorder: Any, index: int) -> tuple[InterventionRecord, Any] | None:
    """If a pause or takeover was asked for, wait until resumed: the record of the hold and a fresh
    frame of the screen (``None`` when nothing was asked). ``index`` is the step that comes next; the
    frames are saved as ``pause-NNNN-before.png`` / ``-after.png``. ``recorder`` (``agent.recorder.Recorder``)
    hears ``paused`` and ``running`` statuses."""
    if control is None or control.state.wanted is None:
        return None
    from agent.execute import capture

    started, t0 = time.time(), time.monotonic()
    before, _ = await capture(desktop)
    before_name = recorder.save_named(f"pause-{index:04d}-before.png", before)
    waiting = asyncio.ensure_future(control.wait())
    await asyncio.sleep(0)  # the control says holding before anyone hears "paused"
    recorder.status("paused", "Paused after the step; waiting for Resume.")
    try:
        kind, by = await waiting
    except asyncio.CancelledError:  # stopped while held: no next step will carry it, the result will
        state = control.state
        recorder.unfinished.append(InterventionRecord(
            kind=state.wanted or "pause", by=state.by or "a person", at=round(started, 3),
            seconds=round(time.monotonic() - t0, 3), frame_before=before_name).model_dump(mode="json"))
        raise
    seconds = time.monotonic() - t0
    after, _ = await capture(desktop)
    after_name = recorder.save_named(f"pause-{index:04d}-after.png", after)
    recorder.status("running", "Resumed." if kind == "pause" else f"Resumed after {by} took over.")
    record = InterventionRecord(kind=kind, by=by or "a person", at=round(started, 3), seconds=round(seconds, 3),
                                frame_before=before_name, frame_after=after_name)
    return record, after


def takeover_note(template: str, record: InterventionRecord) -> str:
    """The profile's sentence about a hold, filled in (``{seconds}`` and ``{by}``)."""
    return template.replace("{seconds}", f"{record.seconds:.0f}").replace("{by}", record.by)
