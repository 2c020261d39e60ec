"""An episode's model steps re-rendered for a model profile: the whole sample as that family would have seen
and answered it, for ``screenact export --target canonical`` and ``--profile``.

The target is the step's thought and its validated actions (what ran, in screen pixels) written by the
profile (``Profile.render_reply``: its action format, coordinate space and thinking markers). With
``prompt=True`` the prompt is rebuilt too, by the profile's own agent prompt and context budget: its system
prompt and wording, each screenshot prepared by its image rule (the image files are the bytes that family
would be sent), and the history of earlier steps replayed as that family writes them. A step without a
usable action is left out, and not replayed (its feedback speaks the recorded model's format).

Episode folders are foreign input: a frame is opened only when it is a regular PNG file inside its episode
folder whose size is a screen size.
"""

from __future__ import annotations

import asyncio
import base64
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.budget import BudgetError, BudgetSettings, ContextBudget
from agent.episode import Episode
from agent.images import ModelImage
from agent.profiles import Profile
from agent.prompts import HistoryStep
from agent.step import StepRecord
from tools.actions import Action, Done, Fail, describe
from tools.frame import SCREEN_SIDE, Frame
from tools.render import Unrenderable

FRAME_ERRORS = (ValueError, OSError, SyntaxError, Unrenderable)
"""What a damaged or hostile frame (or an action a format cannot say) raises: the step is left out."""
SECTIONS_FORMATS = ("kimi-vl", "pyautogui")
"""Formats whose replies carry a one-sentence ``## Action:`` line of their own."""


@dataclass
class Rendered:
    """One sample: the messages (images as ``{"type": "image"}`` slots), the images in order, the target."""

    messages: list[dict[str, Any]]
    images: list[bytes]
    target: str


def inside(folder: Path, name: Any) -> Path | None:
    """``folder/name`` when it is a regular file inside ``folder`` (no ``..``, no symlink out)."""
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        return None
    path = folder / name
    return path if path.is_file() and not path.is_symlink() else None


def png_size(path: Path) -> tuple[int, int]:
    """A PNG file's width and height from its header; ValueError for anything else."""
    with path.open("rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path.name} is not a PNG")
    return struct.unpack(">II", head[16:24])


def open_frame(ep: Episode, step: StepRecord) -> Frame:
    """The step's frame; ValueError when it is missing, outside the folder or not a screen-sized PNG."""
    path = inside(ep.folder, step.frame)
    if path is None:
        raise ValueError("its frame is missing")
    w, h = png_size(path)
    if not (SCREEN_SIDE[0] <= w <= SCREEN_SIDE[1] and SCREEN_SIDE[0] <= h <= SCREEN_SIDE[1]):
        raise ValueError(f"its frame is {w}x{h}, not a screen size")
    return Frame.open(path)


def screen_actions(step: StepRecord) -> list[Action]:
    """What the step did, in screen pixels: the actions that ran, and the answer it ended on."""
    actions: list[Action] = [e.action for e in step.executed if e.ok]
    if not any(isinstance(a, (Done, Fail)) for a in actions):  # an answer the loop ended on without executing
        actions += [a for a in step.parsed if isinstance(a, (Done, Fail))]
    return actions


def sentence(step: StepRecord, recorded_fmt: str | None) -> str:
    """The step's one-sentence action: its ``## Action:`` line when the recorded format has one, else the
    thought's last line (UI-TARS ends its thought with the next action), else what ran."""
    if recorded_fmt in SECTIONS_FORMATS and step.action_text:
        return step.action_text
    lines = [ln.strip() for ln in (step.thought or "").strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "; ".join(describe(a) for a in screen_actions(step)) or "Next step."


def target_of(step: StepRecord, profile: Profile, image: ModelImage, recorded_fmt: str | None) -> str | None:
    """The canonical reply of ``step`` in ``profile``'s format (None: nothing usable ran)."""
    actions = screen_actions(step)
    if not actions:
        return None
    return profile.render_reply(actions, image.transform, line=sentence(step, recorded_fmt), thought=step.thought)


def render_episode(ep: Episode, profile: Profile, recorded_fmt: str | None) -> Iterator[tuple[StepRecord, Rendered | str]]:
    """Every model step with its sample re-rendered for ``profile`` (prompt and target), or why it was left out."""
    budget = ContextBudget(profile, BudgetSettings(context_len=profile.recommended_max_model_len,
                                                   use_server_count=False))
    instruction = str((ep.task or {}).get("instruction") or "")
    history: list[HistoryStep] = []
    for step in ep.steps:
        if step.kind != "model" or step.request is None or step.reply is None:
            continue
        try:
            frame = open_frame(ep, step)
            image = profile.prepare(frame)
            target = target_of(step, profile, image, recorded_fmt)
        except FRAME_ERRORS as exc:
            yield step, str(exc)
            continue
        if target is None:
            yield step, "no usable action to render"
            continue
        try:
            fitted = asyncio.run(budget.fit_agent(instruction, history, image, frame.size,
                                                  max_tokens=profile.agent_sampling.max_tokens))
        except BudgetError as exc:
            yield step, f"the prompt does not fit {profile.name}'s context: {exc}"
            continue
        yield step, _slots(fitted.messages, target)
        read, _ = profile.read(target)
        _, answer = profile.split(target)
        history.append(HistoryStep(step.index, answer, step.thought, read.action_text,
                                   tuple(describe(a) for a in read.actions), None, image))


def _slots(messages: list[dict], target: str) -> Rendered:
    """The fitted request with each image turned into a slot and its bytes listed in order."""
    out, images = [], []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            parts = []
            for part in content:
                if part.get("type") == "image_url":
                    images.append(base64.b64decode(part["image_url"]["url"].split(",", 1)[1]))
                    parts.append({"type": "image"})
                else:
                    parts.append({"type": "text", "text": str(part.get("text", ""))})
            content = parts
        out.append({"role": message["role"], "content": content})
    out.append({"role": "assistant", "content": target})
    return Rendered(out, images, target)


__all__ = ["FRAME_ERRORS", "Rendered", "inside", "open_frame", "png_size", "render_episode", "screen_actions", "sentence", "target_of"]
