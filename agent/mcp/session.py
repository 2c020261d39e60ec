"""One MCP session's desktop: a fresh sandbox opened on the first tool call and closed with the session.

Every action takes the loop's path, with no text parsing: a typed ``tools.actions`` action in the
client's image pixels → ``view.transform`` to screen pixels → ``tools.policy.Policy`` →
``Sandbox.act`` → settle (``agent.execute.execute`` does all four and fills a step record). A refusal
or a failure raises :class:`ToolFailure` with the message the client's model should read. Calls on one
desktop run one at a time (a lock), each blocking sandbox call off the event loop.

``Desk`` is the desktop itself; normally each session owns one, with ``--shared`` every session of the
server uses the same one (closed when the server stops).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.execute import SettleSettings, execute
from agent.mcp import apps, view
from agent.mcp.recorder import SessionRecorder
from agent.step import StepRecord
from tools.actions import Action, Done, Fail, describe
from tools.policy import Policy

log = logging.getLogger("screenact.mcp")

DEFAULT_MAX_WAIT = 10.0


class ToolFailure(Exception):
    """A refused or failed call; the message is for the client's model."""


@dataclass(frozen=True)
class McpConfig:
    """How the server's desktops are made and what its tools allow."""

    width: int = 1280
    height: int = 800
    isolate: bool = True
    apps: tuple[str, ...] = apps.DEFAULT_APPS
    tasks: Sequence[Any] = ()  # tasks.Task, loaded at start
    record: Path | None = None
    max_wait: float = DEFAULT_MAX_WAIT
    record_video: bool = False  # each session's desktop as episode.webm in its episode folder (needs record)
    settle: SettleSettings = field(default_factory=SettleSettings)


@dataclass
class Shot:
    """A screenshot as the client gets it: PNG bytes, its size, and the screen's."""

    png: bytes
    width: int
    height: int
    screen: tuple[int, int]

    def caption(self) -> str:
        sw, sh = self.screen
        scaled = "" if (self.width, self.height) == self.screen else f" (screen {sw}x{sh}, scaled)"
        return f"screenshot {self.width}x{self.height}{scaled}; pointer coordinates are pixels of this image"


class Desk:
    """A sandbox opened on first use, replaced by ``start_task``, closed by ``close``."""

    def __init__(self, config: McpConfig) -> None:
        self.config = config
        self.sandbox: Any = None
        self.task: Any = None
        self.policy = Policy(max_wait=config.max_wait)
        self.lock = asyncio.Lock()
        self.video: Any = None  # agent.video.EpisodeVideo of the open sandbox (--record-video)
        self.keep_video: Callable[[Any], None] | None = None  # where a finished video goes (the session's episode)

    async def get(self) -> Any:
        """The sandbox, opened now if there is none (hold ``lock``)."""
        if self.sandbox is None:
            await self.open(self.config.width, self.config.height)
        return self.sandbox

    async def open(self, width: int, height: int) -> Any:
        """Close the current sandbox, if any, and open a fresh one of width×height (hold ``lock``)."""
        await self.close()
        from agent.pipeline import open_sandbox

        self.sandbox = await asyncio.to_thread(open_sandbox, width, height, self.config.isolate)
        if self.config.record_video:
            from agent.video import EpisodeVideo

            self.video = await asyncio.to_thread(EpisodeVideo, self.sandbox)
        self.policy.reset()
        log.info("desktop %s opened (%dx%d, %s)", self.sandbox.id, width, height,
                    "isolated" if self.sandbox.isolated else "NOT isolated")
        return self.sandbox

    async def close(self) -> None:
        """Close the sandbox (idempotent); the task goes with it."""
        sandbox, self.sandbox, self.task = self.sandbox, None, None
        video, self.video = self.video, None
        if video is not None:
            await asyncio.to_thread(self.keep_video or type(video).discard, video)
        if sandbox is not None:
            await asyncio.to_thread(sandbox.close)
            log.info("desktop %s closed", sandbox.id)

    async def failed(self, exc: Exception) -> ToolFailure:
        """What to tell the client about a SandboxError: a desktop that still answers goes on; a dead one is
        closed, so the next call opens a fresh one."""
        from sandbox import SandboxError

        try:
            if self.sandbox is not None:
                await asyncio.to_thread(self.sandbox.ping)
                return ToolFailure(str(exc))
        except SandboxError:
            pass
        await self.close()
        return ToolFailure(f"the desktop failed and was closed ({exc}); the next call opens a fresh one")


