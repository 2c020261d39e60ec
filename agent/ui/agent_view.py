"""Agent mode without the web framework: open a fresh sandbox, run a task in it, and report every
step to a listener as it is recorded.

``run_agent`` is the whole job: a bundled task (``tasks.load_suite``) or a typed instruction (on a
desktop with a terminal), a fresh ``Sandbox`` of the task's screen size, the task's setup, then
``agent.loop.Agent`` with an episode writer that also hands each recorded step to the listener,
and at the end the task's checker. The model's streamed text (thinking included) reaches the
listener while a step is still waiting for the model. Cancelling the coroutine (the stop button)
ends the run as ``cancelled``; the sandbox is always closed and the episode folder stays readable.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from agent.episode import EpisodeWriter
from agent.loop import Agent, AgentConfig, RunOutcome
from agent.step import StepRecord
from tools.actions import describe
from agent.models.base import ModelClient
from agent.profiles import Profile

TERMINAL_RC = "PS1='$ '\ncd ~\ntouch /tmp/terminal.ready\n"
TERMINAL_SETUP: list[dict[str, Any]] = [
    {"kind": "write_file", "path": "/tmp/home/.screenact-bashrc", "content": TERMINAL_RC},
    {"kind": "launch", "argv": ["xterm", "-title", "Terminal", "-geometry", "90x24+40+40", "-fa", "DejaVu Sans Mono",
                                "-fs", "12", "-bg", "white", "-fg", "black", "-u8", "-e", "bash", "--rcfile",
                                "/tmp/home/.screenact-bashrc", "-i"],
     "wait_window": "Terminal"},
    {"kind": "wait_file", "path": "/tmp/terminal.ready"},
]
"""A typed instruction runs on a desktop with this terminal open (the bundled xterm tasks use the same)."""


# ---------------------------------------------------------------------- what to run
@dataclass(frozen=True)
class RunSpec:
    """What the user asked for: a bundled task, or an instruction with no checker."""

    id: str
    instruction: str
    max_steps: int
    width: int
    height: int
    task: Any = None          # a tasks.Task: setup + checker (None for a typed instruction)
    setup_task: Any = None    # the tasks.Task whose setup prepares the desktop

    @property
    def checked(self) -> bool:
        return self.task is not None


_bundled_cache: tuple[Any, list[Any]] | None = None


def load_bundled() -> list[Any]:
    """The bundled task suite (``tasks.Task`` objects), in id order; read again when a file changed."""
    global _bundled_cache
    from tasks import SUITE_DIR, load_suite

    files = sorted(p for p in Path(SUITE_DIR).rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
    signature = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    if _bundled_cache is None or _bundled_cache[0] != signature:
        _bundled_cache = (signature, sorted(load_suite(SUITE_DIR), key=lambda t: t.id))
    return list(_bundled_cache[1])


def bundled_spec(task: Any, max_steps: int | None = None) -> RunSpec:
    return RunSpec(task.id, task.instruction, max_steps or task.max_steps, task.screen.width, task.screen.height,
                   task=task, setup_task=task)


def instruction_spec(instruction: str, width: int = 1280, height: int = 800, max_steps: int = 15) -> RunSpec:
    """A typed instruction, run on a desktop with a terminal open; nothing checks the result."""
    from tasks import task_from_data

    setup = task_from_data({"id": "ui-terminal-desktop", "instruction": instruction, "setup": TERMINAL_SETUP,
                            "checker": {"kind": "infeasible"}, "screen": {"width": width, "height": height}})
    slug = re.sub(r"[^a-z0-9]+", "-", instruction.lower()).strip("-")[:40] or "instruction"
    return RunSpec(f"ui-{slug}", instruction, max_steps, width, height, task=None, setup_task=setup)


# ---------------------------------------------------------------------- what the listener sees
@dataclass
class StepView:
    """One recorded step, ready to show."""

    index: int
    thought: str | None
    action_text: str | None          # the reply's "## Action:" line, when it has one
    actions: list[str]               # executed actions, described (screen pixels)
    problems: list[str]              # parse errors, rejections, failed actions
    feedback: str | None             # what goes back to the model
    image_png: bytes | None          # the frame the model saw, with markers where it acted
    model_ms: float | None
    reply: str = ""
    record: StepRecord | None = field(default=None, repr=False)


@dataclass
class RunResult:
    """How a run ended. ``verdict`` is None for a typed instruction (no checker) or when the run
    never reached the checker; ``error`` explains a run that could not start or check."""

    spec: RunSpec
    folder: Path
    outcome: RunOutcome | None = None
    verdict: Any = None
    error: str | None = None
    cancelled: bool = False
    seconds: float = 0.0


class RunListener(Protocol):
    async def status(self, text: str) -> None: ...
    async def delta(self, index: int, kind: str, text: str) -> None: ...
    async def step(self, view: StepView) -> None: ...


class _LiveWriter(EpisodeWriter):
    """An episode writer that also tells someone about each step once it is durable."""

    def __init__(self, folder: Path, task: dict[str, Any], on_step: Callable[[StepRecord], None]) -> None:
        super().__init__(folder, task)
        self._on_step = on_step

    def record(self, step: StepRecord) -> None:
        super().record(step)
        self._on_step(step)


def episode_folder(root: Path, run_id: str) -> Path:
    """A new, unique folder under ``root`` named by time and task id."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", run_id)[:60]
    folder = root / f"{stamp}-{safe}"
    n = 1
    while folder.exists():
        n += 1
        folder = root / f"{stamp}-{safe}-{n}"
    return folder


