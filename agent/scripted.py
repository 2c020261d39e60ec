"""Scripted mode: a task's steps in words, grounded one at a time on the live screen and executed.

"click the Save button" → the grounder finds the Save button on the current frame → a click there →
policy → act → settle → recorded like a model step (``"kind": "scripted"``, with the grounding).
A step whose target cannot be found ends the episode as ``fail`` with the reason, recorded.
Besides the grammar of ``tasks.steps``, a step may be ``done`` or ``fail: <reason>`` (``give up: …``),
so that an infeasible task can be scripted honestly.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agent.episode import EpisodeWriter
from agent.grounders import Grounder, Grounding
from agent.loop import RunOutcome, _ms, recorded
from tasks.steps import Step, StepParseError, parse_step
from tools.actions import Action, Click, Done, Drag, Fail, Key, Scroll, TypeText, Wait, describe
from tools.policy import Policy, Rejection
from tools.settle import settle

_TERMINAL = re.compile(r"^\s*(?:(done|finish(?:ed)?|完成)|(?:fail|give up|无法完成|放弃))\s*[:：]?\s*(.*)$", re.I)


class Desktop(Protocol):
    width: int
    height: int

    def screenshot(self): ...
    def act(self, action: Action): ...


@dataclass
class ScriptedConfig:
    """Knobs of a scripted run."""

    settle_quiet_s: float = 0.12
    settle_timeout_s: float = 3.0
    time_limit_s: float = 600.0


class ScriptedRunner:
    """Runs ``task.steps`` with a grounder; the model never plans."""

    def __init__(self, grounder: Grounder, *, policy: Policy | None = None, config: ScriptedConfig | None = None,
                 cancel: Any = None) -> None:
        self.grounder = grounder
        self.policy = policy or Policy()
        self.config = config or ScriptedConfig()
        self.cancel = cancel  # a threading.Event (or anything with is_set()) that ends the run as cancelled

    async def run(self, task: Any, sandbox: Desktop, folder: str | Path,
                  writer: EpisodeWriter | None = None) -> RunOutcome:
        """Execute every step of ``task.steps`` in order; the outcome's status is done, fail or error."""
        writer = writer or EpisodeWriter(folder, {"id": task.id, "instruction": task.instruction, "mode": "scripted",
                                                  "steps": list(task.steps or []), "grounder": self.grounder.name})
        return await recorded(writer, lambda outcome: self._run(task, sandbox, writer, outcome))

    async def _run(self, task: Any, sandbox: Desktop, writer: EpisodeWriter, outcome: RunOutcome) -> RunOutcome:
        if not task.steps:
            outcome.status, outcome.reason = "error", "the task has no scripted steps"
            return outcome
        self.policy.reset()
        deadline = time.monotonic() + self.config.time_limit_s
        screen = (sandbox.width, sandbox.height)
        t = time.perf_counter()
        frame = await asyncio.to_thread(sandbox.screenshot)
        capture_s = time.perf_counter() - t
        for index, text in enumerate(task.steps, 1):
            if self.cancel is not None and self.cancel.is_set():
                outcome.status, outcome.reason = "cancelled", "stopped by the user"
                return outcome
            if time.monotonic() > deadline:
                outcome.status, outcome.reason = "time_limit", f"time limit of {self.config.time_limit_s:g} s reached"
                return outcome
            step: dict[str, Any] = {"index": index, "kind": "scripted", "instruction": text}
            timings = {"capture": _ms(capture_s)}
            t = time.perf_counter()
            step["frame"] = writer.save_frame(index, frame)
            timings["encode"] = _ms(time.perf_counter() - t)
            terminal = _TERMINAL.match(text)
            if terminal:
                final: Action = Done() if terminal.group(1) else Fail(reason=terminal.group(2) or None)
                step["executed"] = [{"action": final.model_dump(mode="json"), "ok": True}]
                step["timings"] = timings
                writer.record(step)
                outcome.final_action = final.model_dump(mode="json")
                outcome.status, outcome.reason = final.type, getattr(final, "reason", None)
                return outcome
            try:
                parsed = parse_step(text)
            except StepParseError as exc:
                return self._stop(writer, step, timings, outcome, "error", f"step {index} {text!r}: {exc}")
            t = time.perf_counter()
            actions, groundings = await self._plan(parsed, frame)
            timings["ground"] = _ms(time.perf_counter() - t)
            step["grounding"] = [_grounding_record(g) for g in groundings]
            missing = next((g for g in groundings if g.point is None), None)
            if missing is not None:
                return self._stop(writer, step, timings, outcome, "fail",
                                  f"step {index} {text!r}: could not find {missing.description!r} on the screen")
            executed: list[dict[str, Any]] = []
            act_s = 0.0
            for action in actions:
                checked = self.policy.check(action, *screen)
                if isinstance(checked, Rejection):
                    step["rejections"] = [{"action": action.model_dump(mode="json"), "message": checked.message}]
                    step["executed"] = executed
                    return self._stop(writer, step, timings, outcome, "error",
                                      f"step {index} {text!r}: {describe(action)} rejected: {checked.message}")
                t = time.perf_counter()
                result = await asyncio.to_thread(sandbox.act, checked)
                act_s += time.perf_counter() - t
                executed.append({"action": checked.model_dump(mode="json"), "ok": result.ok, "error": result.error})
                if not result.ok:
                    step["executed"] = executed
                    return self._stop(writer, step, timings, outcome, "error",
                                      f"step {index} {text!r}: {describe(checked)} failed: {result.error}")
            step["executed"] = executed
            timings["act"] = _ms(act_s)
            t = time.perf_counter()
            settled = await asyncio.to_thread(settle, sandbox.screenshot, quiet=self.config.settle_quiet_s,
                                              timeout=self.config.settle_timeout_s)
            timings["settle"] = _ms(time.perf_counter() - t)
            step["settle"] = {"stable": settled.stable, "changed": settled.changed, "frames": settled.frames}
            step["timings"] = timings
            writer.record(step)
            frame, capture_s = settled.frame, 0.0
        outcome.status, outcome.reason = "done", None
        outcome.final_action = Done().model_dump(mode="json")
        return outcome

    def _stop(self, writer: EpisodeWriter, step: dict[str, Any], timings: dict[str, float], outcome: RunOutcome,
              status: str, reason: str) -> RunOutcome:
        step["timings"] = timings
        step["error"] = reason
        writer.record(step)
        outcome.status, outcome.reason = status, reason
        return outcome

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


def _grounding_record(g: Grounding) -> dict[str, Any]:
    return {"description": g.description, "point": None if g.point is None else [g.point.x, g.point.y],
            "grounder": g.grounder, "reply": g.reply, "latency_s": round(g.latency_s, 4), "details": g.details}
