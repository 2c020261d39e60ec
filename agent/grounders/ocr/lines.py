"""Text lines OCR found on a screen, joined neighbours, and their ranking against a target."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

from agent.grounders.ocr.targets import Target
from agent.grounders.ocr.text import match_score, normalize

Box = tuple[int, int, int, int]
"""(x1, y1, x2, y2) in screen pixels, x2/y2 exclusive."""


@dataclass(frozen=True)
class TextBox:
    """One line of text OCR found: its text, recognition confidence, box and per-character boxes (when known)."""

    text: str
    confidence: float
    box: Box
    chars: tuple[tuple[str, Box], ...] = field(default=(), repr=False)

    @property
    def center(self) -> tuple[int, int]:
        x1, y1, x2, y2 = self.box
        return ((x1 + x2) // 2, (y1 + y2) // 2)

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]

    def span_box(self, target: str) -> Box | None:
        """The box of the characters of this line that spell ``target`` (normalized), when it is inside."""
        q = normalize(target).replace(" ", "")
        if not q or not self.chars:
            return None
        flat: list[tuple[str, int]] = []
        for i, (ch, _) in enumerate(self.chars):
            for c in normalize(ch).replace(" ", ""):
                flat.append((c, i))
        s = "".join(c for c, _ in flat)
        k = s.find(q)
        if k < 0:
            return None
        idx = {i for _, i in flat[k:k + len(q)]}
        boxes = [self.chars[i][1] for i in idx]
        return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def line_candidates(boxes: Sequence[TextBox], max_join: int = 4) -> list[TextBox]:
    """Every box, plus runs of up to ``max_join`` boxes side by side on one row, joined with spaces
    (a label the detector split in two: "Phone" + "number")."""
    out = list(boxes)
    rows = sorted(boxes, key=lambda b: (b.box[1], b.box[0]))
    tops = [b.box[1] for b in rows]
    for first in rows:
        run = [first]
        while len(run) < max_join:
            last = run[-1]
            h = max(last.height, 1)
            lo, hi = bisect.bisect_left(tops, last.box[1] - h), bisect.bisect_right(tops, last.box[1] + h)
            nxt = [b for b in rows[lo:hi] if b not in run and 0 <= b.box[0] - last.box[2] <= 2 * h
                   and min(b.box[3], last.box[3]) - max(b.box[1], last.box[1]) >= 0.5 * min(h, b.height)]
            if not nxt:
                break
            run.append(min(nxt, key=lambda b: b.box[0]))
            out.append(TextBox(" ".join(b.text for b in run), min(b.confidence for b in run),
                               (min(b.box[0] for b in run), min(b.box[1] for b in run),
                                max(b.box[2] for b in run), max(b.box[3] for b in run)),
                               tuple(c for b in run for c in b.chars) if all(b.chars for b in run) else ()))
    return out


class Match(NamedTuple):
    score: float
    line: TextBox
    kind: str
    target: str  # which reading of the target matched

    def key(self) -> tuple:
        # score, then the longer target text (more specific), confidence, topmost, leftmost
        return (self.score, len(normalize(self.target).replace(" ", "")), self.line.confidence,
                -self.line.box[1], -self.line.box[0])


def rank(lines: Sequence[TextBox], target: Target) -> list[Match]:
    """Lines scored against every reading of the target, best first (score > 0 only)."""
    out = []
    for line in lines:
        score, kind, text = max(((*match_score(t, line.text), t) for t in target.texts), key=lambda r: r[0])
        if score > 0:
            out.append(Match(score, line, kind, text))
    return sorted(out, key=Match.key, reverse=True)


__all__ = ["Box", "Match", "TextBox", "line_candidates", "rank"]
