"""Scripted mode: a task's steps in words, grounded one at a time on the live screen and executed.

"click the Save button" → the grounder finds the Save button on the current frame → a click there →
policy → act → settle → recorded like a model step (``"kind": "scripted"``, with the grounding).
A step whose target cannot be found ends the episode as ``fail`` with the reason, recorded.
Besides the grammar of ``tasks.steps``, a step may be ``done`` or ``fail: <reason>`` (``give up: …``),
so that an infeasible task can be scripted honestly.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.episode import EpisodeWriter
from agent.execute import Desktop, RunLimits, SettleSettings, capture, execute, ms
from agent.grounders import Grounder, Grounding
from agent.recorder import Recorder, RunOutcome, recorded
from agent.step import GroundingRecord, StepRecord
from tasks.steps import Step, StepParseError, parse_step
from tools.actions import Action, Click, Done, Drag, Fail, Key, Scroll, TypeText, Wait
from tools.policy import Policy



@dataclass
class ScriptedConfig:
    """Knobs of a scripted run."""

    settle_quiet_s: float = 0.12
    settle_timeout_s: float = 3.0
    relook_s: float = 2.0  # how long a step whose target is missing waits for the screen to change
    time_limit_s: float = 600.0


class ScriptedRunner:
    """The scripted driver: runs ``task.steps`` with a grounder; the model never plans."""

    mode = "scripted"

    def __init__(self, grounder: Grounder, *, policy: Policy | None = None, config: ScriptedConfig | None = None,
                 cancel: Any = None) -> None:
        self.grounder = grounder
        self.policy = policy or Policy(max_reply_wait=Policy.max_wait)  # task steps are trusted: one wait as long as allowed
        self.config = config or ScriptedConfig()
        self.cancel = cancel  # a threading.Event (or anything with is_set()) that ends the run as cancelled

    def describe(self) -> dict[str, Any]:
        """What ``task.json`` records about this driver."""
        return {"mode": self.mode, "grounder": self.grounder.name}

    async def run(self, task: Any, sandbox: Desktop, folder: str | Path,
                  writer: EpisodeWriter | None = None) -> RunOutcome:
        """Execute every step of ``task.steps`` into the episode ``folder`` (see :meth:`drive`)."""
        writer = writer or EpisodeWriter(folder, {"id": task.id, "instruction": task.instruction,
                                                  "steps": list(task.steps or []), **self.describe()})
        return await self.drive(task, sandbox, Recorder(writer))

    async def drive(self, task: Any, desktop: Desktop, recorder: Recorder) -> RunOutcome:
        """Execute every step of ``task.steps`` in order; the outcome's status is done, fail, error,
        time_limit or cancelled, and the episode is always finished."""
        return await recorded(recorder, lambda outcome: self._steps(task, desktop, recorder, outcome))

    async def _steps(self, task: Any, desktop: Desktop, recorder: Recorder, outcome: RunOutcome) -> RunOutcome:
        if not task.steps:
            outcome.status, outcome.reason = "error", "the task has no scripted steps"
            return outcome
        self.policy.reset()
        limits = RunLimits(len(task.steps), self.config.time_limit_s, cancel=self.cancel)
        frame, capture_s = await capture(desktop)
        for index, text in enumerate(task.steps, 1):
            if (stop := limits.check(taken=index - 1)) is not None:
                outcome.status, outcome.reason = stop
                return outcome
            step = StepRecord.start(index, "scripted", instruction=text, timings={"capture": ms(capture_s)})
            t = time.perf_counter()
            step.frame = recorder.save_frame(index, frame)
            step.timings["encode"] = ms(time.perf_counter() - t)
            ended, frame = await self._step(step, text, frame, desktop, limits, outcome, recorder)
            recorder.step(step)
            if ended is not None:
                return ended
            capture_s = 0.0
        return outcome.end_with(Done())

    async def _changed_screen(self, desktop: Desktop, frame: Any, limits: RunLimits) -> Any | None:
        """The first frame that differs from ``frame`` within ``relook_s`` (and the run's deadline), else None."""
        end = min(time.monotonic() + self.config.relook_s, limits.deadline)
        before = frame.array()[:, :, :3].tobytes()
        while time.monotonic() < end:
            await asyncio.sleep(self.config.settle_quiet_s)
            later, _ = await capture(desktop)
            if later.array()[:, :, :3].tobytes() != before:
                return later
        return None

    async def _step(self, step: StepRecord, text: str, frame: Any, desktop: Desktop, limits: RunLimits,
                    outcome: RunOutcome, recorder: Recorder) -> tuple[RunOutcome | None, Any]:
        """Ground and execute one step into ``step``: (the outcome when the episode ends here, else None;
        the screen after it)."""
        where = f"step {step.index} {text!r}"
        try:
            actions = await self._actions(step, text, frame)
            if any(g.point is None for g in step.grounding):
                # the screen may have settled mid-redraw (a tab's page not drawn yet): one more look,
                # grounded again only once the screen has changed
                later = await self._changed_screen(desktop, frame, limits)
                if later is not None:
                    frame = later
                    step.frame = recorder.save_frame(step.index, frame)
                    actions = await self._actions(step, text, frame)
        except StepParseError as exc:
            return _stop(step, outcome, "error", f"{where}: {exc}"), frame
        missing = next((g for g in step.grounding if g.point is None), None)
        if missing is not None:
            return _stop(step, outcome, "fail", f"{where}: could not find {missing.description!r} on the screen"), frame
        acted = await execute(desktop, actions, step, policy=self.policy, deadline=limits.deadline,
                              settling=SettleSettings(self.config.settle_quiet_s, self.config.settle_timeout_s))
        if step.rejections:
            r = step.rejections[0]
            failed = any(not e.ok for e in step.executed)
            return _stop(step, outcome, "error", f"{where}: {r.what} "
                                                 f"{'failed' if failed else 'rejected'}: {r.message}"), frame
        if acted.terminal is not None:
            return outcome.end_with(acted.terminal), frame
        return None, acted.frame

    async def _actions(self, step: StepRecord, text: str, frame: Any) -> list[Action]:
        """The actions of a step in words, in screen pixels; its groundings land in ``step.grounding``."""
        parsed = parse_step(text)
        if parsed.kind in ("done", "fail"):
            return [Done(answer=parsed.text) if parsed.kind == "done" else Fail(reason=parsed.text)]
        t = time.perf_counter()
        actions, groundings = await self._plan(parsed, frame)
        step.timings["ground"] = ms(time.perf_counter() - t)
        step.grounding = [GroundingRecord.of(g) for g in groundings]
        return actions

    async def _plan(self, step: Step, frame: Any) -> tuple[list[Action], list[Grounding]]:
        """The actions for one step and the groundings they needed."""
        groundings: list[Grounding] = []

        async def point(description: str | None) -> tuple[float, float] | None:
            if not description:
                return None
            g = await self.grounder.locate(frame, description)
            groundings.append(g)
            return None if g.point is None else (g.point.x, g.point.y)

        kind = step.kind
        if kind in ("click", "double_click", "right_click"):
            p = await point(step.target)
            if p is None:
                return [], groundings
            button = "right" if kind == "right_click" else "left"
            return [Click(x=p[0], y=p[1], button=button, clicks=2 if kind == "double_click" else 1)], groundings
        if kind == "type":
            actions: list[Action] = []
            if step.target:
                p = await point(step.target)
                if p is None:
                    return [], groundings
                actions.append(Click(x=p[0], y=p[1]))
            actions.append(TypeText(text=step.text or ""))
            return actions, groundings
        if kind == "press":
            return [Key(keys=list(step.keys or []))] * max(1, step.amount), groundings
        if kind == "scroll":
            p = await point(step.target) if step.target else None
            if step.target and p is None:
                return [], groundings
            dy = step.amount if step.direction == "up" else -step.amount
            return [Scroll(dy=dy, x=p[0] if p else None, y=p[1] if p else None)], groundings
        if kind == "drag":
            a = await point(step.target)
            b = await point(step.to) if a is not None else None
            if a is None or b is None:
                return [], groundings
            return [Drag(x1=a[0], y1=a[1], x2=b[0], y2=b[1])], groundings
        if kind == "wait":
            return [Wait(seconds=step.seconds or 1.0)], groundings
        raise StepParseError(f"unsupported step kind {kind!r}")



def _stop(step: StepRecord, outcome: RunOutcome, status: str, reason: str) -> RunOutcome:
    step.error = reason
    outcome.status, outcome.reason = status, reason
    return outcome
