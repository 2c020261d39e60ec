"""``--record DIR``: an MCP session written as ordinary screenact episodes (report and replay read them).

A session's first tool call opens ``DIR/<time>-<session>/``; each ``start_task`` finishes that episode
and opens ``DIR/<time>-<session>-<n>-<task id>/`` with the task in ``task.json`` (so a replay can run
its setup and checker). Every pointer or key call is one step (``agent.step.StepRecord``): the frame
the client last saw, its action in the client's pixels (``parsed``), what reached the desktop in
screen pixels (``executed``), a refusal's message, and timings; ``launch`` calls go to ``task.json``'s
``launches``. ``check_task`` puts the verdict in
``result.json`` at once; the session's end finishes the episode.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from agent.episode import EpisodeWriter, update_result
from agent.recorder import Recorder
from agent.step import StepRecord
from tools.frame import Frame

MODE = "mcp"
"""``task.json``'s ``mode`` for an MCP session's episode."""


class SessionRecorder:
    """The episodes of one MCP session, one at a time."""

    def __init__(self, root: Path, session_id: str, observers: tuple[Any, ...] = ()) -> None:
        self.root = Path(root)
        self.session_id = session_id
        self.observers = observers
        self.started = time.strftime("%Y%m%d-%H%M%S")
        self.episodes = 0
        self.recorder: Recorder | None = None
        self.result: dict[str, Any] = {}

    @property
    def folder(self) -> Path | None:
        """The episode being written, if any."""
        return None if self.recorder is None else self.recorder.folder

    def begin(self, screen: tuple[int, int], task: Any = None) -> Path:
        """Finish the current episode and start the next (for ``task``, a ``tasks.Task``, if given)."""
        self.finish()
        self.episodes += 1
        name = f"{self.started}-{self.session_id}" + (f"-{self.episodes}-{task.id}" if task is not None else "")
        info: dict[str, Any] = {"id": task.id if task is not None else f"mcp-{self.session_id}",
                                "instruction": task.instruction if task is not None else "",
                                "mode": MODE, "session": self.session_id,
                                "screen": {"width": screen[0], "height": screen[1]}}
        if task is not None:
            info["task"] = task.model_dump(mode="json")
        self.recorder = Recorder(EpisodeWriter(self.root / name, info), self.observers)
        self.result = {"status": "done", "reason": "the MCP session ended"}
        return self.recorder.folder

    def step(self, seen: Frame, step: StepRecord) -> None:
        """Record one call: ``seen`` is the frame the client acted on; the step's index is set here."""
        assert self.recorder is not None, "begin() first"
        step.index = self.recorder.count + 1
        step.frame = self.recorder.save_frame(step.index, seen)
        self.recorder.step(step)

    def launched(self, argv: list[str]) -> None:
        """An app the client launched, in ``task.json``'s ``launches`` with the number of steps before it
        (a replay starts it at the same point)."""
        assert self.recorder is not None, "begin() first"
        writer = self.recorder.writer
        writer.update_task(launches=[*writer.task.get("launches", []), {"after_step": writer.count, "argv": argv}])

    def verdict(self, passed: bool, reason: str, final_action: dict[str, Any]) -> None:
        """The checker's verdict, in ``result.json`` now and when the episode finishes."""
        if self.recorder is None:
            return
        self.result.update(verdict={"passed": passed, "reason": reason}, final_action=final_action)
        update_result(self.recorder.folder, **self.result, steps=self.recorder.count)

    def finish(self) -> None:
        """Write ``result.json`` of the current episode (idempotent)."""
        if self.recorder is not None:
            self.recorder.writer.finish(self.result)
            self.recorder.status("ended", str(self.result.get("reason")))
            self.recorder = None
