"""Showing a reply while it streams: ``DeltaPump`` carries the model client's ``on_delta`` calls to
the page in order, ``ReplyView`` puts the thinking in a collapsible step and the answer below it."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable

import chainlit as cl
from chainlit.utils import utc_now

from agent.models import Reply
from agent.profiles import Profile
from agent.ui.chat import ThinkingStream, md_escape, no_remote_images

log = logging.getLogger("screenact.ui")


class DeltaPump:
    """Carries ``on_delta`` callbacks (plain calls inside the event loop) to an async handler, in order."""

    def __init__(self, handler: Callable[[str, str], Awaitable[None]]) -> None:
        self.handler = handler
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task = asyncio.create_task(self._run())

    def push(self, kind: str, text: str) -> None:
        """Queue one streamed piece (``kind`` is "content" or "reasoning"); an ``on_delta`` callback."""
        self.queue.put_nowait((kind, text))

    async def _run(self) -> None:
        while True:
            item = await self.queue.get()
            if item is None:
                return
            try:
                await self.handler(*item)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - showing a token must not break the request
                log.exception("showing a streamed piece failed")

    async def close(self) -> None:
        """Show what is queued, then stop (idempotent)."""
        if self.task.done():
            return
        self.queue.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(self.task), timeout=30)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            self.task.cancel()


class ReplyView:
    """A reply on screen: thinking in a collapsible step, the answer in a message below it."""

    def __init__(self, profile: Profile, *, answer: bool = True, parent_id: str | None = None, label: str = "") -> None:
        self.label = label
        self.split = ThinkingStream(profile.thinking)
        self.show_answer = answer
        current = cl.context.current_step
        self.parent_id = parent_id or (current.id if current is not None else None)
        self.step: cl.Step | None = None
        self.msg: cl.Message | None = None
        self.started = time.monotonic()
        self._step_shown = False

    def _new_step(self) -> cl.Step:
        step = cl.Step(name=f"{self.label}Thinking…" if not self.label else f"{self.label}thinking…", type="llm", parent_id=self.parent_id, default_open=True,
                       auto_collapse=True, show_input=False)
        step.start = utc_now()
        return step

    async def delta(self, kind: str, text: str) -> None:
        """Show one streamed piece where it belongs (thinking or answer)."""
        for part, piece in self.split.feed(kind, text):
            await self._show(part, piece)

    async def _show(self, part: str, piece: str) -> None:
        if part == "thinking":
            if self.step is None:
                self.step = self._new_step()
            await self.step.stream_token(md_escape(piece))
            self._step_shown = True
        elif self.show_answer:
            if self.msg is None:
                self.msg = cl.Message(content="")
            await self.msg.stream_token(no_remote_images(piece, self.msg.content))

    async def finish(self, reply: Reply | None, *, note: str | None = None, elements: list | None = None) -> None:
        """Replace what streamed by the exact split of the final reply and close the blocks."""
        for part, piece in self.split.finish():
            await self._show(part, piece)
        # the reply's own split is exact; what streamed covers reasoning the server sent apart
        thinking = (reply.thinking if reply is not None else None) or self.split.thinking or None
        if thinking:
            if self.step is None:
                self.step = self._new_step()
            self.step.output = md_escape(thinking.strip())
            took = f"{time.monotonic() - self.started:.1f} s"
            self.step.name = f"{self.label}thought for {took}" if self.label else f"Thought for {took}"
            self.step.end = utc_now()
            await (self.step.update() if self._step_shown else self.step.send())
            self._step_shown = True
        elif self.step is not None and self._step_shown:
            await self.step.remove()
            self.step = None
        if not self.show_answer:
            return
        if reply is not None:
            answer = reply.answer
            if not answer and not reply.thinking_complete:
                answer = ("_The reply reached the token limit while still thinking, so there is no answer. "
                          "Raise “Max tokens” (or the context length) in the settings._")
        else:
            answer = self.split.answer
        answer = no_remote_images(answer)
        if note:
            answer = f"{answer}\n\n{note}" if answer else note
        if self.msg is None:
            self.msg = cl.Message(content=answer or "_(empty reply)_", elements=elements or [])
            await self.msg.send()
        else:
            self.msg.content = answer or "_(empty reply)_"
            self.msg.elements = elements or []
            await self.msg.update()
