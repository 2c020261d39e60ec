"""The perceive–think–act loop: observe → prompt → model → parse → transform → validate → act → settle.

``Agent.run`` drives one task in one sandbox with one model and records every step as it goes
(``agent.episode``). A reply that cannot be parsed, or an action the policy rejects, goes back to
the model as text and does not count as an action; after ``max_bad_replies`` in a row the episode
ends as ``error``. Ctrl-C (or cancelling the coroutine) ends it as ``cancelled`` with every
completed step on disk.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from agent.budget import BudgetSettings, ContextBudget
from agent.episode import EpisodeWriter
from agent.models.base import ModelClient, ModelError
from agent.profiles import Profile
from agent.prompts import HistoryStep
from tools.actions import Action, Done, Fail, describe
from tools.parse import ParseError, parse
from tools.policy import Policy, Rejection
from tools.settle import settle


class Desktop(Protocol):
    """What the loop needs of a sandbox (``sandbox.Sandbox`` provides it)."""

    width: int
    height: int

    def screenshot(self): ...
    def act(self, action: Action): ...


class TaskLike(Protocol):
    """What the loop needs of a task (``tasks.Task`` provides it)."""

    id: str
    instruction: str
    max_steps: int


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
class RunOutcome:
    """How an episode ended: ``status`` is done, fail, max_steps, time_limit, error or cancelled."""

    status: str
    steps: int
    final_action: dict[str, Any] | None = None
    reason: str | None = None
    folder: Path | None = None
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0})


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


async def recorded(writer: EpisodeWriter,
                   body: Callable[[RunOutcome], Awaitable[RunOutcome]]) -> RunOutcome:
    """Run an episode's ``body`` and always finish its folder: a model or sandbox fault becomes a recorded
    ``error``, Ctrl-C or task cancellation a recorded ``cancelled`` (and is re-raised)."""
    outcome = RunOutcome("error", 0, folder=writer.folder)
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
        outcome.steps = writer.count
        writer.finish({"status": outcome.status, "reason": outcome.reason,
                       "final_action": outcome.final_action, "usage": outcome.usage})
    return outcome


class Agent:
    """Runs tasks autonomously: the model plans every step from the instruction and the screen."""

    def __init__(self, model: ModelClient, profile: Profile, *, policy: Policy | None = None,
                 config: AgentConfig | None = None, model_name: str | None = None, cancel: Any = None) -> None:
        self.cancel = cancel  # a threading.Event (anything with is_set()): ends the run as cancelled
        self.model = model
        self.profile = profile
        self.policy = policy or Policy()
        self.config = config or AgentConfig()
        self.model_name = model_name
        counter = model if hasattr(model, "count_tokens") and self.config.budget.use_server_count else None
        self.budget = ContextBudget(profile, self.config.budget, counter)

    async def run(self, task: TaskLike, sandbox: Desktop, folder: str | Path,
                  writer: EpisodeWriter | None = None) -> RunOutcome:
        """Drive ``task`` in ``sandbox`` until done, fail, a limit, an error or cancellation."""
        writer = writer or EpisodeWriter(folder, {"id": task.id, "instruction": task.instruction,
                                                  "mode": "auto", "profile": self.profile.name,
                                                  "model": self.model_name})
        return await recorded(writer, lambda outcome: self._run(task, sandbox, writer, outcome))

    async def _run(self, task: TaskLike, sandbox: Desktop, writer: EpisodeWriter, outcome: RunOutcome) -> RunOutcome:
        cfg = self.config
        max_steps = cfg.max_steps or task.max_steps
        deadline = time.monotonic() + cfg.time_limit_s
        screen = (sandbox.width, sandbox.height)
        self.policy.reset()
        history: list[HistoryStep] = []
        frames: dict[str, str] = {}  # digest of image bytes -> frame file, for the recorded request
        feedback: str | None = None
        bad_in_a_row = 0
        actions_taken = 0
        index = 0
        t = time.perf_counter()
        frame = await asyncio.to_thread(sandbox.screenshot)
        capture_s = time.perf_counter() - t
        while True:
            if self.cancel is not None and self.cancel.is_set():
                outcome.status, outcome.reason = "cancelled", "stopped by the user"
                return outcome
            if actions_taken >= max_steps:
                outcome.status, outcome.reason = "max_steps", f"no DONE or FAIL within {max_steps} steps"
                return outcome
            if time.monotonic() > deadline:
                outcome.status, outcome.reason = "time_limit", f"time limit of {cfg.time_limit_s:g} s reached"
                return outcome
            index += 1
            step: dict[str, Any] = {"index": index, "kind": "model"}
            timings: dict[str, float] = {"capture": _ms(capture_s)}
            t = time.perf_counter()
            image = self.profile.prepare(frame)
            png = image.data if image.mime == "image/png" and image.sent_size == frame.size else None
            step["frame"] = writer.save_frame(index, frame, png)
            frames[_digest(image.data)] = step["frame"]
            timings["encode"] = _ms(time.perf_counter() - t)
            if history and feedback:
                history[-1] = _with_feedback(history[-1], feedback)
            fitted = await self.budget.fit_agent(task.instruction, history, image, screen,
                                                 max_tokens=self.profile.agent_sampling.max_tokens)
            sampling = {**self.profile.sampling("agent").params(), "max_tokens": fitted.max_tokens}
            step["request"] = {"messages": _file_refs(fitted.messages, frames), "sampling": sampling,
                               "prompt_tokens": fitted.prompt_tokens, "image_tokens": fitted.image_tokens,
                               "exact_count": fitted.exact, "history": {"images": fitted.image_steps,
                                                                        "text": fitted.text_steps,
                                                                        "dropped": fitted.dropped_steps}}
            t = time.perf_counter()
            reply = await self.model.complete(fitted.messages, **sampling)
            timings["model"] = _ms(time.perf_counter() - t)
            step["reply"] = reply.text
            step["usage"] = reply.usage.model_dump() if reply.usage else None
            if reply.usage:
                outcome.usage["prompt_tokens"] += reply.usage.prompt_tokens or 0
                outcome.usage["completion_tokens"] += reply.usage.completion_tokens or 0
            t = time.perf_counter()
            try:
                parsed = parse(reply.text, self.profile.fmt)
                problems = list(parsed.errors)
            except ParseError as exc:
                parsed, problems = None, [str(exc)]
            timings["parse"] = _ms(time.perf_counter() - t)
            step["thought"] = parsed.thought if parsed else self.profile.split(reply.text)[0]
            step["parsed"] = [a.model_dump(mode="json") for a in parsed.actions] if parsed else []
            step["errors"] = problems
            answer = parsed.answer if parsed else self.profile.split(reply.text)[1]
            action_text = getattr(parsed, "action_text", None) if parsed else None
            if not parsed or not parsed.actions:
                bad_in_a_row += 1
                feedback = _reply_feedback(problems, reply)
                step["feedback"] = feedback
                step["timings"] = timings
                writer.record(step)
                history.append(HistoryStep(index, answer, step["thought"], action_text, (), feedback, image))
                if bad_in_a_row >= cfg.max_bad_replies:
                    outcome.status = "error"
                    outcome.reason = f"{bad_in_a_row} unusable replies in a row; last: {problems[:1]}"
                    return outcome
                capture_s = 0.0
                continue
            # Transform, validate and execute the actions of this reply, in order.
            executed: list[dict[str, Any]] = []
            rejections: list[dict[str, Any]] = []
            done_descriptions: list[str] = []
            terminal: Action | None = None
            act_s = 0.0
            for action in parsed.actions:
                screen_action = image.transform.action_to_screen(action)
                by_policy = not isinstance(screen_action, Rejection)
                if by_policy:
                    screen_action = self.policy.check(screen_action, *screen)
                if isinstance(screen_action, Rejection):
                    rejection = {"action": action.model_dump(mode="json"), "message": screen_action.message}
                    if by_policy and screen_action.action is not None:  # the policy saw screen pixels
                        rejection["screen_action"] = screen_action.action
                    rejections.append(rejection)
                    break
                if isinstance(screen_action, (Done, Fail)):
                    terminal = screen_action
                    executed.append({"action": screen_action.model_dump(mode="json"), "ok": True})
                    done_descriptions.append(describe(action))
                    break
                t = time.perf_counter()
                result = await asyncio.to_thread(sandbox.act, screen_action)
                act_s += time.perf_counter() - t
                executed.append({"action": screen_action.model_dump(mode="json"), "ok": result.ok,
                                 "error": result.error})
                done_descriptions.append(describe(action))
                if not result.ok:
                    rejections.append({"action": action.model_dump(mode="json"), "message": result.error})
                    break
            timings["act"] = _ms(act_s)
            step["executed"] = executed
            step["rejections"] = rejections
            feedback = "; ".join(f"{describe_dict(r['action'])} was not executed: {r['message']}"
                                 for r in rejections) or None
            step["feedback"] = feedback
            counted = any(e["ok"] for e in executed)
            if counted:
                actions_taken += 1
                bad_in_a_row = 0
            else:
                bad_in_a_row += 1
            if terminal is None and executed:
                t = time.perf_counter()
                settled = await asyncio.to_thread(settle, sandbox.screenshot, quiet=cfg.settle_quiet_s,
                                                  timeout=cfg.settle_timeout_s)
                timings["settle"] = _ms(time.perf_counter() - t)
                step["settle"] = {"stable": settled.stable, "changed": settled.changed, "frames": settled.frames}
                frame, capture_s = settled.frame, 0.0
            else:
                t = time.perf_counter()
                frame = await asyncio.to_thread(sandbox.screenshot)
                capture_s = time.perf_counter() - t
            step["timings"] = timings
            writer.record(step)
            history.append(HistoryStep(index, answer, step["thought"], action_text, tuple(done_descriptions),
                                       None, image))
            if terminal is not None:
                outcome.final_action = terminal.model_dump(mode="json")
                outcome.status = terminal.type
                outcome.reason = getattr(terminal, "reason", None) or getattr(terminal, "answer", None)
                return outcome
            if not counted and bad_in_a_row >= cfg.max_bad_replies:
                outcome.status = "error"
                outcome.reason = f"{bad_in_a_row} rejected replies in a row; last: {feedback}"
                return outcome


def describe_dict(action: dict[str, Any]) -> str:
    """``describe`` for an action stored as a dict."""
    from tools.actions import ACTION_ADAPTER

    try:
        return describe(ACTION_ADAPTER.validate_python(action))
    except Exception:
        return str(action)


def _with_feedback(step: HistoryStep, feedback: str) -> HistoryStep:
    from dataclasses import replace

    return replace(step, feedback=feedback)


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
    out = []
    for msg in messages:
        content = msg.get("content")
        if not isinstance(content, list):
            out.append(msg)
            continue
        parts = []
        for part in content:
            if part.get("type") == "image_url":
                url = part["image_url"]["url"]
                if url.startswith("data:"):
                    payload = base64.b64decode(url.split(",", 1)[1])
                    url = frames.get(_digest(payload), f"(image, {len(payload)} bytes)")
                part = {"type": "image_url", "image_url": {"url": url}}
            parts.append(part)
        out.append({**msg, "content": parts})
    return out
