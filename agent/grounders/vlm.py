"""VLMGrounder: grounding by a vision-language model through its profile's grounding prompt."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from agent.budget import DEFAULT_CONTEXT_LEN, BudgetSettings, ContextBudget
from agent.grounders.base import Grounding, Point
from agent.models.base import ModelClient, TokenCounter
from agent.prompts import build_grounding_messages
from tools.parse import parse_point

if TYPE_CHECKING:
    from agent.profiles import Profile
    from tools.frame import Frame


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

    def __init__(self, model: ModelClient, profile: "Profile", *, context_len: int = DEFAULT_CONTEXT_LEN,
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
        model_point = parse_point(reply.text, self.profile.fmt, limits=self.profile.parse_limits)
        if model_point is None:
            complete = reply.split(self.profile.thinking).thinking_complete
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


__all__ = ["VLMGrounder"]
