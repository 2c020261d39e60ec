"""Where a driver's steps go: the episode folder first, then everyone watching.

A driver (the autonomous :class:`agent.loop.Agent` or :class:`agent.scripted.ScriptedRunner`) talks to
one :class:`Recorder`. It saves each step's frame, appends each finished :class:`~agent.step.StepRecord`
to ``steps.jsonl`` (durable before anyone hears of it), then hands the record to every
:class:`Observer`: the terminal progress line, the UI's live view, later a Ray gatherer or an MCP
recorder. Observers also hear status changes and the model's streamed text. An observer that raises
is logged and skipped; it never stops a run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agent.episode import EpisodeWriter
from agent.models.base import ModelError
from agent.step import StepRecord
from tools.frame import Frame

log = logging.getLogger(__name__)


class TaskLike(Protocol):
    """What a driver needs of a task (``tasks.Task`` provides it; scripted mode also reads ``steps``)."""

    id: str
    instruction: str
    max_steps: int


class Observer(Protocol):
    """Someone watching an episode. Every method is called on the event loop's thread and must not block."""

    def on_status(self, status: str, text: str) -> None:
        """The run moved on: ``status`` is a short word (starting, setup, running, checking, ended), ``text``
        says it for people."""

    def on_step(self, step: StepRecord) -> None:
        """A step was recorded (it is on disk already)."""

    def on_text(self, index: int, kind: str, text: str) -> None:
        """A piece of the model's streamed reply for step ``index``; ``kind`` is "reasoning" or "content"."""

    def on_desktop(self, desktop: Any) -> None:
        """The episode's desktop is open (before its setup); optional."""


@dataclass
class RunOutcome:
    """How an episode ended: ``status`` is done, fail, max_steps, time_limit, error or cancelled."""

    status: str
    steps: int
    final_action: dict[str, Any] | None = None
    reason: str | None = None
    folder: Path | None = None
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0})

    def end_with(self, action: Any) -> "RunOutcome":
        """This outcome ended by the driver's DONE or FAIL ``action`` (its answer or reason as the reason)."""
        self.final_action = action.model_dump(mode="json")
        self.status = action.type
        self.reason = getattr(action, "reason", None) or getattr(action, "answer", None)
        return self


class Recorder:
    """The episode writer plus the observers: what a driver reports to."""

    def __init__(self, writer: EpisodeWriter, observers: Sequence[Any] = ()) -> None:
        self.writer = writer
        self.observers = list(observers)
        self.unfinished: list[dict[str, Any]] = []  # holds the run ended in (no next step carries them)
        self._frame_times: dict[int, float | None] = {}  # step index -> when its frame was captured

    @property
    def folder(self) -> Path:
        return self.writer.folder

    @property
    def count(self) -> int:
        """Steps recorded so far."""
        return self.writer.count

    def save_frame(self, index: int, frame: Frame, png: bytes | None = None) -> str:
        """Write step ``index``'s frame; returns its file name."""
        self._frame_times[index] = getattr(frame, "captured_at", None)
        return self.writer.save_frame(index, frame, png)

    def save_named(self, name: str, frame: Frame) -> str:
        """Write a frame that belongs to no step (a pause's before and after) as ``name``."""
        return self.writer.save_named(name, frame)

    def desktop(self, desktop: Any) -> None:
        """Tell the observers the episode's desktop is open (a live view can show it)."""
        self._tell("on_desktop", desktop)

    def step(self, step: StepRecord) -> None:
        """Record ``step`` durably (``at``: when its frame was captured), then tell the observers."""
        if step.at is None:
            step.at = self._frame_times.pop(step.index, None)
        self.writer.record(step)
        self._tell("on_step", step)

    def model_used(self, name: str | None) -> None:
        """Note in ``task.json`` the model name the server answered with, when none was recorded."""
        if name and self.writer.task.get("model") != name and not self.writer.task.get("model"):
            self.writer.update_task(model=name)

    def status(self, status: str, text: str) -> None:
        """Tell the observers the run moved on."""
        self._tell("on_status", status, text)

    def text(self, kind: str, text: str) -> None:
        """Pass a piece of streamed model text to the observers (it belongs to the next step)."""
        self._tell("on_text", self.writer.count + 1, kind, text)

    @property
    def streaming(self) -> bool:
        """Whether anyone listens to streamed text."""
        return any(hasattr(o, "on_text") for o in self.observers)

    def _tell(self, method: str, *args: Any) -> None:
        for observer in self.observers:
            fn = getattr(observer, method, None)
            if fn is None:
                continue
            try:
                fn(*args)
            except Exception:  # a watcher's fault must not end the run
                log.exception("observer %r failed in %s", observer, method)


async def recorded(recorder: Recorder, body: Callable[[RunOutcome], Awaitable[RunOutcome]]) -> RunOutcome:
    """Run an episode's ``body`` and always finish its folder: a model or sandbox fault becomes a recorded
    ``error``, Ctrl-C or task cancellation a recorded ``cancelled`` (and is re-raised)."""
    outcome = RunOutcome("error", 0, folder=recorder.folder)
    try:
        outcome = await body(outcome)
    except (asyncio.CancelledError, KeyboardInterrupt):
        outcome.status, outcome.reason = "cancelled", "interrupted by the user"
        raise
    except ModelError as exc:
        outcome.status, outcome.reason = "error", f"model: {exc}"
    except Exception as exc:  # a sandbox fault ends the episode, recorded
        outcome.status, outcome.reason = "error", f"{type(exc).__name__}: {exc}"
    finally:
        outcome.steps = recorder.count
        unfinished = {"interventions": recorder.unfinished} if recorder.unfinished else {}
        recorder.writer.finish({"status": outcome.status, "reason": outcome.reason,
                                "final_action": outcome.final_action, "usage": outcome.usage, **unfinished})
    return outcome
