"""Grounding mode without the web framework: a screenshot + a description → the predicted point,
drawn on the screenshot."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, field
from typing import Any

from agent.models.base import ModelClient
from agent.profiles import Profile
from agent.ui.chat import ImageUpload


@dataclass
class GroundView:
    """What to show for one grounding request."""

    point: tuple[int, int] | None
    image_png: bytes             # the screenshot with the point drawn (unmarked when not found)
    reply: str
    thinking: str | None
    answer: str
    reason: str | None           # why there is no point
    details: dict[str, Any] = field(default_factory=dict)


async def ground_upload(model: ModelClient, profile: Profile, upload: ImageUpload, description: str, *,
                        context_len: int = 8192) -> GroundView:
    """Ask the model where ``description`` is on the uploaded screenshot. Model errors propagate
    (``agent.models.ModelError``, ``agent.budget.BudgetError``); "not found" is a GroundView with no point."""
    from agent.grounders import VLMGrounder
    from tools.frame import Frame

    image = await asyncio.to_thread(_open_rgb, upload.data)
    frame = Frame.from_image(image)
    grounding = await VLMGrounder(model, profile, context_len=context_len).locate(frame, description)
    reply = grounding.reply or ""
    thinking, answer = profile.split(reply)
    point = grounding.point.as_tuple() if grounding.point is not None else None
    png = await asyncio.to_thread(_draw, image, point, description)
    return GroundView(point, png, reply, thinking, answer, grounding.details.get("reason"), dict(grounding.details))


def _open_rgb(data: bytes) -> Any:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return img.convert("RGB")


def _draw(image: Any, point: tuple[int, int] | None, description: str) -> bytes:
    from agent.ui.drawing import draw_banner, draw_point, to_png, CLICK

    img = image.copy()
    if point is not None:
        short = description if len(description) <= 40 else description[:39] + "…"
        draw_point(img, point[0], point[1], CLICK, f"{short} ({point[0]}, {point[1]})")
    else:
        draw_banner(img, [("no point found", CLICK)])
    return to_png(img, max_width=2400)
