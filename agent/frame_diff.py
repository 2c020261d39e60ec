"""Comparing two screenshots the way a replay needs: a perceptual difference with a tolerance.

Both frames are compared in grayscale. A pixel has changed when its gray level moved by more than
``level``; masked rectangles (a clock, say) never change. A text caret is a vertical line one or two
pixels wide: a changed pixel only counts when its left and right neighbours changed too, so a caret
that is drawn in one frame and not in the other is not a difference, while a moved button, a renamed
label or a dialog that did not open is. The frames carry no pointer image (the sandbox captures the
X screen, which does not draw the cursor), so the cursor needs no mask.

The screen similarity is the share of ``block``-sized squares without a changed pixel; a screen is the
same while the share of changed blocks stays within ``tolerance``. Around a pointer target the share of
changed pixels in a square of ``radius`` says whether a click would land on the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

Box = tuple[int, int, int, int]
"""A rectangle in screen pixels: (x1, y1, x2, y2), right and bottom edges excluded."""


@dataclass(frozen=True)
class DiffSettings:
    """How strict a replay compares screens: ``tolerance`` is the share of changed blocks that still counts
    as the same screen, ``target_tolerance`` the share of changed pixels around a pointer target."""

    tolerance: float = 0.002
    masks: tuple[Box, ...] = ()
    level: int = 24
    block: int = 16
    radius: int = 24
    target_tolerance: float = 0.04


@dataclass(frozen=True)
class FrameDiff:
    """How two frames differ: the similarity (1.0 = no changed block), and the box around the changes."""

    similarity: float
    box: Box | None = None
    why: str | None = None  # set when the frames cannot be compared (sizes differ)

    def same(self, settings: DiffSettings) -> bool:
        """Whether the frames count as the same screen."""
        return self.why is None and 1.0 - self.similarity <= settings.tolerance


def gray(path: str | Path) -> np.ndarray:
    """A PNG as an array of gray levels (height × width, uint8)."""
    with Image.open(path) as img:
        return np.asarray(img.convert("L"))


def changed(a: np.ndarray, b: np.ndarray, settings: DiffSettings) -> np.ndarray:
    """Which pixels changed between two frames of one size (a boolean array), carets and masks left out."""
    moved = np.abs(a.astype(np.int16) - b.astype(np.int16)) > settings.level
    for x1, y1, x2, y2 in settings.masks:
        moved[max(0, y1):max(0, y2), max(0, x1):max(0, x2)] = False
    wide = moved.copy()  # a pixel counts when its row neighbours changed too: a 1-2 px caret drops out
    wide[:, 1:] &= moved[:, :-1]
    wide[:, :-1] &= moved[:, 1:]
    wide[:, 0] = wide[:, -1] = False
    return wide


def compare(a: np.ndarray, b: np.ndarray, settings: DiffSettings) -> tuple[FrameDiff, np.ndarray | None]:
    """The difference of two frames, and the changed pixels (None when the sizes differ)."""
    if a.shape != b.shape:
        return FrameDiff(0.0, why=f"the screen size differs ({a.shape[1]}×{a.shape[0]} against "
                                  f"{b.shape[1]}×{b.shape[0]})"), None
    mask = changed(a, b, settings)
    n = settings.block
    h, w = mask.shape
    padded = np.zeros((-(-h // n) * n, -(-w // n) * n), dtype=bool)
    padded[:h, :w] = mask
    blocks = padded.reshape(padded.shape[0] // n, n, padded.shape[1] // n, n).any(axis=(1, 3))
    similarity = 1.0 - float(blocks.mean())
    return FrameDiff(round(similarity, 5), _box(mask)), mask


def target_change(mask: np.ndarray | None, point: tuple[float, float], settings: DiffSettings) -> float:
    """The share of changed pixels in the square around ``point`` (1.0 when the frames could not be compared)."""
    if mask is None:
        return 1.0
    x, y, r = int(round(point[0])), int(round(point[1])), settings.radius
    region = mask[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1]
    return float(region.mean()) if region.size else 0.0


def _box(mask: np.ndarray) -> Box | None:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not rows.size:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def diff_image(recorded: str | Path, replayed: str | Path, mask: np.ndarray | None, out: str | Path,
               points: list[tuple[float, float]] = ()) -> Path:
    """Save recorded | replayed | difference side by side as a PNG: the difference shows the replayed screen
    dimmed with the changed pixels in red; the box around the changes and the pointer targets are drawn on
    all three."""
    with Image.open(recorded) as r, Image.open(replayed) as p:
        left, middle = r.convert("RGB"), p.convert("RGB")
    w, h = left.size
    dim = Image.eval(middle.convert("L"), lambda v: 64 + v // 2).convert("RGB")
    if mask is not None and mask.shape == (dim.height, dim.width):
        pixels = np.asarray(dim).copy()
        pixels[mask] = (230, 0, 0)
        dim = Image.fromarray(pixels)
    sheet = Image.new("RGB", (w + middle.width + dim.width + 16, max(h, middle.height)), "white")
    draw = ImageDraw.Draw(sheet)
    box = _box(mask) if mask is not None else None
    for img, x in ((left, 0), (middle, w + 8), (dim, w + middle.width + 16)):
        sheet.paste(img, (x, 0))
        if box is not None:
            draw.rectangle((box[0] + x - 2, box[1] - 2, box[2] + x + 1, box[3] + 1), outline=(255, 0, 160), width=2)
        for px, py in points:
            draw.ellipse((px + x - 6, py - 6, px + x + 6, py + 6), outline=(0, 90, 255), width=2)
    out = Path(out)
    sheet.save(out)
    return out
