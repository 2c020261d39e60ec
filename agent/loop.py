"""The autonomous loop: observe → think → interpret → act → record, until DONE, FAIL or a limit.

``Agent.run`` drives one task on one desktop with one model. Each step is one
:class:`~agent.step.StepRecord` that the phases fill in turn:

- **observe**: the screenshot as the profile prepares it for the model, its frame saved;
- **think**: the prompt fitted to the context budget, then the model's reply;
- **interpret**: the reply parsed (off the event loop, never executed) into actions in model space;
- **act**: transform to screen pixels, policy, act, settle (:func:`agent.execute.execute`);
- **record**: the step appended to the episode, the observers told, the history extended.

A reply that cannot be parsed, or an action the policy rejects, goes back to the model as text and
does not count as a step; after ``max_bad_replies`` in a row the episode ends as ``error``. The limits
of a run are one :class:`RunLimits`. Ctrl-C (or cancelling the coroutine) ends it as ``cancelled`` with
every completed step on disk.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agent.approval import Approval
from agent.budget import BudgetSettings, ContextBudget
from agent.control import RunControl, hold, takeover_note
from agent.episode import EpisodeWriter
from agent.execute import Acted, Desktop, RunLimits, SettleSettings, capture, execute, ms
from agent.images import ModelImage
from agent.models.base import ModelClient, Reply
from agent.profiles import Profile
from agent.prompts import HistoryStep
from agent.recorder import Recorder, RunOutcome, TaskLike, recorded
from agent.step import HistoryCounts, Request, StepRecord
from tools.actions import describe
from tools.parse import Parsed
from tools.policy import Policy

__all__ = ["Agent", "AgentConfig", "RunLimits", "RunOutcome"]


@dataclass
class AgentConfig:
    """Limits and knobs of one run."""

    max_steps: int | None = None  # None: the task's own
    time_limit_s: float = 600.0
    max_bad_replies: int = 3
    settle_quiet_s: float = 0.12
    settle_timeout_s: float = 3.0
    budget: BudgetSettings = field(default_factory=BudgetSettings)


@dataclass
class _State:
    """The one piece of state a run carries from step to step."""

    frame: Any
    capture_s: float
    history: list[HistoryStep] = field(default_factory=list)
    frames: dict[str, str] = field(default_factory=dict)  # digest of image bytes -> frame file
    taken: int = 0
    bad_in_a_row: int = 0
    index: int = 0
    held: list[Any] = field(default_factory=list)  # InterventionRecords for the next step
    note: str | None = None  # what the next prompt says about a takeover


class Agent:
    """The autonomous driver: the model plans every step from the instruction and the screen."""

    mode = "auto"

    def __init__(self, model: ModelClient, profile: Profile, *, policy: Policy | None = None,
                 config: AgentConfig | None = None, model_name: str | None = None, cancel: Any = None,
                 approval: Approval | None = None, control: RunControl | None = None) -> None:
        self.cancel = cancel  # a threading.Event (anything with is_set()): ends the run as cancelled
        self.approval = approval  # actions its rules mark wait for a person's yes
        self.control = control  # pause / take over between steps (agent.control)
        self.model = model
        self.profile = profile
        self.policy = policy or profile.policy()
        self.config = config or AgentConfig()
        self.model_name = model_name
        counter = model if hasattr(model, "count_tokens") and self.config.budget.use_server_count else None
        self.budget = ContextBudget(profile, self.config.budget, counter)

    def describe(self) -> dict[str, Any]:
        """What ``task.json`` records about this driver."""
        name = self.model_name or getattr(self.model, "model", None)
        return {"mode": self.mode, "profile": self.profile.name, "model": name if isinstance(name, str) else None}

    async def run(self, task: TaskLike, sandbox: Desktop, folder: str | Path,
                  writer: EpisodeWriter | None = None) -> RunOutcome:
        """Drive ``task`` in ``sandbox`` into the episode ``folder`` (see :meth:`drive`)."""
        writer = writer or EpisodeWriter(folder, {"id": task.id, "instruction": task.instruction, **self.describe()})
        return await self.drive(task, sandbox, Recorder(writer))

    async def drive(self, task: TaskLike, desktop: Desktop, recorder: Recorder) -> RunOutcome:
        """Drive ``task`` on ``desktop`` until done, fail, a limit, an error or cancellation; the episode
        is always finished in ``recorder``'s folder."""
        limits = RunLimits(self.config.max_steps or task.max_steps, self.config.time_limit_s,
                           self.config.max_bad_replies, self.cancel)
        return await recorded(recorder, lambda outcome: self._steps(task, desktop, recorder, limits, outcome))

    async def _steps(self, task: TaskLike, desktop: Desktop, recorder: Recorder, limits: RunLimits,
                     outcome: RunOutcome) -> RunOutcome:
        self.policy.reset()
        state = _State(*await capture(desktop))
        last_problem: str | None = None
        while (stop := limits.check(state.taken, state.bad_in_a_row, last_problem)) is None:
            if await self.held(state, desktop, recorder, limits):
                continue  # the limits again: the stop button may have been pressed meanwhile
            state.index += 1
            step = StepRecord.start(state.index, timings={"capture": ms(state.capture_s)},
                                    interventions=state.held)
            state.held = []
            image = self.observe(step, state, recorder)
            reply = await self.think(step, task, desktop, image, state, recorder)
            _add_usage(outcome, reply)
            read, usable = await self.interpret(step, reply)
            acted = await self.act(step, read, image, desktop, limits) if usable else None
            self.record(step, read, image, acted, state, recorder)
            last_problem = step.feedback
            if acted is not None and acted.terminal is not None:
                return outcome.end_with(acted.terminal)
        outcome.status, outcome.reason = stop
        return outcome

    async def held(self, state: _State, desktop: Desktop, recorder: Recorder, limits: RunLimits) -> bool:
        """Wait here while a pause or takeover is on (``agent.control``); True when there was one. The wait
        does not count against the run's time; the model gets a fresh screenshot, and after a takeover
        its next prompt says so in the profile's words."""
        got = await hold(self.control, desktop, recorder, state.index + 1)
        if got is None:
            return False
        record, state.frame = got
        state.capture_s = 0.0
        state.held.append(record)
        limits.started += record.seconds
        if record.kind == "takeover":
            state.note = takeover_note(self.profile.takeover_note, record)
        return True

    # ---------------------------------------------------------------- the phases
    def observe(self, step: StepRecord, state: _State, recorder: Recorder) -> ModelImage:
        """The current frame as the model will see it; the frame file is saved and named in ``step``."""
        t = time.perf_counter()
        image = self.profile.prepare(state.frame)
        png = image.data if image.mime == "image/png" and image.sent_size == state.frame.size else None
        step.frame = recorder.save_frame(step.index, state.frame, png)
        state.frames[_digest(image.data)] = step.frame
        step.timings["encode"] = ms(time.perf_counter() - t)
        return image

    async def think(self, step: StepRecord, task: TaskLike, desktop: Desktop, image: ModelImage, state: _State,
                    recorder: Recorder) -> Reply:
        """The prompt fitted to the context budget, sent to the model; the request and reply recorded."""
        instruction, state.history = _with_note(task.instruction, state.history, state.note)
        state.note = None
        fitted = await self.budget.fit_agent(instruction, state.history, image, (desktop.width, desktop.height),
                                             max_tokens=self.profile.agent_sampling.max_tokens)
        sampling = {**self.profile.sampling("agent").params(), "max_tokens": fitted.max_tokens}
        step.request = Request(messages=_file_refs(fitted.messages, state.frames), sampling=sampling,
                               prompt_tokens=fitted.prompt_tokens, image_tokens=fitted.image_tokens,
                               exact_count=fitted.exact,
                               history=HistoryCounts(images=fitted.image_steps, text=fitted.text_steps,
                                                     dropped=fitted.dropped_steps))
        streaming = {"on_delta": recorder.text} if recorder.streaming else {}
        t = time.perf_counter()
        reply = await self.model.complete(fitted.messages, **sampling, **streaming)
        step.timings["model"] = ms(time.perf_counter() - t)
        step.reply = reply.text
        step.usage = reply.usage
        recorder.model_used(reply.model)
        return reply

    async def interpret(self, step: StepRecord, reply: Reply) -> tuple[Parsed, bool]:
        """The reply read by the profile (parsed off the event loop, never executed): what it says, and
        whether its actions are usable; when not, ``step.feedback`` holds what the model will be told."""
        t = time.perf_counter()
        read, usable = await asyncio.to_thread(self.profile.read, reply.text)
        step.timings["parse"] = ms(time.perf_counter() - t)
        step.thought, step.action_text, step.errors = read.thought, read.action_text, list(read.errors)
        if not usable:
            step.feedback = _reply_feedback(step.errors, reply)
            return read, False
        step.parsed = list(read.actions)
        return read, True

    async def act(self, step: StepRecord, parsed: Parsed, image: ModelImage, desktop: Desktop,
                  limits: RunLimits) -> Acted:
        """Transform, check and execute the reply's actions (``agent.execute``); rejections become feedback."""
        acted = await execute(desktop, parsed.actions, step, policy=self.policy, deadline=limits.deadline,
                              to_screen=image.transform.action_to_screen,
                              settling=SettleSettings(self.config.settle_quiet_s, self.config.settle_timeout_s),
                              approval=self.approval)
        step.feedback = "; ".join(map(str, step.rejections)) or None
        return acted

    def record(self, step: StepRecord, read: Parsed, image: ModelImage, acted: Acted | None,
               state: _State, recorder: Recorder) -> None:
        """Append the step to the episode, count it, and remember it for the next prompt."""
        recorder.step(step)
        counted = acted is not None and any(e.ok for e in step.executed)
        state.taken += counted
        state.bad_in_a_row = 0 if counted else state.bad_in_a_row + 1
        done = tuple(describe(a) for a, _ in zip(step.parsed, step.executed))
        state.history.append(HistoryStep(step.index, read.answer, step.thought, step.action_text, done,
                                         step.feedback, image))
        if acted is not None:
            state.frame, state.capture_s = acted.frame, acted.capture_s
        else:
            state.capture_s = 0.0


