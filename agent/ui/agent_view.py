"""Agent mode without the web framework: open a fresh sandbox, run a task in it, and report every
step to a listener as it is recorded.

``run_agent`` is the whole job: a bundled task (``tasks.load_suite``) or a typed instruction (on a
desktop with a terminal) goes to ``agent.pipeline.run_episode`` with ``agent.loop.Agent`` as its driver
and a :class:`LiveView` as its observer, which hands each recorded step (its frame marked) and the
model's streamed text (thinking included) to the listener. Cancelling the coroutine (the stop button)
ends the run as ``cancelled``; the sandbox is always closed and the episode folder stays readable.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from agent.approval import Approval
from agent.control import RunControl
from agent.loop import Agent, AgentConfig
from agent.models.base import ModelClient
from agent.pipeline import EpisodeResult, open_sandbox, run_episode
from agent.profiles import Profile
from agent.step import StepRecord
from tools.actions import describe

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
class RunResult(EpisodeResult):
    """How a run of ``spec`` ended (``agent.pipeline.EpisodeResult``). ``verdict`` is None for a typed
    instruction (no checker) or when the run never reached the checker."""

    spec: RunSpec | None = None


class RunListener(Protocol):
    async def status(self, text: str) -> None: ...
    async def delta(self, index: int, kind: str, text: str) -> None: ...
    async def step(self, view: StepView) -> None: ...


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

    from agent.report.frames import MAX_FRAME_BYTES
    from agent.ui.drawing import mark_actions, to_png
    from tools.safe_files import is_plain_file, safe_read

    actions = [a.model_dump(mode="json") for a in step.executed_actions]
    image_png = None
    if step.frame and is_plain_file(folder, step.frame):  # never through a link out of the episode
        with Image.open(io.BytesIO(safe_read(folder, step.frame, MAX_FRAME_BYTES))) as img:
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


class LiveView:
    """The observer that feeds a listener: statuses, streamed text and each step with its marked frame.

    Observers are called synchronously on the event loop; the listener is async and slow (it draws and
    sends), so events go through a queue to one consumer task, in order.
    """

    def __init__(self, listener: RunListener, folder: Path) -> None:
        self.listener = listener
        self.folder = folder
        self._queue: asyncio.Queue = asyncio.Queue()
        self._pointer: tuple[float, float] | None = None
        self._consumer = asyncio.create_task(self._consume())

    def on_status(self, status: str, text: str) -> None:
        if status != "ended":  # the UI says how it ended itself, with the verdict
            self._queue.put_nowait(("status", text))

    def on_text(self, index: int, kind: str, text: str) -> None:
        self._queue.put_nowait(("delta", index, kind, text))

    def on_step(self, step: StepRecord) -> None:
        self._queue.put_nowait(("step", step))

    async def _consume(self) -> None:
        while (item := await self._queue.get()) is not None:
            try:
                await self._show(item)
            except asyncio.CancelledError:
                raise
            except Exception:  # a display problem must not stop the run
                logging.getLogger(__name__).exception("showing an agent event failed")

    async def _show(self, item: tuple) -> None:
        if item[0] == "status":
            await self.listener.status(item[1])
        elif item[0] == "delta":
            await self.listener.delta(*item[1:])
        else:
            view, self._pointer = await asyncio.to_thread(render_step, self.folder, item[1], self._pointer)
            await self.listener.step(view)

    async def close(self) -> None:
        """Show what is queued (30 s at most), then stop."""
        self._queue.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(self._consumer), timeout=30)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            self._consumer.cancel()


async def run_agent(spec: RunSpec, model: ModelClient, profile: Profile, episodes: Path, listener: RunListener, *,
                    model_name: str | None = None, isolate: bool = True, max_sandboxes: int = 2,
                    config: AgentConfig | None = None, sandbox_factory: Callable[..., Any] | None = None,
                    record_video: bool = False, control: RunControl | None = None,
                    approval: Approval | None = None, observers: Sequence[Any] = ()) -> RunResult:
    """Run ``spec`` in a fresh sandbox through ``agent.pipeline.run_episode``, reporting to ``listener``;
    never raises for a failure of the model, the sandbox or the setup (they come back in
    ``RunResult.error`` / ``outcome``). The model's streamed text reaches the listener through the
    episode's observers; nothing here touches the model. ``control`` pauses and hands over the run
    (``agent.control``), ``approval`` asks before marked actions, ``observers`` watch beside the listener."""
    folder = episode_folder(Path(episodes), spec.id)
    result = RunResult(folder, spec=spec)
    view = LiveView(listener, folder)
    sem = _slot(max(1, max_sandboxes))
    started = time.monotonic()
    try:
        if sem.locked():
            await listener.status(f"All {max_sandboxes} desktops are busy; waiting for one to be free…")
        async with sem:
            episode = await run_episode(
                _task_of(spec), Agent(model, profile, config=_config(config, spec), model_name=model_name,
                                      control=control, approval=approval), folder,
                observers=[view, *observers], judge=spec.checked, isolate=isolate,
                open_desktop=sandbox_factory or open_sandbox,
                meta={"source": "ui", "task_file": getattr(spec.task, "path", None)}, record_video=record_video)
        result = RunResult(**vars(episode), spec=spec)
    except asyncio.CancelledError:  # stopped while waiting for a free desktop
        result.cancelled = True
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()
    finally:
        result.seconds = time.monotonic() - started
        await view.close()
    return result


def _task_of(spec: RunSpec) -> Any:
    """The task ``run_episode`` sets up and judges: the bundled task, or the terminal desktop of a typed
    instruction with that instruction and step limit."""
    base = spec.task if spec.task is not None else spec.setup_task
    if base is None:
        from tasks import task_from_data

        base = task_from_data({"id": spec.id, "instruction": spec.instruction, "checker": {"kind": "infeasible"},
                               "screen": {"width": spec.width, "height": spec.height}})
    return base.model_copy(update={"id": spec.id, "instruction": spec.instruction, "max_steps": spec.max_steps})


def _config(config: AgentConfig | None, spec: RunSpec) -> AgentConfig:
    cfg = config or AgentConfig()
    cfg.max_steps = spec.max_steps
    return cfg
