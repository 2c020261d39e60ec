"""Pixel searches the OCR grounder needs besides text: the entry beside a label, and isolated glyphs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from agent.grounders.ocr.lines import Box

if TYPE_CHECKING:
    import numpy as np

    from tools.frame import Frame


def gray(frame: "Frame") -> "np.ndarray":
    import numpy as np

    a = frame.array()
    # integer luma (ITU-R 601 weights ×1024), int16 so differences can be negative
    return ((a[:, :, 2].astype(np.int32) * 306 + a[:, :, 1].astype(np.int32) * 601 + a[:, :, 0].astype(np.int32) * 117)
            >> 10).astype(np.int16)


def find_entry_right_of(gray: "np.ndarray", label: Box, *, search_px: int = 400, contrast: int = 16) -> Box | None:
    """The rectangle of the entry right of a text label, found in the pixels; None when there is none.

    Columns right of the label are scanned for a vertical edge — each pixel differing from its left
    neighbour by ``contrast`` grey levels or more — over the middle 60 % of the label's box. The edge is
    followed up and down; it is an entry's left border only if it is at least 75 % as tall as the
    label's box (OCR boxes are padded: a glyph stroke is at most ~65 % of one) and no more than 12 times
    as tall, and if
    a right border — an edge over 90 % of the inside height — follows within ``search_px``.
    Otherwise the scan goes on to the next edge.
    """
    import numpy as np

    height, width = gray.shape
    x1, y1, x2, y2 = label
    h = max(1, y2 - y1)
    cy = min(max((y1 + y2) // 2, 0), height - 1)
    half = max(2, int(h * 0.3))
    top, bot = max(0, cy - half), min(height, cy + half + 1)
    first = max(1, x2 + 2)  # past the label's own last glyph
    stop = min(width, x2 + search_px)
    if bot - top < 3 or first >= stop:
        return None
    steps = np.abs(gray[top:bot, first:stop] - gray[top:bot, first - 1:stop - 1]) >= contrast
    for k in np.flatnonzero(steps.mean(axis=0) >= 0.9):
        xl = first + int(k)
        edge = np.abs(gray[:, xl] - gray[:, xl - 1]) >= contrast
        yt = yb = cy
        while yt > 0 and edge[yt - 1]:
            yt -= 1
        while yb < height - 1 and edge[yb + 1]:
            yb += 1
        box_h = yb - yt + 1
        if not 0.75 * h <= box_h <= 12 * h:
            continue
        inner_top, inner_bot = yt + 2, yb - 1
        if inner_bot - inner_top < 2:
            continue
        right_stop = min(width, xl + search_px)
        band = gray[inner_top:inner_bot]
        inside = np.abs(band[:, xl + 1:right_stop] - band[:, xl:right_stop - 1]) >= contrast
        right = np.flatnonzero(inside.mean(axis=0) >= 0.9)
        right = right[right >= 3]  # the left border's own width (up to 3 px of bevel)
        if right.size:
            xr = xl + 1 + int(right[0])
            return (xl, yt, xr + 1, yb + 1)
    return None


def find_glyphs(gray: "np.ndarray", skip: Sequence[Box] = (), *, max_count: int = 400) -> list[Box]:
    """Boxes of isolated one- or two-character marks ("7", "+", "÷" on keys) that a text detector misses.

    Ink is found by a local-contrast threshold in both polarities (dark on light and light on dark),
    dilated by a pixel so that the parts of "÷", "=" or "i" join, and split into connected components;
    the ones shaped like a glyph or two (6–64 px tall, at most 2.5× as wide as tall, not a thin line,
    some ink inside) or like a lone dash, and not inside a known text box (``skip``), are kept, at most
    ``max_count``.
    """
    import cv2
    import numpy as np

    g8 = np.clip(gray, 0, 255).astype(np.uint8)
    ink = cv2.adaptiveThreshold(g8, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 25)
    ink |= cv2.adaptiveThreshold(g8, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 31, -25)
    ink = cv2.dilate(ink, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    out: list[Box] = []
    for i in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[i])
        glyph = 6 <= h <= 64 and 3 <= w <= 2.5 * h and h <= 6 * w and area >= 0.15 * w * h
        dash = 3 <= h < 6 and 2 * h <= w <= 24  # "−", "-", "_" alone on a key
        if not (glyph or dash):
            continue
        if glyph and w >= 16 and h >= 16:  # a hollow frame (a button's outline) is not a glyph
            inner = labels[y + h // 4:y + h - h // 4, x + w // 4:x + w - w // 4]
            if np.count_nonzero(inner == i) < 0.02 * inner.size:
                continue
        cx, cy = x + w / 2, y + h / 2
        if any(b[0] - 2 <= cx <= b[2] + 2 and b[1] - 2 <= cy <= b[3] + 2 for b in skip):
            continue
        out.append((x, y, x + w, y + h))
        if len(out) >= max_count:
            break
    return out


__all__ = ["find_entry_right_of", "find_glyphs", "gray"]