def _with_note(instruction: str, history: list[HistoryStep], note: str | None) -> tuple[str, list[HistoryStep]]:
    """The prompt's instruction and history with ``note`` told to the model: as feedback on the last step
    (where the prompt says what happened since), or before the instruction when no step came yet."""
    if not note:
        return instruction, history
    if not history:
        return f"{note}\n\n{instruction}", history
    last = history[-1]
    feedback = f"{last.feedback} {note}" if last.feedback else note
    return instruction, [*history[:-1], replace(last, feedback=feedback)]


def _add_usage(outcome: RunOutcome, reply: Reply) -> None:
    if reply.usage:
        outcome.usage["prompt_tokens"] += reply.usage.prompt_tokens or 0
        outcome.usage["completion_tokens"] += reply.usage.completion_tokens or 0


def _reply_feedback(problems: list[str], reply: Any) -> str:
    if getattr(reply, "truncated", False):
        return ("Your reply ended before it gave an action (it hit the length limit while thinking). "
                "Think more briefly and answer with ## Action: and ## Code:.")
    return "Your reply could not be used: " + ("; ".join(problems) or "it contained no action") + \
        ". Answer again in the required format."


def _digest(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def _file_refs(messages: list[dict], frames: dict[str, str]) -> list[dict]:
    """The request as recorded: each image's data replaced by the file name of the frame it came from."""
    return [msg if not isinstance(msg.get("content"), list)
            else {**msg, "content": [_file_ref(part, frames) for part in msg["content"]]} for msg in messages]


def _file_ref(part: dict, frames: dict[str, str]) -> dict:
    if part.get("type") != "image_url":
        return part
    url = part["image_url"]["url"]
    if url.startswith("data:"):
        payload = base64.b64decode(url.split(",", 1)[1])
        url = frames.get(_digest(payload), f"(image, {len(payload)} bytes)")
    return {"type": "image_url", "image_url": {"url": url}}

