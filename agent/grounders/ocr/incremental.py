"""Incremental reading: which parts of a frame changed since a frame already read, and the merge.

An action usually changes a small part of the screen (a display, a checkbox, a typed word). The
frame is compared with the last one read in square tiles. The changed tiles, grown by a margin and
by every old text line they touch, become a few rectangles the detector reads again (aligned to its
32-pixel grid, so a crop reaches it at native size, as the whole frame does); of what it finds there,
only the lines touching changed tiles (or an old line touching them) are recognised, and replace
the old lines they touch. Old lines
on unchanged pixels are kept as they were read. The recogniser also remembers each crop it read
(:class:`~agent.grounders.ocr.engine.RecognitionCache`), so an unchanged line costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from agent.grounders.ocr.lines import Box, TextBox

if TYPE_CHECKING:
    import numpy as np

TILE = 32
"""Tile side in pixels (also the detector's stride: crops stay on its grid)."""
MIN_SIDE = 64
"""Smallest side of a re-read rectangle: RapidOCR letterboxes crops of 30 px or less, or longer than 8:1."""


def _pixels32(a: "np.ndarray") -> "np.ndarray":
    import numpy as np

    return np.ascontiguousarray(a).view(np.uint32)[:, :, 0]


def changed_tiles(prev: "np.ndarray", cur: "np.ndarray", tile: int = TILE) -> "np.ndarray":
    """A (rows, cols) bool grid: True where any colour byte of the tile differs between the two frames."""
    import numpy as np

    # one 32-bit compare per pixel; the fourth byte is padding (its value depends on the frame's source)
    diff = ((_pixels32(prev) ^ _pixels32(cur)) & np.uint32(0x00FFFFFF)) != 0
    h, w = diff.shape
    rows, cols = -(-h // tile), -(-w // tile)
    padded = np.zeros((rows * tile, cols * tile), dtype=bool)
    padded[:h, :w] = diff
    return padded.reshape(rows, tile, cols, tile).any(axis=(1, 3))


def _touches(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _union(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _align(box: Box, width: int, height: int) -> Box:
    """``box`` grown to the 32-px grid, each side at least :data:`MIN_SIDE` and at most 8× the other, inside the frame."""
    x1, y1 = box[0] // TILE * TILE, box[1] // TILE * TILE
    x2, y2 = -(-box[2] // TILE) * TILE, -(-box[3] // TILE) * TILE
    w = max(x2 - x1, MIN_SIDE)
    h = max(y2 - y1, MIN_SIDE, -(-w // 8 // TILE) * TILE)
    w = max(w, -(-h // 8 // TILE) * TILE)
    x1, y1 = max(0, min(x1, width - w)), max(0, min(y1, height - h))
    return (x1, y1, min(width, x1 + w), min(height, y1 + h))


def _settle(regions: list[Box], lines: Sequence[TextBox], width: int, height: int) -> list[Box]:
    """Grow regions over every old line they touch, align them, and merge overlapping ones, until stable."""
    for _ in range(64):
        changed = False
        out: list[Box] = []
        for r in regions:
            for line in lines:
                if _touches(r, line.box) and _union(r, line.box) != r:
                    r, changed = _union(r, line.box), True
            aligned = _align(r, width, height)
            changed |= aligned != r
            r = aligned
            for k, other in enumerate(out):
                if _touches(r, other):
                    out[k], r, changed = _union(r, other), None, True
                    break
            if r is not None:
                out.append(r)
        regions = out
        if not changed:
            break
    return regions


@dataclass(frozen=True)
class Plan:
    """What to read again: the ``replaced`` rectangles (the changed tiles, and every old line touching
    them) and the larger ``regions`` around them that the detector sees (context, so that text is
    detected as in the whole frame)."""

    replaced: tuple[Box, ...]
    regions: tuple[Box, ...]

    @property
    def area(self) -> int:
        return sum((r[2] - r[0]) * (r[3] - r[1]) for r in self.regions)


def plan_reread(tiles: "np.ndarray", lines: Sequence[TextBox], width: int, height: int, *,
                margin: int = TILE, max_fraction: float = 0.5) -> Plan | None:
    """What to read again for changed ``tiles`` (see :func:`changed_tiles`), given the old frame's
    ``lines``; None when more than ``max_fraction`` of the screen would be read again (a full read
    is then as cheap)."""
    import cv2
    import numpy as np

    if not tiles.any():
        return Plan((), ())
    count, _, stats, _ = cv2.connectedComponentsWithStats(tiles.astype(np.uint8), connectivity=8)
    changed = []
    for i in range(1, count):
        col, row, cols, rows = (int(v) for v in stats[i][:4])
        changed.append((col * TILE, row * TILE, min(width, (col + cols) * TILE), min(height, (row + rows) * TILE)))
    replaced = [*changed, *(b.box for b in lines if touches_any(b.box, changed))]
    grown = [(max(0, x1 - margin), max(0, y1 - margin), min(width, x2 + margin), min(height, y2 + margin))
             for x1, y1, x2, y2 in replaced]
    plan = Plan(tuple(replaced), tuple(_settle(grown, lines, width, height)))
    return None if plan.area > max_fraction * width * height else plan


def touches_any(box: Box, rects: Sequence[Box]) -> bool:
    """Whether ``box`` overlaps one of ``rects``."""
    return any(_touches(box, r) for r in rects)


def merge(lines: Sequence[TextBox], replaced: Sequence[Box], fresh: Sequence[TextBox]) -> tuple[TextBox, ...]:
    """Old ``lines`` clear of the replaced rectangles and of every fresh line, plus the ``fresh`` lines
    (read where the screen changed), top to bottom."""
    fresh_boxes = [b.box for b in fresh]
    kept = [b for b in lines if not touches_any(b.box, replaced) and not touches_any(b.box, fresh_boxes)]
    return tuple(sorted([*kept, *fresh], key=lambda b: (b.box[1], b.box[0])))


__all__ = ["MIN_SIDE", "TILE", "Plan", "changed_tiles", "merge", "plan_reread", "touches_any"]
