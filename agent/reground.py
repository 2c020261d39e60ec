"""Healing a moved pointer target during a live replay (``screenact replay --reground ocr|vlm``).

:class:`HealingDesktop` stands between the replay's driver and the sandbox. The driver sends the recorded
actions in their recorded order; before each pointer action the healer looks at the square around its
target on the screen now and in the recorded frame. When they differ (``agent.frame_diff``), the step's
recorded description (the reply's ``## Action:`` line, or the scripted step) is grounded with the chosen
grounder on the recorded frame and on the screen now; the action moves by the difference of the two
points and runs there. Each heal is kept as a (dx, dy) offset for the step's report line.

Grounding the same words on both screens measures how far the target moved, not how far a grounder's
point lies from where the model clicked.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.episode import Episode
from agent.frame_diff import DiffSettings, changed, gray, target_change
from agent.replay_steps import action_points
from agent.step import StepRecord
from tools.actions import Action
from tools.frame import Frame

_SHIFTED = (("x", "y"), ("x1", "y1"), ("x2", "y2"))


@dataclass
class _Planned:
    """One recorded action in the order the replay will send it, with what is needed to heal it."""

    step: int
    action: dict[str, Any]
    frame: Path | None
    description: str


@dataclass
class HealingDesktop:
    """A desktop that heals moved pointer targets; everything else goes to ``desktop`` unchanged."""

    desktop: Any
    plan: list[_Planned]
    grounder: Any
    settings: DiffSettings = field(default_factory=DiffSettings)
    healed: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    _next: int = 0

    def __getattr__(self, name: str) -> Any:
        if name == "desktop":  # not set yet (copying): no recursion
            raise AttributeError(name)
        return getattr(self.desktop, name)

    def act(self, action: Action) -> Any:
        """Run ``action``, moved first when its recorded target moved and the grounder found it again."""
        planned = self.plan[self._next] if self._next < len(self.plan) else None
        self._next += 1
        data = action.model_dump(mode="json")
        if planned is not None and planned.action.get("type") == data.get("type") and action_points(data):
            offset = self._offset(planned, data)
            if offset is not None and offset != (0, 0):
                self.healed.setdefault(planned.step, []).append(offset)
                action = type(action).model_validate(_moved(data, offset))
        return self.desktop.act(action)

    def _offset(self, planned: _Planned, data: dict[str, Any]) -> tuple[int, int] | None:
        """How far the target moved: None when it did not (or cannot be told), else the grounded offset."""
        if planned.frame is None or not planned.description:
            return None
        now = self.desktop.screenshot()
        try:
            old, new = gray(planned.frame), _gray_of(now)
        except (OSError, ValueError) as exc:  # a recorded frame that cannot be read (a hostile folder)
            self.failed.append(f"step {planned.step}: the recorded frame cannot be read ({exc})")
            return None
        if old.shape != new.shape:
            return None
        mask = changed(old, new, self.settings)
        if all(target_change(mask, p, self.settings) <= self.settings.target_tolerance for p in action_points(data)):
            return None
        before = _ground(self.grounder, Frame.open(planned.frame), planned.description)
        after = _ground(self.grounder, now, planned.description)
        if before is None or after is None:
            self.failed.append(f"step {planned.step}: {planned.description!r} not found "
                               f"{'on the recorded screen' if before is None else 'on the screen now'}")
            return None
        return after[0] - before[0], after[1] - before[1]


def _gray_of(frame: Any) -> Any:
    import numpy as np

    return np.asarray(frame.image().convert("L"))


def _ground(grounder: Any, frame: Any, description: str) -> tuple[int, int] | None:
    """The grounder's point for ``description`` (called from the act thread, which has no event loop)."""
    point = asyncio.run(grounder.ground(frame, description))
    return None if point is None else (int(point.x), int(point.y))


def _moved(data: dict[str, Any], offset: tuple[int, int]) -> dict[str, Any]:
    out = dict(data)
    for x, y in _SHIFTED:
        if out.get(x) is not None and out.get(y) is not None:
            out[x], out[y] = float(out[x]) + offset[0], float(out[y]) + offset[1]
    return out


def plan(ep: Episode, steps: list[StepRecord]) -> list[_Planned]:
    """The recorded actions of ``steps`` in order, each with its step's frame and description."""
    out = []
    for step in steps:
        words = step.action_text or step.instruction or _action_line(step.reply) or ""
        for e in step.executed:
            out.append(_Planned(step.index, e.action.model_dump(mode="json"), ep.own_frame(step), words))
    return out


def _action_line(reply: str | None) -> str | None:
    """The ``## Action:`` line of a reply recorded before steps kept it apart."""
    if not reply or "## Action:" not in reply:
        return None
    rest = reply.split("## Action:", 1)[1].strip()
    return rest.splitlines()[0].strip() if rest else None


def make_grounder(kind: str, *, base_url: str | None = None, model: str | None = None,
                  profile: str = "kimi-vl-thinking") -> Any:
    """The grounder ``--reground`` names: ``ocr`` (on the CPU) or ``vlm`` (the model server at ``base_url``)."""
    if kind == "ocr":
        from agent.grounders.ocr import OCRGrounder

        return OCRGrounder()
    if kind == "vlm":
        from agent.grounders import VLMGrounder
        from agent.models import OpenAIModel
        from agent.profiles import get_profile

        return VLMGrounder(OpenAIModel(model=model, base_url=base_url), get_profile(profile))
    raise ValueError(f"--reground must be ocr or vlm, not {kind!r}")
