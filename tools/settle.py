"""Settle: wait until the screen stops changing after an action, instead of a fixed sleep.

Frames are grabbed every ``interval`` seconds; the screen is settled once nothing has changed for
``quiet`` seconds. A text caret that blinks in place must not keep that from happening: a small thin
region that changes a second time at the same place is recognised as blinking and ignored from then
on. A single small change (a typed "l", say) still counts, because it does not come back.
The pointer is not part of captured frames, so it never counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tools.frame import Frame

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 (inclusive)

CARET_MAX_WIDTH = 4
CARET_MAX_HEIGHT = 64


@dataclass(frozen=True)
class Settled:
    """The first stable frame after an action, and how long it took to get it."""

    frame: Frame
    waited_s: float
    frames: int
    stable: bool  # False when ``timeout`` ran out while the screen was still changing
    changed: bool  # whether anything changed at all compared with the first frame


def diff_box(a: Frame, b: Frame) -> Box | None:
    """The bounding box of the pixels that differ between two frames of one size, or None."""
    if a.bgra == b.bgra:
        return None
    import numpy as np

    diff = np.any(a.array()[:, :, :3] != b.array()[:, :, :3], axis=2)
    rows = np.flatnonzero(diff.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(diff.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


def _caret_like(box: Box) -> bool:
    x1, y1, x2, y2 = box
    return x2 - x1 + 1 <= CARET_MAX_WIDTH and y2 - y1 + 1 <= CARET_MAX_HEIGHT


def _inside(box: Box, outer: Box) -> bool:
    return outer[0] <= box[0] and outer[1] <= box[1] and box[2] <= outer[2] and box[3] <= outer[3]


def settle(
    grab: Callable[[], Frame],
    *,
    first: Frame | None = None,
    quiet: float = 0.12,
    interval: float = 0.02,
    timeout: float = 3.0,
) -> Settled:
    """Grab frames until none changed for ``quiet`` seconds (or ``timeout`` passed); return the last one."""
    t0 = time.monotonic()
    prev = first if first is not None else grab()
    start = prev
    frames = 1
    last_change = t0
    caret_seen: list[Box] = []
    blinking: list[Box] = []
    while True:
        now = time.monotonic()
        if now - last_change >= quiet:
            return Settled(prev, now - t0, frames, True, diff_box(start, prev) is not None)
        if now - t0 >= timeout:
            return Settled(prev, now - t0, frames, False, diff_box(start, prev) is not None)
        time.sleep(interval)
        cur = grab()
        frames += 1
        box = diff_box(prev, cur)
        if box is not None and not any(_inside(box, b) for b in blinking):
            if _caret_like(box):
                if any(_inside(box, b) or _inside(b, box) for b in caret_seen):
                    blinking.append(box)
                else:
                    caret_seen.append(box)
                    last_change = time.monotonic()
            else:
                last_change = time.monotonic()
        prev = cur
