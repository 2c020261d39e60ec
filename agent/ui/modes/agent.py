"""Agent mode: an instruction or a bundled task runs in a fresh sandbox; each step appears as it is
recorded, then the verdict and the episode folder."""

from __future__ import annotations

import asyncio
import logging
import shlex
from pathlib import Path
from typing import Any

import chainlit as cl

from agent.approval import Approval
from agent.control import RunControl
from agent.models import Reply
from agent.ui import desktops
from agent.ui.agent_view import (RunResult, RunSpec, StepView, bundled_spec, instruction_spec, load_bundled,
                                 run_agent)
from agent.ui.chat import clip, code_span, describe_error, md_escape
from agent.ui.settings import CONFIG, make_model, profile_named, sampling_profile, settings
from agent.ui.streaming import ReplyView
from agent.ui.watch import LivePanel, UIApprover

log = logging.getLogger("screenact.ui")
RUNNING: set[asyncio.Task] = set()  # every session's agent runs, for a server shutdown to stop


class AgentListener:
    """Shows an agent run: a header with a status line, then per step the model's thinking (streamed,
    collapsible) and a message with the actions and the marked screenshot."""

    def __init__(self, spec: RunSpec) -> None:
        self.spec = spec
        self.header: cl.Message | None = None
        self.status_text = "Starting…"
        self.finished = False
        self.live: dict[int, ReplyView] = {}
        self.steps = 0

    def _header_text(self) -> str:
        kind = "bundled task" if self.spec.checked else "instruction"
        lines = [f"### Agent · {kind} {code_span(self.spec.id)}",
                 f"> {md_escape(self.spec.instruction)}", "",
                 f"{self.spec.width}×{self.spec.height} desktop · up to {self.spec.max_steps} steps · "
                 f"status: {md_escape(self.status_text)}"]
        if not self.finished:
            lines.append("_Stop it with the ■ button in the message box; the steps so far are kept._")
        return "\n".join(lines)

    async def open(self) -> None:
        """Show the header."""
        self.header = cl.Message(content=self._header_text())
        await self.header.send()

    async def status(self, text: str) -> None:
        """Update the header's status line."""
        self.status_text = text
        if self.header is not None:
            self.header.content = self._header_text()
            await self.header.update()

    def _live(self, index: int) -> ReplyView:
        if index not in self.live:
            self.live[index] = ReplyView(profile_named(settings().profile), answer=False, label=f"Step {index} · ")
        return self.live[index]

    async def delta(self, index: int, kind: str, text: str) -> None:
        """A streamed piece of step ``index``'s reply."""
        await self._live(index).delta(kind, text)

    async def step(self, v: StepView) -> None:
        """A recorded step: its thinking closed, its actions, problems and marked screenshot."""
        view = self._live(v.index)
        self.live.pop(v.index, None)
        self.steps = max(self.steps, v.index)
        await view.finish(Reply.build(v.reply, profile_named(settings().profile).thinking) if v.reply else None)
        secs = f" · model {v.model_ms / 1000:.1f} s" if v.model_ms else ""
        acts = ", ".join(code_span(a) for a in v.actions) or "_no action executed_"
        lines = [f"**Step {v.index}** · {acts}{secs}"]
        if v.action_text:
            lines.append(f"**Action:** {md_escape(clip(v.action_text, 400))}")
        if v.thought and view.step is None:
            lines.append(f"**Thought:** {md_escape(clip(v.thought, 1500))}")
        for p in v.problems:
            lines.append(f"⚠ {md_escape(clip(p, 400))}")
        elements = []
        if v.image_png:
            elements.append(cl.Image(name=f"step-{v.index:04d}.png", content=v.image_png, display="inline",
                                     size="large", mime="image/png"))
        await cl.Message(content="\n\n".join(lines), elements=elements).send()

    async def close(self) -> None:
        """The run is over (the header stops offering the stop button)."""
        self.finished = True


def find_task(text: str) -> Any | None:
    """The bundled task ``text`` names ("task ID" or "ID"), or None when it is an instruction."""
    bundled: dict[str, Any] = cl.user_session.get("bundled") or {}
    word = text.strip()
    if word.lower().startswith("task "):
        word = word[5:].strip()
    if word in bundled:
        return bundled[word]
    if " " not in word and word:
        try:  # the suite may have grown since the chat started
            fresh = {t.id: t for t in load_bundled()}
        except Exception:  # noqa: BLE001
            return None
        cl.user_session.set("bundled", fresh)
        return fresh.get(word)
    return None


async def agent_turn(message: cl.Message) -> None:
    """Run the message's instruction, or the bundled task it names, and show the run."""
    text = (message.content or "").strip()
    if message.elements:
        await cl.Message(content="ℹ Agent mode works on its own fresh desktop; the attachment is not used.").send()
    if not text:
        await cl.Message(content="Type an instruction for the agent, or the id of a bundled task.").send()
        return
    task = find_task(text)
    st = settings()
    if task is not None:
        spec = bundled_spec(task)
    else:
        w, h = st.screen_size
        spec = instruction_spec(text, w, h, st.max_steps)
    await run_and_report(spec)


