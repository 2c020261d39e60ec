"""Controls found by their shape beside a text label: the mark of a checkbox or radio button, a slider.

Conventions these rely on (Tk, GTK, Qt, HTML alike): a checkbox or radio button draws a small mark
about as tall as its label's letters, on the label's centre line, just left of it (some toolkits put
it right: looked for second); a checkbox's mark is square (ink in its corners), a radio button's round.
A slider is a long flat trough, thicker than a line, beside or under its label, with a handle
that differs from the trough somewhere along it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.grounders.ocr.lines import Box

if TYPE_CHECKING:
    import numpy as np

def _filled_share(mask: "np.ndarray") -> float:
    """The share of ``mask``'s box inside its outline (holes filled: a hollow square counts whole)."""
    import cv2
    import numpy as np

    padded = np.pad(mask.astype(np.uint8), 1)
    outside = padded.copy()
    flood = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8)
    cv2.floodFill(outside, flood, (0, 0), 2)
    return float(np.count_nonzero(outside[1:-1, 1:-1] != 2)) / mask.size


def _corners(mark: "np.ndarray") -> int:
    """How many corners of a mark's box hold ink (a 2×2 block each): a square's do (three at least, a
    bevel's light side may fade), a circle's do not."""
    return sum(bool(mark[r, c].any()) for r, c in ((slice(0, 2), slice(0, 2)), (slice(0, 2), slice(-2, None)),
                                                  (slice(-2, None), slice(0, 2)), (slice(-2, None), slice(-2, None))))


def find_indicator(gray: "np.ndarray", label: Box, shape: str) -> Box | None:
    """The box of the ``shape`` mark ("square" for a checkbox, "round" for a radio button) beside the
    text ``label`` (an OCR box, in screen pixels), nearest the label; None when there is none."""
    import cv2
    import numpy as np

    height, width = gray.shape
    x1, y1, x2, y2 = label
    h = max(8, y2 - y1)
    cy = (y1 + y2) // 2
    top, bot = max(0, cy - h), min(height, cy + h)
    bg = int(np.median(gray[max(0, y1):y2, max(0, x1):x2]))  # the label's background: mostly its box
    # a line box without character boxes may hold the mark itself: the left search reaches into it
    for left, right, nearest in ((max(0, x1 - 3 * h), min(x2, x1 + h), max), (x2, min(width, x2 + 3 * h), min)):
        if right - left < 4:
            continue
        region = gray[top:bot, left:right]
        mask = (np.abs(region - bg) >= 10).astype(np.uint8)  # a bevel's light side is close to the background
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        found = []
        for i in range(1, count):
            cx, cy_, w, hh, _ = (int(v) for v in stats[i])
            if not (0.3 * h <= max(w, hh) <= 1.1 * h and 0.75 <= w / hh <= 1.33) or cx + w >= right - left:
                continue
            if abs(top + cy_ + hh / 2 - cy) > 0.25 * h:
                continue
            mark = labels[cy_:cy_ + hh, cx:cx + w] == i
            found.append(((left + cx, top + cy_, left + cx + w, top + cy_ + hh), mark))
        if not found:
            continue
        # only the mark-sized object next to the label is its mark (a letter further away is not); a
        # line box that holds the mark starts with it
        if nearest is max:
            outside = [f for f in found if f[0][2] <= x1 + 1 and x1 - f[0][2] <= 0.8 * h]
            box, mark = max(outside, key=lambda f: f[0][0]) if outside else min(found, key=lambda f: f[0][0])
            if box[2] > x1 + 1 and box[0] > x1 + 0.3 * h:
                continue
        else:
            box, mark = min(found, key=lambda f: f[0][0])
            if box[0] - x2 > 0.8 * h:
                continue
        corners = _corners(mark)
        if _filled_share(mark) >= 0.6 and corners != 2 and (corners >= 3) == (shape == "square"):
            return box
        return None
    return None


def _troughs(gray: "np.ndarray", area: Box, min_len: int, bg: int) -> list[Box]:
    """Horizontal bands in ``area``: runs of at least ``min_len`` pixels differing from ``bg``, in
    consecutive rows, joined (a band spans its longest row)."""
    import numpy as np

    x1, y1, x2, y2 = area
    off = np.abs(gray[y1:y2, x1:x2] - bg) >= 20
    bands: list[Box] = []
    for r in range(off.shape[0]):
        row = np.r_[False, off[r], False]
        edges = np.flatnonzero(np.diff(row.astype(np.int8)))
        for s, e in zip(edges[::2], edges[1::2]):
            if e - s < min_len:
                continue
            for k, (bx1, by1, bx2, by2) in enumerate(bands):
                if by2 == y1 + r and min(bx2, x1 + e) - max(bx1, x1 + s) >= 0.8 * min_len:
                    bands[k] = (min(bx1, x1 + s), by1, max(bx2, x1 + e), by2 + 1)
                    break
            else:
                bands.append((x1 + s, y1 + r, x1 + e, y1 + r + 1))
    return bands


def find_slider(gray: "np.ndarray", label: Box) -> tuple[Box, Box | None] | None:
    """(the trough, its handle or None) of the slider beside or under ``label``; None when there is none.

    Troughs are bands at least 6 label heights long and a quarter of one thick (thinner is a line) in
    the area right of and below the label; the nearest wins. The handle is the widest run of the
    trough's middle row that differs from the trough's own colour, at most 4 thicknesses wide.
    """
    import numpy as np

    height, width = gray.shape
    x1, y1, x2, y2 = label
    h = max(8, y2 - y1)
    area = (max(0, x1 - h), max(0, y1 - h), min(width, x2 + 30 * h), min(height, y2 + 4 * h))
    bg = int(np.median(gray[max(0, y1 - 2):y2 + 2, max(0, x1 - 2):x2 + 2]))
    bands = [b for b in _troughs(gray, area, 6 * h, bg) if 0.25 * h <= b[3] - b[1] <= 1.5 * h]
    if not bands:
        return None
    trough = min(bands, key=lambda b: (max(0, b[1] - y2) + max(0, y1 - b[3]), abs(b[0] - x1)))
    tx1, ty1, tx2, ty2 = trough
    thick = ty2 - ty1
    # the band spans the trough's outline; its middle row is interrupted by the handle, which may be
    # drawn in the background colour
    lo, hi = tx1, tx2
    row = gray[(ty1 + ty2) // 2, lo:hi]
    values, counts = np.unique(gray[(ty1 + ty2) // 2, tx1:tx2], return_counts=True)
    on_trough = np.abs(row - values[np.argmax(counts)]) < 12
    best: Box | None = None
    edges = np.flatnonzero(np.diff(np.r_[True, on_trough, True].astype(np.int8)))
    for s, e in zip(edges[::2], edges[1::2]):  # runs off the trough's colour
        touches = (s > 0 and on_trough[s - 1]) or (e < len(on_trough) and on_trough[e])
        if touches and 0.5 * thick <= e - s <= 4 * thick and (best is None or e - s > best[2] - best[0]):
            best = (lo + int(s), ty1, lo + int(e), ty2)
    return trough, best


__all__ = ["find_indicator", "find_slider"]