def render_step(folder: Path, step: StepRecord, pointer: tuple[float, float] | None
                ) -> tuple[StepView, tuple[float, float] | None]:
    """A ``StepView`` for a recorded step (draws the markers; runs in a worker thread)."""
    from PIL import Image

    from agent.ui.drawing import mark_actions, to_png

    actions = [a.model_dump(mode="json") for a in step.executed_actions]
    image_png = None
    if step.frame and (folder / step.frame).exists():
        with Image.open(folder / step.frame) as img:
            img = img.convert("RGB")
            pointer = mark_actions(img, actions, pointer)
            image_png = to_png(img, max_width=1600)
    view = StepView(step.index, step.thought, step.action_text, [describe(a) for a in step.executed_actions],
                    step.problems(), step.feedback, image_png, step.timings.get("model"), step.reply or "", step)
    return view, pointer


# ---------------------------------------------------------------------- the run
_slots: dict[int, asyncio.Semaphore] = {}


def _slot(limit: int) -> asyncio.Semaphore:
    sem = _slots.get(limit)
    if sem is None:
        sem = _slots[limit] = asyncio.Semaphore(limit)
    return sem


async def run_agent(
    spec: RunSpec,
    model: ModelClient,
    profile: Profile,
    episodes: Path,
    listener: RunListener,
    *,
    model_name: str | None = None,
    isolate: bool = True,
    max_sandboxes: int = 2,
    config: AgentConfig | None = None,
    sandbox_factory: Callable[..., Any] | None = None,
) -> RunResult:
    """Run ``spec`` in a fresh sandbox, reporting to ``listener``; never raises for a failure of the
    model, the sandbox or the setup (they come back in ``RunResult.error`` / ``outcome``).

    ``model`` should stream into ``on_delta`` set by the caller through ``attach_deltas``.
    """
    started = time.monotonic()
    folder = episode_folder(Path(episodes), spec.id)
    result = RunResult(spec, folder)
    queue: asyncio.Queue = asyncio.Queue()
    pointer: list[tuple[float, float] | None] = [None]
    writer_ref: list[_LiveWriter | None] = [None]

    async def consume() -> None:
        while True:
            item = await queue.get()
            if item is None:
                return
            try:
                if item[0] == "delta":
                    await listener.delta(item[1], item[2], item[3])
                elif item[0] == "step":
                    view, pointer[0] = await asyncio.to_thread(render_step, folder, item[1], pointer[0])
                    await listener.step(view)
            except asyncio.CancelledError:
                raise
            except Exception:  # a display problem must not stop the run
                import logging

                logging.getLogger(__name__).exception("showing an agent event failed")

    def on_delta(kind: str, text: str) -> None:
        writer = writer_ref[0]
        queue.put_nowait(("delta", (writer.count if writer else 0) + 1, kind, text))

    attach_deltas(model, on_delta)
    consumer = asyncio.create_task(consume())
    sandbox = None
    sem = _slot(max(1, max_sandboxes))
    acquired = False
    try:
        if sem.locked():
            await listener.status(f"All {max_sandboxes} desktops are busy; waiting for one to be free…")
        await sem.acquire()
        acquired = True
        await listener.status(f"Opening a fresh {spec.width}×{spec.height} desktop…")
        factory = sandbox_factory or _default_sandbox
        starting = asyncio.ensure_future(asyncio.to_thread(factory, spec.width, spec.height, isolate))
        try:
            sandbox = await asyncio.shield(starting)
        except asyncio.CancelledError:
            starting.add_done_callback(_close_when_started)  # stopped while it starts: close it once it is up
            raise
        except Exception as exc:  # noqa: BLE001 - shown to the user
            result.error = f"The desktop could not be started: {_exc_text(exc)}"
            return result
        if spec.setup_task is not None and spec.setup_task.setup:
            await listener.status(f"Preparing the desktop ({len(spec.setup_task.setup)} setup steps)…")
            try:
                from tasks import run_setup

                await asyncio.to_thread(run_setup, spec.setup_task, sandbox)
            except Exception as exc:  # noqa: BLE001
                result.error = f"The task's setup failed: {_exc_text(exc)}"
                return result
        await listener.status("The agent is running.")
        meta = {"id": spec.id, "instruction": spec.instruction, "mode": "auto", "profile": profile.name,
                "model": model_name, "source": "ui", "task_file": getattr(spec.task, "path", None)}
        writer = _LiveWriter(folder, meta, lambda step: queue.put_nowait(("step", step)))
        writer_ref[0] = writer
        cfg = config or AgentConfig()
        cfg.max_steps = spec.max_steps
        agent = Agent(model, profile, config=cfg, model_name=model_name)
        task_like = _TaskLike(spec.id, spec.instruction, spec.max_steps)
        result.outcome = await agent.run(task_like, sandbox, folder, writer=writer)
        if spec.task is not None:
            await listener.status("Checking the result…")
            try:
                from tasks import check

                result.verdict = await asyncio.to_thread(check, spec.task, sandbox, result.outcome.final_action)
            except Exception as exc:  # noqa: BLE001
                result.error = f"The checker could not run: {_exc_text(exc)}"
            _write_verdict(folder, result)
        return result
    except asyncio.CancelledError:
        result.cancelled = True
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()  # the stop is handled here: what follows (closing, reporting) must run
        return result
    finally:
        result.seconds = time.monotonic() - started
        if sandbox is not None:
            try:
                await asyncio.to_thread(sandbox.close)
            except Exception:  # noqa: BLE001 - closing is best effort; the sandbox reaps itself
                pass
        if acquired:
            sem.release()
        queue.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(consumer), timeout=30)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            consumer.cancel()
        attach_deltas(model, None)


@dataclass
class _TaskLike:
    id: str
    instruction: str
    max_steps: int


def _close_when_started(future: "asyncio.Future[Any]") -> None:
    if future.cancelled() or future.exception() is not None:
        return
    threading.Thread(target=future.result().close, name="close-stopped-sandbox", daemon=True).start()


def _default_sandbox(width: int, height: int, isolate: bool) -> Any:
    from sandbox import Sandbox

    return Sandbox(width, height, isolate=isolate, allow_unisolated=not isolate)


def attach_deltas(model: Any, callback: Callable[[str, str], None] | None) -> None:
    """Point a streaming model's ``on_delta`` at ``callback`` (no-op for models without one)."""
    if hasattr(model, "on_delta"):
        model.on_delta = callback


def _exc_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return text if text else type(exc).__name__


def _write_verdict(folder: Path, result: RunResult) -> None:
    """The checker's decision, merged into the episode's ``result.json`` as ``screenact run`` does."""
    if not (folder / "result.json").exists():
        return
    from agent.episode import update_result

    if result.verdict is not None:
        update_result(folder, verdict={"passed": result.verdict.passed, "reason": result.verdict.reason})
    elif result.error:
        update_result(folder, verdict={"passed": False, "reason": result.error})
