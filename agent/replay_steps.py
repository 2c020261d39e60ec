"""A live replay step by step against its recording: the actions, the screen, and what was under the pointer.

For each pair of steps (recorded, replayed) three things are compared: the executed actions; the frame the
model saw then and sees now (``agent.frame_diff``, with a tolerance and masks); and, for each pointer
action, the square around its target point in both frames. The first step that differs on screen or under
the pointer gets a diff image (recorded | replayed | difference) in the replay folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from agent.episode import Episode
from agent.frame_diff import DiffSettings, compare, diff_image, gray, target_change
from agent.step import StepRecord


@dataclass
class StepCheck:
    """How one replayed step compared: actions equal, screen similarity, pointer targets unchanged, and the
    offset a regrounding moved a target by."""

    step: int
    actions: bool
    similarity: float | None = None  # None when a frame is missing on either side
    screen_same: bool = True
    target: bool | None = None  # None when the step has no pointer action
    moved: list[tuple[int, int]] = field(default_factory=list)

    def line(self) -> str:
        """``step 2  actions ✓  screen 99.1% ✗  target ✗`` (or ``target regrounded, moved by (0, -116)``)."""
        screen = "screen –" if self.similarity is None else \
            f"screen {self.similarity:.1%} {'✓' if self.screen_same else '✗'}"
        target = "target –" if self.target is None else f"target {'✓' if self.target else '✗'}"
        if self.moved:
            target = "target regrounded,"
        moved = "".join(f" moved by ({dx}, {dy})" for dx, dy in self.moved)
        return f"step {self.step}  actions {'✓' if self.actions else '✗'}  {screen}  {target}{moved}"


@dataclass
class Finding:
    """Something a step's comparison found: what differed, the two sides, and the diff image if one was saved."""

    step: int
    what: str
    recorded: Any
    replayed: Any
    image: Path | None = None


def action_points(action: dict[str, Any]) -> list[tuple[float, float]]:
    """The screen points a recorded action (as JSON) acts at: a click's point, a drag's start and end."""
    pairs = [("x", "y"), ("x1", "y1"), ("x2", "y2")]
    return [(float(action[a]), float(action[b])) for a, b in pairs
            if action.get(a) is not None and action.get(b) is not None]


def pointer_points(step: StepRecord) -> list[tuple[float, float]]:
    """The screen points a step's executed actions act at."""
    return [p for e in step.executed for p in action_points(e.action.model_dump(mode="json"))]


def check_step(old: Episode, rec: StepRecord, new: Episode, rep: StepRecord, actions_same: bool,
               settings: DiffSettings, imaged: bool) -> tuple[StepCheck, list[Finding]]:
    """Compare one replayed step with its recording; save a diff image unless ``imaged`` (one was saved already)."""
    check = StepCheck(rep.index, actions_same)
    a, b = old.own_frame(rec), new.own_frame(rep)
    if a is None or b is None:
        return check, []
    try:
        before, now = gray(a), gray(b)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        check.screen_same = False
        return check, [Finding(rep.index, "a frame cannot be read", str(a), f"{type(exc).__name__}: {exc}")]
    diff, mask = compare(before, now, settings)
    check.similarity, check.screen_same = diff.similarity, diff.same(settings)
    points = pointer_points(rec)
    off = [p for p in points if target_change(mask, p, settings) > settings.target_tolerance]
    if points:
        check.target = not off
    findings = []
    if not check.screen_same:
        where = diff.why or f"{1 - diff.similarity:.1%} of the screen changed, within {diff.box}"
        findings.append(Finding(rep.index, "the screen differs", "the recorded frame", where))
    if off:
        findings.append(Finding(rep.index, "a pointer target shows something else", f"the recorded screen at {off}",
                                "something else there now"))
    if findings and not imaged:
        image = diff_image(a, b, mask, new.folder / f"diff-step-{rep.index:04d}.png", points)
        for f in findings:
            f.image = image
    return check, findings
