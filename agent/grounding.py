"""Grounding: a description of one element ("the Save button") → the screen pixel to act on.

Scripted tasks list steps in words; a :class:`Grounder` turns each step's target into a point on the
live screen. Two kinds exist:

- :class:`VLMGrounder` asks a vision-language model behind any ``ModelClient`` with the profile's
  grounding prompt (ScreenSpot-style: one screenshot + one instruction → one point), within the
  context budget, and maps the model's point to screen pixels with the image's ``Transform``;
- ``agent.models.ocr.OCRGrounder`` reads the screen's text on the CPU and matches it (no model server).

``ground()`` answers only the point (None: not found); ``locate()`` answers the whole record — the
point, the raw reply, the latency and the details that explain it — for episodes and reports.
"""

from __future__ import annotations

import asyncio

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from agent.budget import BudgetSettings, ContextBudget
from agent.models.base import ModelClient, TokenCounter, split_thinking
from agent.prompts import build_grounding_messages
from tools.parse import parse_point

if TYPE_CHECKING:
    from agent.profiles import Profile
    from tools.frame import Frame


@dataclass(frozen=True)
class Point:
    """A point in screen pixels (0,0 at the top-left of the screen)."""

    x: int
    y: int

    def as_tuple(self) -> tuple[int, int]:
        """(x, y)."""
        return (self.x, self.y)


@dataclass
class Grounding:
    """The full answer of a grounder for one description.

    ``point`` is None when the element was not found (``details["reason"]`` says why). ``reply`` is
    the model's raw text (None for grounders without a model). ``details`` holds what explains the
    point: for OCR the matched text, its score and box; for a VLM the model-space point, the usage
    and the budget.
    """

    point: Point | None
    description: str
    grounder: str
    reply: str | None = None
    latency_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        """Whether a point was found."""
        return self.point is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for episode step lines)."""
        return {
            "point": None if self.point is None else [self.point.x, self.point.y],
            "description": self.description,
            "grounder": self.grounder,
            "reply": self.reply,
            "latency_s": round(self.latency_s, 4),
            "details": self.details,
        }


@runtime_checkable
class Grounder(Protocol):
    """Turns an element description into a screen point on a frame."""

    name: str

    async def ground(self, frame: "Frame", description: str) -> Point | None:
        """The screen pixel of the described element, or None when it cannot be found."""
        ...

    async def locate(self, frame: "Frame", description: str) -> Grounding:
        """The full record of one grounding (``ground()`` is ``locate().point``)."""
        ...


class VLMGrounder:
    """Grounding by a vision-language model through its profile's grounding prompt.

    Each call prepares the frame the way the profile says (size, encoding, Transform), builds the
    grounding messages, checks them against ``context_len`` (lowering max_tokens if needed; a request
    that cannot fit raises ``agent.budget.BudgetError``), sends them with the profile's grounding
    sampling and reads the point with ``tools.parse.parse_point``. A point outside the screenshot by
    more than the Transform's tolerance, a reply without a point, or a reply that ended inside its
    thinking gives ``point=None`` with the reason in ``details``. Errors of the model server
    (``agent.models.ModelError``) propagate: "the server failed" is not "not found".
    """

    def __init__(self, model: ModelClient, profile: "Profile", *, context_len: int = 8192,
                 budget: BudgetSettings | None = None, name: str | None = None) -> None:
        self.model = model
        self.profile = profile
        self.name = name or f"vlm:{profile.name}"
        settings = budget or BudgetSettings(context_len=context_len)
        counter = model if isinstance(model, TokenCounter) and settings.use_server_count else None
        self.budget = ContextBudget(profile, settings, counter)

    async def ground(self, frame: "Frame", description: str) -> Point | None:
        """The screen pixel of the described element, or None."""
        return (await self.locate(frame, description)).point

    async def locate(self, frame: "Frame", description: str) -> Grounding:
        """Ask the model once and return the full record (see the class docstring)."""
        started = time.perf_counter()
        image = await asyncio.to_thread(self.profile.prepare, frame)  # resizing a 4K frame takes ~1 s
        messages = build_grounding_messages(self.profile, image, description)
        sampling = self.profile.sampling("grounding")
        fitted = await self.budget.fit_messages(messages, sampling.max_tokens, floor=sampling.max_tokens_floor)
        params = {**sampling.params(), "max_tokens": fitted.max_tokens}
        reply = await self.model.complete(fitted.messages, **params)
        details: dict[str, Any] = {
            "model": reply.model,
            "usage": reply.usage.model_dump(),
            "prompt_tokens": fitted.prompt_tokens,
            "image_tokens": fitted.image_tokens,
            "max_tokens": fitted.max_tokens,
            "finish_reason": reply.finish_reason,
            "sent_size": [image.width, image.height],
            "space": self.profile.space,
            "model_latency_s": round(reply.latency_s, 4),
        }
        point: Point | None = None
        model_point = parse_point(reply.text, self.profile.fmt)
        if model_point is None:
            _, _, complete = split_thinking(reply.text, self.profile.thinking)
            details["reason"] = ("the reply ended inside its thinking, before any answer" if not complete
                                 else "the reply names no point")
        else:
            details["model_point"] = list(model_point)
            transform = image.transform
            if transform.inside(*model_point):
                point = Point(*transform.to_screen(*model_point))
            else:
                details["reason"] = (f"the point ({model_point[0]:g}, {model_point[1]:g}) is outside the "
                                     f"screenshot; {transform.describe_range()}")
        return Grounding(point, description, self.name, reply=reply.text,
                         latency_s=time.perf_counter() - started, details=details)


__all__ = ["Grounder", "Grounding", "Point", "VLMGrounder"]
