"""Incremental reading: which parts of a frame changed since a frame already read, and the merge.

An action usually changes a small part of the screen (a display, a checkbox, a typed word). The
frame is compared with the last one read in 8-px tiles. The changed tiles (in 32-px tiles), grown by a
margin and by every old text line they touch, become a few rectangles the detector reads again
(aligned to its 32-pixel grid, so a crop reaches it at native size, as the whole frame does). Of the
lines it finds there, only those whose pixels changed (touching a changed 8-px tile), or that no
unchanged old line stands for, are recognised: recognition costs the same for a short word as for a
long line (the recogniser pads every crop to 320 px), so it is what a step pays for. Old lines on
unchanged pixels are kept as they were read, unless a fresh line overlaps them. The recogniser also
remembers each crop it read (:class:`~agent.grounders.ocr.engine.RecognitionCache`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from agent.grounders.ocr.lines import Box, TextBox

if TYPE_CHECKING:
    import numpy as np

TILE = 32
"""Tile side in pixels (also the detector's stride: crops stay on its grid)."""
FINE = 8
"""Side of the tiles that say which pixels changed (whose lines must be recognised again)."""
MIN_SIDE = 64
"""Smallest side of a re-read rectangle: RapidOCR letterboxes crops of 30 px or less, or longer than 8:1."""


def _pixels32(a: "np.ndarray") -> "np.ndarray":
    import numpy as np

    return np.ascontiguousarray(a).view(np.uint32)[:, :, 0]


def colour_bits(a: "np.ndarray") -> "np.ndarray":
    """A BGRA frame's pixels as 32-bit words with the fourth byte zeroed: it is padding, whose value depends
    on where the frame came from (two times faster to hash than the three colour bytes cut out)."""
    import numpy as np

    return np.bitwise_and(_pixels32(a), np.uint32(0x00FFFFFF))


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


def pool_tiles(tiles: "np.ndarray", factor: int) -> "np.ndarray":
    """A tile grid ``factor`` times coarser: a tile is changed when one of the tiles it covers is."""
    import numpy as np

    rows, cols = tiles.shape
    padded = np.zeros((-(-rows // factor) * factor, -(-cols // factor) * factor), dtype=bool)
    padded[:rows, :cols] = tiles
    return padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor).any(axis=(1, 3))


def _components(tiles: "np.ndarray", tile: int, width: int, height: int) -> list[Box]:
    """The bounding rectangles (screen pixels) of the groups of changed tiles that touch each other."""
    import cv2
    import numpy as np

    count, _, stats, _ = cv2.connectedComponentsWithStats(tiles.astype(np.uint8), connectivity=8)
    out = []
    for i in range(1, count):
        col, row, cols, rows = (int(v) for v in stats[i][:4])
        out.append((col * tile, row * tile, min(width, (col + cols) * tile), min(height, (row + rows) * tile)))
    return out


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
    """What to read again: the ``replaced`` rectangles (the changed 32-px tiles, and every old line
    touching them), the larger ``regions`` around them that the detector sees (context, so that text
    is detected as in the whole frame), and the ``changed`` pixels (8-px tiles: lines touching them
    are read again, the old lines touching them are dropped)."""

    replaced: tuple[Box, ...]
    regions: tuple[Box, ...]
    changed: tuple[Box, ...] = ()

    @property
    def area(self) -> int:
        return sum((r[2] - r[0]) * (r[3] - r[1]) for r in self.regions)


def plan_reread(tiles: "np.ndarray", lines: Sequence[TextBox], width: int, height: int, *,
                margin: int = TILE, max_fraction: float = 0.5, tile: int = TILE) -> Plan | None:
    """What to read again for changed ``tiles`` of side ``tile`` (see :func:`changed_tiles`), given the
    old frame's ``lines``; None when more than ``max_fraction`` of the screen would be read again (a
    full read is then as cheap)."""
    if not tiles.any():
        return Plan((), ())
    changed = _components(tiles, tile, width, height)
    replaced = [*changed, *(b.box for b in lines if touches_any(b.box, changed))]
    grown = [(max(0, x1 - margin), max(0, y1 - margin), min(width, x2 + margin), min(height, y2 + margin))
             for x1, y1, x2, y2 in replaced]
    plan = Plan(tuple(replaced), tuple(_settle(grown, lines, width, height)), tuple(changed))
    return None if plan.area > max_fraction * width * height else plan


def _stands_for(a: Box, b: Box) -> bool:
    """Whether boxes ``a`` and ``b`` are the same line found twice: each one's centre inside the other."""
    def inside(p: Box, q: Box) -> bool:
        x, y = (p[0] + p[2]) / 2, (p[1] + p[3]) / 2
        return q[0] <= x <= q[2] and q[1] <= y <= q[3]

    return inside(a, b) and inside(b, a)


class Rereading:
    """For each line the detector finds in ``plan``'s regions, whether to recognise it (a call with its box).

    Yes when its pixels changed, or when it overlaps an old line that is dropped (its pixels changed) and
    no old line on unchanged pixels stands for it (the detector now cuts the text there differently).
    Any other line lies on unchanged pixels, where the old reading stays. A changed line whose pixels are
    exactly as they were in one of the ``recent`` frames (pixels, lines), where a line stood at the same
    place, is not recognised either: that reading is taken again (``reused``) — a menu or a pop-up
    closes, a button's hover look goes away.
    """

    def __init__(self, plan: Plan, lines: Sequence[TextBox], pixels: "np.ndarray",
                 recent: Sequence[tuple["np.ndarray", Sequence[TextBox]]] = ()) -> None:
        self.plan = plan
        self.pixels = pixels
        self.recent = [(old, seen) for old, seen in recent if old.shape == pixels.shape]
        near = [b.box for b in lines if touches_any(b.box, plan.regions)]
        self._stale = [box for box in near if touches_any(box, plan.changed)]
        self._kept = [box for box in near if not touches_any(box, plan.changed)]
        self.reused: list[TextBox] = []

    def __call__(self, box: Box) -> bool:
        if not touches_any(box, self.plan.changed):
            return touches_any(box, self._stale) and not any(_stands_for(box, old) for old in self._kept)
        earlier = self._seen_before(box)
        if earlier is None:
            return True
        if all(line is not earlier for line in self.reused):
            self.reused.append(earlier)
        return False

    def _seen_before(self, box: Box) -> TextBox | None:
        """A line read before at this place, on exactly these pixels (and 2 px around)."""
        import numpy as np

        height, width = self.pixels.shape[:2]
        for old, seen in self.recent:
            for line in seen:
                if _stands_for(box, line.box):
                    x1, y1, x2, y2 = _union(box, line.box)
                    x1, y1, x2, y2 = max(0, x1 - 2), max(0, y1 - 2), min(width, x2 + 2), min(height, y2 + 2)
                    if np.array_equal(old[y1:y2, x1:x2, :3], self.pixels[y1:y2, x1:x2, :3]):
                        return line
        return None


def touches_any(box: Box, rects: Sequence[Box]) -> bool:
    """Whether ``box`` overlaps one of ``rects``."""
    return any(_touches(box, r) for r in rects)


def merge(lines: Sequence[TextBox], replaced: Sequence[Box], fresh: Sequence[TextBox]) -> tuple[TextBox, ...]:
    """Old ``lines`` clear of the ``replaced`` rectangles (the changed pixels) and of every fresh line,
    plus the ``fresh`` lines (read where the screen changed), top to bottom."""
    fresh_boxes = [b.box for b in fresh]
    kept = [b for b in lines if not touches_any(b.box, replaced) and not touches_any(b.box, fresh_boxes)]
    return tuple(sorted([*kept, *fresh], key=lambda b: (b.box[1], b.box[0])))


__all__ = ["FINE", "MIN_SIDE", "TILE", "Plan", "changed_tiles", "colour_bits", "merge", "plan_reread", "Rereading", "pool_tiles",
           "touches_any"]
