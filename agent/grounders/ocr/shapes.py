"""Elements named by their role alone — a scroll bar, a list, a text area, a display — found by shape.

They show no label of their own, but every toolkit draws them as **flat panels**: a region of one
colour, closed by a border. Panels are the connected regions of a frame's most common grey levels
(text inside a panel only punches holes in it). Then, by convention:

- a **scroll bar** is a narrow, tall panel (6–30 px wide, at least 4 times as tall), its pieces (the
  trough above and below the thumb, the thumb) joined when they are stacked in one column;
- a **text area, list or display** is an *inset* panel: its colour differs from the ring just outside
  its border, and it holds no other large panel (a window's background holds buttons and areas); a display holds a line of digits and little else, a list (preferably) two rows of text or more.

Which one the instruction means, when there are several: near text that matches the instruction's
other words ("the scroll bar of the *task* list" → near "New task:", "My Tasks"; the nearest scroll
bar, the largest area within 6 line heights), else the largest (a display: the one with the tallest digits).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Sequence

from agent.grounders.ocr.lines import Box, TextBox
from agent.grounders.ocr.text import match_score

if TYPE_CHECKING:
    import numpy as np

_DIGITS = re.compile(r"^[\s\d.,:%+\-−×÷=eE]+$")


def panels(gray: "np.ndarray", levels: int = 6) -> list[tuple[Box, int]]:
    """(box, grey level) of the flat regions of the ``levels`` most common grey levels: at least 6 px
    each way and filling at least half of their box."""
    import cv2
    import numpy as np

    g8 = np.clip(gray, 0, 255).astype(np.uint8)
    counts = np.bincount(g8.ravel(), minlength=256)
    out: list[tuple[Box, int]] = []
    for value in np.argsort(counts)[::-1][:levels]:
        if counts[value] < 0.002 * g8.size:
            break
        n, _, stats, _ = cv2.connectedComponentsWithStats((g8 == value).astype(np.uint8), connectivity=4)
        for x, y, w, h, area in stats[1:]:
            if w >= 6 and h >= 6 and area >= 0.5 * w * h:
                out.append(((int(x), int(y), int(x + w), int(y + h)), int(value)))
    return out


def scroll_bars(found: Sequence[tuple[Box, int]]) -> list[Box]:
    """Narrow tall panels, the ones stacked in one column joined."""
    bars = sorted((b for b, _ in found if 6 <= b[2] - b[0] <= 30 and b[3] - b[1] >= max(40, 4 * (b[2] - b[0]))),
                  key=lambda b: b[1])
    joined: list[Box] = []
    for b in bars:
        for k, j in enumerate(joined):
            overlap = min(b[2], j[2]) - max(b[0], j[0])
            if overlap >= 0.7 * min(b[2] - b[0], j[2] - j[0]) and b[1] - j[3] <= 2 * (b[2] - b[0]):
                joined[k] = (min(b[0], j[0]), j[1], max(b[2], j[2]), max(b[3], j[3]))
                break
        else:
            joined.append(b)
    return joined


def _ring(gray: "np.ndarray", box: Box, width: int = 3) -> int:
    import numpy as np

    x1, y1, x2, y2 = box
    h, w = gray.shape
    outer = gray[max(0, y1 - width - 2):min(h, y2 + width + 2), max(0, x1 - width - 2):min(w, x2 + width + 2)]
    inner = np.zeros(outer.shape, bool)
    oy, ox = max(0, y1 - width - 2), max(0, x1 - width - 2)
    inner[y1 - 2 - oy:y2 + 2 - oy, x1 - 2 - ox:x2 + 2 - ox] = True
    ring = outer[~inner]
    return int(np.median(ring)) if ring.size else -1


def inset_areas(gray: "np.ndarray", found: Sequence[tuple[Box, int]]) -> list[Box]:
    """Panels at least 60×30 px whose colour differs from the ring outside their border and that hold
    no other panel at least 60×30 px (a window's background holds its buttons, even ones of its colour)."""
    big = [(b, v) for b, v in found if b[2] - b[0] >= 60 and b[3] - b[1] >= 30]
    out = []
    for box, value in big:
        holds = any(b != box and box[0] <= b[0] and b[2] <= box[2] and box[1] <= b[1] and b[3] <= box[3]
                    for b, v in big)
        if not holds and abs(_ring(gray, box) - value) >= 10:
            out.append(box)
    return out


def _distance(a: Box, b: Box) -> int:
    dx = max(0, a[0] - b[2], b[0] - a[2])
    dy = max(0, a[1] - b[3], b[1] - a[3])
    return dx + dy


def _area(box: Box) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def _gap(c: Box, line: TextBox) -> int:
    """How far candidate ``c`` is from a text line naming it; text names what is below or right of it
    (a title, a heading, a label), so a candidate that starts above the line counts as far away."""
    return _distance(c, line.box) + (0 if c[1] >= line.box[1] - 2 else 10_000)


def pick(candidates: Sequence[Box], words: Sequence[str], lines: Sequence[TextBox], nearest: bool = False) -> Box | None:
    """The candidate the instruction's ``words`` point at: near a text line matching one of them (words of
    3 letters or more) — the nearest (``nearest``), or the largest of those at most 6 line heights
    further than the nearest; the largest of all when no line matches."""
    if not candidates:
        return None
    near = [ln for ln in lines for w in words if len(w) >= 3 and match_score(w, ln.text)[0] >= 0.75]
    if not near:
        return max(candidates, key=_area)
    gap = {c: min(_gap(c, ln) for ln in near) for c in candidates}
    if nearest:
        return min(candidates, key=lambda c: (gap[c], -_area(c)))
    reach = min(gap.values()) + 6 * max(ln.height for ln in near)
    return max((c for c in candidates if gap[c] <= reach), key=_area)


def find_area(gray: "np.ndarray", role: str, words: Sequence[str], lines: Sequence[TextBox],
              found: Sequence[tuple[Box, int]] | None = None) -> Box | None:
    """The box of the scroll bar, list, text area or display (``role``) the instruction's ``words`` name."""
    found = panels(gray) if found is None else found
    if role == "scrollbar":
        return pick(scroll_bars(found), words, lines, nearest=True)
    areas = inset_areas(gray, found)
    if role == "display":
        shows = []
        for a in areas:
            digits = [ln for ln in lines if _DIGITS.match(ln.text) and a[0] <= ln.center[0] < a[2]
                      and a[1] <= ln.center[1] < a[3]]
            if digits and (a[3] - a[1]) <= 4 * max(ln.height for ln in digits):
                shows.append((max(ln.height for ln in digits), a))
        return max(shows)[1] if shows else None
    if role == "list":  # a list shows rows: prefer areas holding two text lines or more
        rows = [a for a in areas if sum(a[0] <= ln.center[0] < a[2] and a[1] <= ln.center[1] < a[3]
                                        for ln in lines) >= 2]
        areas = rows or areas
    return pick(areas, words, lines)


__all__ = ["find_area", "inset_areas", "panels", "pick", "scroll_bars"]