class McpSession:
    """What one MCP session does: its tools' work, on its desk, recorded when asked."""

    def __init__(self, config: McpConfig, desk: Desk | None = None, session_id: str | None = None) -> None:
        import secrets

        self.config = config
        self.desk = desk or Desk(config)
        self.owns_desk = desk is None
        self.id = session_id or secrets.token_hex(4)
        self.max_side: int | None = None
        self._seen: tuple[str, Any] | None = None  # (sandbox id, the frame the client last got)
        self.recorder = SessionRecorder(config.record, self.id) if config.record else None
        self.desk.keep_video = self._keep_video

    # -- the desktop, one call at a time ----------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _using(self) -> AsyncIterator[Any]:
        """The sandbox, locked for this call; its faults become ToolFailure (a dead desktop is closed)."""
        from sandbox import AppExited, SandboxError

        async with self.desk.lock:
            try:
                yield await self.desk.get()
            except AppExited as exc:  # the app is gone, the desktop goes on
                raise ToolFailure(str(exc)) from None
            except SandboxError as exc:  # a failed request (a missing program), or the desktop died
                raise await self.desk.failed(exc) from None

    async def _shot(self, sandbox: Any, frame: Any) -> Shot:
        """What the client gets of ``frame`` (encoded off the event loop: other sessions go on meanwhile)."""
        self._seen = (sandbox.id, frame)
        img = await asyncio.to_thread(view.encode, frame, self.max_side)
        return Shot(img.data, img.width, img.height, (frame.width, frame.height))

    async def _settled(self, sandbox: Any) -> Shot:
        from tools.settle import settle

        s = self.config.settle
        settled = await asyncio.to_thread(settle, sandbox.screenshot, quiet=s.quiet_s, timeout=s.timeout_s)
        return await self._shot(sandbox, settled.frame)

    # -- tools ------------------------------------------------------------------------------------
    async def screenshot(self, max_side: int | None) -> Shot:
        """The screen now; ``max_side`` also sets the pixels later pointer coordinates are in."""
        async with self._using() as sb:
            self.max_side = max_side
            return await self._shot(sb, await asyncio.to_thread(sb.screenshot))

    async def act(self, action: Action, screenshot: bool = True) -> Shot | None:
        """Run one action given in the client's pixels; the settled screen after it unless ``screenshot`` is False."""
        async with self._using() as sb:
            seen = await self._seen_frame(sb)
            step = StepRecord.start(0, action_text=describe(action), parsed=[action])
            acted = await execute(sb, [action], step, policy=self.desk.policy,
                                  deadline=time.monotonic() + self.config.max_wait + 1.0,
                                  to_screen=view.transform(sb.width, sb.height, self.max_side).action_to_screen,
                                  settling=self.config.settle if screenshot else None)
            if self.recorder is not None:
                self._episode(sb).step(seen, step)
            if step.rejections:
                raise ToolFailure(step.rejections[0].message)
            return await self._shot(sb, acted.frame) if screenshot else None

    def _episode(self, sandbox: Any) -> SessionRecorder:
        """The recorder, with an episode open (the session's first one starts at its first recorded call)."""
        assert self.recorder is not None
        if self.recorder.folder is None:
            self.recorder.begin((sandbox.width, sandbox.height))
        return self.recorder

    async def _seen_frame(self, sandbox: Any) -> Any:
        """The frame the client acts on, for the record (None when not recording)."""
        if self.recorder is None:
            return None
        if self._seen is not None and self._seen[0] == sandbox.id:
            return self._seen[1]
        return await asyncio.to_thread(sandbox.screenshot)

    async def windows(self) -> list[dict[str, Any]]:
        """The top-level windows, boxes in the client's pixels."""
        async with self._using() as sb:
            wins = await asyncio.to_thread(sb.windows)
            t = view.transform(sb.width, sb.height, self.max_side)
        out = []
        for w in wins:
            (x1, y1), (x2, y2) = t.to_model(w.x, w.y), t.to_model(w.x + w.width, w.y + w.height)
            out.append({"title": w.title, "x": round(x1), "y": round(y1), "width": round(x2 - x1),
                        "height": round(y2 - y1), "mapped": w.mapped})
        return out

    async def launch(self, argv: Any) -> tuple[str, Shot]:
        """Start an allowed app; what happened and the settled screen."""
        try:
            plan = apps.plan_launch(argv, self.config.apps)
        except apps.LaunchRefused as exc:
            raise ToolFailure(str(exc)) from None
        async with self._using() as sb:
            if self.recorder is not None:
                self._episode(sb).launched(list(argv))
            try:
                text = await asyncio.to_thread(apps.start, sb, plan)
            except TimeoutError as exc:
                raise ToolFailure(f"{plan.name} did not become ready: {exc}") from None
            return text, await self._settled(sb)

    def list_tasks(self) -> list[dict[str, Any]]:
        """The tasks ``start_task`` knows."""
        return [{"id": t.id, "instruction": t.instruction, "screen": f"{t.screen.width}x{t.screen.height}",
                 "tags": list(t.tags)} for t in self.config.tasks]

    async def start_task(self, task_id: str) -> tuple[Any, Shot]:
        """A fresh desktop of the task's size with its setup done; the task and the settled screen."""
        from tasks import SetupError, run_setup

        task = next((t for t in self.config.tasks if t.id == task_id), None)
        if task is None:
            known = ", ".join(t.id for t in list(self.config.tasks)[:8])
            raise ToolFailure(f"no task {task_id!r}; list_tasks names them (e.g. {known})")
        async with self.desk.lock:
            try:
                await self.desk.open(task.screen.width, task.screen.height)
            except Exception as exc:  # SandboxError, IsolationUnavailable: the client should read why
                raise ToolFailure(f"the desktop could not be started: {exc}") from None
        async with self._using() as sb:
            try:
                await asyncio.to_thread(run_setup, task, sb)
            except SetupError as exc:
                raise ToolFailure(str(exc)) from None
            self.desk.task = task
            if self.recorder is not None:
                self.recorder.begin((sb.width, sb.height), task)
            return task, await self._settled(sb)

    async def check_task(self, answer: str | None, gave_up: bool) -> Any:
        """The checker's verdict on the started task (``tasks.Verdict``)."""
        from tasks import check

        async with self._using() as sb:
            task = self.desk.task
            if task is None:
                raise ToolFailure("no task is running on this desktop; call start_task first")
            final = Fail(reason=answer) if gave_up else Done(answer=answer)
            verdict = await asyncio.to_thread(check, task, sb, final)
        if self.recorder is not None:
            self.recorder.verdict(verdict.passed, verdict.reason, final.model_dump(mode="json"))
        return verdict

    def _keep_video(self, video: Any) -> None:
        """The desktop is closing: its video goes into the episode being written (dropped when none is)."""
        if self.recorder is None or self.recorder.folder is None:
            video.discard()
            return
        self.recorder.result["video"] = video.save(self.recorder.folder)  # finish() keeps it in result.json

    async def close(self) -> None:
        """The session ended: close its desktop (a shared one stays; its video is saved) and finish its episode."""
        if self.owns_desk:
            async with self.desk.lock:
                await self.desk.close()
        if self.recorder is not None:
            self.recorder.finish()
