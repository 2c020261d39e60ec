"""Pixel searches the OCR grounder needs besides text: the entry beside a label, and isolated glyphs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from agent.grounders.ocr.lines import Box, TextBox

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


def _stack(parts: list[list[int]]) -> list[list[int]]:
    """Small ink pieces stacked close above one another joined into one box (x, y, w, h, area): the
    bars of "=", the dots and bar of "÷", when they lie further apart than the dilation bridges."""
    parts = sorted(parts, key=lambda p: p[1])
    out: list[list[int]] = []
    for p in parts:
        for q in out:
            overlap = min(p[0] + p[2], q[0] + q[2]) - max(p[0], q[0])
            gap = p[1] - (q[1] + q[3])
            if overlap >= 0.5 * min(p[2], q[2]) and 0 <= gap <= max(4, min(p[3], q[3])) and q[3] + gap + p[3] <= 40:
                x1, y1 = min(p[0], q[0]), q[1]
                x2, y2 = max(p[0] + p[2], q[0] + q[2]), max(p[1] + p[3], q[1] + q[3])
                q[:] = [x1, y1, x2 - x1, y2 - y1, q[4] + p[4], -1]  # -1: no longer one labelled component
                break
        else:
            out.append(list(p))
    return out


def find_glyphs(gray: "np.ndarray", skip: Sequence[Box] = (), *, max_count: int = 400) -> list[Box]:
    """Boxes of isolated one- or two-character marks ("7", "+", "÷" on keys) that a text detector misses.

    Ink is found by a local-contrast threshold in both polarities (dark on light and light on dark),
    dilated by a pixel so that the parts of "÷", "=" or "i" join, and split into connected components;
    small pieces stacked close above one another are joined too (:func:`_stack`). The ones shaped like a
    glyph or two (6–64 px tall, at most 2.5× as wide as tall, not a thin line, some ink inside) or like a
    lone dash, and not inside a known text box (``skip``), are kept, at most ``max_count``.
    """
    import cv2
    import numpy as np

    g8 = np.clip(gray, 0, 255).astype(np.uint8)
    ink = cv2.adaptiveThreshold(g8, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 25)
    ink |= cv2.adaptiveThreshold(g8, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 31, -25)
    ink = cv2.dilate(ink, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    small = [[*(int(v) for v in stats[i]), i] for i in range(1, count) if stats[i][2] <= 64 and stats[i][3] <= 64]
    out: list[Box] = []
    for x, y, w, h, area, i in _stack(small):
        glyph = 6 <= h <= 64 and 3 <= w <= 2.5 * h and h <= 6 * w and area >= 0.15 * w * h
        dash = 3 <= h < 6 and 2 * h <= w <= 24  # "−", "-", "_" alone on a key
        if not (glyph or dash):
            continue
        if glyph and i > 0 and w >= 16 and h >= 16:  # a hollow frame (a button's outline) is not a glyph
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


# single characters the recogniser may return for an operator key (十 and 一 are its CJK look-alikes)
_OPERATOR_READS = set("+十÷=−-一ー—–/t")


def operator_glyph(bgr: "np.ndarray") -> str | None:
    """The operator drawn in a small crop — "÷", "=", "+" or "−" — told from its ink, or None.

    The recogniser reads a calculator's "÷" as "+" and "+" as "十"; the strokes settle it: "÷" is a bar
    with a dot above and below, "=" two bars, "−" one bar, "+" a bar crossed by a stroke as tall.
    ("×" comes back as "x" or "X", which matching already takes for "×".)
    """
    import cv2
    import numpy as np

    if bgr.size == 0:
        return None
    g = bgr[:, :, 2].astype(np.int32) * 306 + bgr[:, :, 1].astype(np.int32) * 601 + bgr[:, :, 0].astype(np.int32) * 117
    dev = np.abs((g >> 10) - np.median(g >> 10))
    if dev.max() < 40:
        return None
    ink = (dev >= max(40, dev.max() // 2)).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    parts = sorted((tuple(int(v) for v in stats[i]) for i in range(1, count) if stats[i][4] >= 2), key=lambda s: s[1])
    bars = [p for p in parts if p[2] >= 2.5 * p[3]]
    if len(parts) == 3 and parts[1] in bars:
        (dx, _, dw, dh, _), (bx, _, bw, _, _), (ex, _, ew, eh, _) = parts
        dots_centred = all(bx <= x + w / 2 <= bx + bw and w <= bw / 2 and h <= bw / 2
                           for x, w, h in ((dx, dw, dh), (ex, ew, eh)))
        return "÷" if dots_centred else None
    if len(parts) == 2 and len(bars) == 2:
        (ax, _, aw, _, _), (bx, _, bw, _, _) = bars
        return "=" if max(aw, bw) <= 1.5 * min(aw, bw) and min(ax + aw, bx + bw) > max(ax, bx) else None
    if len(parts) != 1:
        return None
    x, y, w, h, area = parts[0]
    if w >= 2.5 * h:
        return "−"
    box = ink[y:y + h, x:x + w]
    row, col = box[h // 2 - 1:h // 2 + 2].max(axis=0), box[:, w // 2 - 1:w // 2 + 2].max(axis=1)
    if row.mean() >= 0.9 and col.mean() >= 0.9 and area <= 0.5 * w * h and 0.6 <= h / w <= 1.6:
        corners = [box[:max(1, h // 4), :max(1, w // 4)], box[:max(1, h // 4), -max(1, w // 4):]]
        return "+" if not any(c.any() for c in corners) else None
    return None


def fix_operators(boxes: Sequence[TextBox], pixels: "np.ndarray", dx: int = 0, dy: int = 0) -> list[TextBox]:
    """``boxes`` with each lone operator-like reading replaced by what its ink shows (:func:`operator_glyph`).

    ``pixels`` is the BGR(A) image the boxes' screen coordinates point into, offset by (``dx``, ``dy``).
    """
    out = []
    for b in boxes:
        text = b.text.strip()
        if len(text) == 1 and text in _OPERATOR_READS:
            x1, y1, x2, y2 = b.box
            crop = pixels[max(0, y1 - dy):max(0, y2 - dy), max(0, x1 - dx):max(0, x2 - dx), :3]
            seen = operator_glyph(crop)
            if seen is not None and seen != text:
                b = TextBox(seen, max(b.confidence, 0.9), b.box)
        out.append(b)
    return out


__all__ = ["find_entry_right_of", "find_glyphs", "fix_operators", "gray", "operator_glyph"]