async def run_and_report(spec: RunSpec) -> None:
    """Run one agent episode in this session and show it; the stop button cancels the calling task."""
    st = settings()
    listener = AgentListener(spec)
    await listener.open()
    task = asyncio.current_task()
    cl.user_session.set("agent_task", task)
    RUNNING.add(task)
    model = make_model(st)
    panel = LivePanel(RunControl(), spec.width, spec.height)
    approver = UIApprover()
    cl.user_session.set("live_panel", panel)
    try:
        profile = sampling_profile(st)
        result = await run_agent(spec, model, profile, CONFIG.episodes, listener,
                                 model_name=st.model or None, isolate=CONFIG.isolate,
                                 max_sandboxes=CONFIG.max_sandboxes, sandbox_factory=desktops.open_desktop,
                                 record_video=CONFIG.record_video, control=panel.control,
                                 approval=Approval(rules=profile.approval, ask=approver), observers=[panel, approver])
    finally:
        RUNNING.discard(task)
        cl.user_session.set("agent_task", None)
        approver.close()
        await panel.close()
        await model.aclose()
        await listener.close()
    await listener.status(status_line(result))
    await report(result)


def status_line(r: RunResult) -> str:
    """The header's status once the run is over."""
    if r.cancelled:
        return "stopped"
    if r.outcome is None:
        return "could not run"
    return f"{r.outcome.status} after {r.outcome.steps} steps ({r.seconds:.0f} s)"


async def report(r: RunResult) -> None:
    """The closing message: outcome, verdict, tokens and the episode folder with its files."""
    lines: list[str] = []
    if r.cancelled:
        lines.append(f"■ **Stopped** by you after {len(list(_steps(r.folder)))} recorded step(s).")
    elif r.outcome is None:
        lines.append(f"⚠ **The run could not start.** {md_escape(r.error or '')}")
    else:
        o = r.outcome
        reason = f" — {md_escape(clip(str(o.reason), 500))}" if o.reason else ""
        lines.append(f"**Agent finished: {code_span(o.status)}** after {o.steps} step(s) in {r.seconds:.0f} s{reason}")
        if r.verdict is not None:
            mark = "✓ **PASSED**" if r.verdict.passed else "✗ **FAILED**"
            lines.append(f"Checker verdict: {mark} — {md_escape(clip(r.verdict.reason, 800))}")
        elif r.spec.checked:
            lines.append(f"⚠ Checker verdict: none — {md_escape(r.error or 'the checker did not run')}")
        else:
            lines.append("Checker verdict: none — a typed instruction has no checker"
                         + ("; judge by the last screenshot." if o.steps else "."))
        usage = o.usage or {}
        if usage.get("prompt_tokens") or usage.get("completion_tokens"):
            lines.append(f"Tokens: {usage.get('prompt_tokens', 0)} prompt, {usage.get('completion_tokens', 0)} completion.")
    elements = []
    if r.folder.is_dir():
        lines.append(f"Episode: {code_span(str(r.folder))} — replay it with "
                     f"{code_span(shlex.join(['screenact', 'replay', str(r.folder), '--offline']))}")
        for name in ("result.json", "steps.jsonl", "task.json"):
            path = r.folder / name
            if path.exists():
                elements.append(cl.File(name=name, path=str(path), display="inline"))
    msg_cls = cl.ErrorMessage if r.outcome is None and not r.cancelled else cl.Message
    if msg_cls is cl.ErrorMessage:
        await cl.ErrorMessage(content="\n\n".join(lines)).send()
    else:
        await cl.Message(content="\n\n".join(lines), elements=elements).send()


def _steps(folder: Path):
    path = folder / "steps.jsonl"
    if path.exists():
        yield from (line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip())




async def run_task_button(task_id: str) -> None:
    """Run a bundled task from its button, in the background so that the stop button can cancel it."""
    task = find_task(task_id)
    if task is None:
        await cl.ErrorMessage(content=f"There is no bundled task {code_span(task_id)}.").send()
        return
    running = cl.user_session.get("agent_task")
    if running is not None and not running.done():
        await cl.Message(content="An agent run is already going on in this chat; stop it first.").send()
        return
    session = cl.context.session

    async def background() -> None:
        await cl.context.emitter.task_start()
        try:
            await run_and_report(bundled_spec(task))
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001
            log.exception("agent run failed")
            await cl.ErrorMessage(content=f"Something went wrong: {md_escape(describe_error(exc))}").send()
        finally:
            await cl.context.emitter.task_end()

    # The composer's stop button cancels ``session.current_task``.
    session.current_task = asyncio.create_task(background())


async def live_control(what: str) -> None:
    """A button of the live view: ``pause``, ``takeover`` or ``resume`` this session's run."""
    panel: LivePanel | None = cl.user_session.get("live_panel")
    if panel is not None:
        await panel.act(what)


def stop_run() -> None:
    """Cancel this session's agent run, if one is going on."""
    task = cl.user_session.get("agent_task")
    if task is not None and not task.done():
        task.cancel()


async def stop_all_runs(timeout: float = 30.0) -> None:
    """Cancel every session's agent run and wait (up to ``timeout`` seconds) until each has closed its
    desktop and written its episode's result as cancelled: what a server shutdown does first."""
    tasks = [t for t in RUNNING if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        log.info("stopping %d agent run(s) before shutting down", len(tasks))
        await asyncio.wait(tasks, timeout=timeout)
