"""What the client sees: the screen scaled to fit ``max_side``, and the transform from its pixels back.

A client with an image limit asks for ``screenshot(max_side=N)``; the frame is scaled (aspect kept)
so that its longer side is at most N, and from then on the session's pointer coordinates are pixels
of images of that size. They go back to screen pixels through the same ``tools.coords.Transform``
the model profiles use (pixel space of the sent image), so a point outside the image is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.images import ModelImage, prepare_image
from tools.coords import Transform

if TYPE_CHECKING:
    from tools.frame import Frame

def fit(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """The size of a width×height screen scaled down so that no side exceeds ``max_side`` (never up)."""
    longest = max(width, height)
    if max_side is None or max_side >= longest:
        return width, height
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


@dataclass(frozen=True)
class FitRule:
    """``agent.images.ImageRule`` for MCP clients: scale to fit ``max_side``; no token cost is known."""

    max_side: int | None

    def sent_size(self, width: int, height: int) -> tuple[int, int]:
        return fit(width, height, self.max_side)

    def tokens(self, width: int, height: int) -> int:
        return 0


def transform(screen_w: int, screen_h: int, max_side: int | None) -> Transform:
    """Client image pixels → screen pixels for a screen of this size seen at ``max_side``.

    No tolerance: a client's point outside the image it was shown is a mistake to report."""
    w, h = fit(screen_w, screen_h, max_side)
    return Transform.for_image("pixels", screen_w, screen_h, w, h, tolerance=0.0)


def encode(frame: "Frame", max_side: int | None) -> ModelImage:
    """The frame as the PNG the client gets (full size: the fast encoder; scaled: bicubic, then PNG)."""
    return prepare_image(frame, FitRule(max_side), "pixels")
