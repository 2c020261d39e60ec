"""OCRGrounder: read the screen's text once per frame, click the text that matches the description."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
import weakref
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any, Sequence

from agent.grounders.base import Grounding, Point
from agent.grounders.ocr.controls import find_indicator, find_slider
from agent.grounders.ocr.engine import ENGINE_DEFAULTS, Read, rapidocr_class, read_glyphs, read_lines, recognise_boxes
from agent.grounders.ocr.engine import Keep
from agent.grounders.ocr.incremental import FINE, Plan, Rereading, changed_tiles, colour_bits, merge, plan_reread
from agent.grounders.ocr.lines import Box, Match, TextBox, line_candidates, rank
from agent.grounders.ocr.pixels import find_entry_right_of, gray
from agent.grounders.ocr.roles import AREA_ROLES, EN_ROLES, INDICATOR_ROLES
from agent.grounders.ocr.shapes import find_area
from agent.grounders.ocr.targets import Target, parse_target
from agent.grounders.ocr.terminal import Terminal, find_word, read_terminals
from agent.grounders.ocr.text import normalize

if TYPE_CHECKING:
    import numpy as np

    from tools.frame import Frame

RECENT_FRAMES = 4
"""Whole frames kept for comparison: tasks run in parallel share one grounder, each needs its own last frame."""
CLOSE_ENOUGH = 8
"""A recent frame whose changes need at most 1/8 of the screen read again is taken without comparing older ones."""


class OCRGrounder:
    """Embedded grounder on the CPU: RapidOCR text + fuzzy matching (see the module docstring).

    ``threshold``: the lowest match score accepted. ``min_confidence``: OCR lines recognised with less
    confidence are dropped. ``box_thresh``: the detector's box score threshold (RapidOCR's own is 0.5;
    0.3 keeps more isolated short words). ``scale``: shrink factor applied before OCR (1.0 = native pixels).
    ``field_offset``: px right of a label's right edge when no entry rectangle is found beside it;
    ``field_search_px``: how far right of a label to look for the entry; ``edge_contrast``: the grey-level
    step that counts as an entry's border. ``cache_size``: OCR results kept (keyed by frame content).
    ``incremental``: read a frame again only where it differs from one of the last frames read
    (:mod:`.incremental`); False reads every new frame whole.
    ``engine_options``: keyword arguments for ``RapidOCR(...)`` over :data:`ENGINE_DEFAULTS` (e.g. thread counts).
    """

    name = "ocr"

    def __init__(
        self,
        *,
        threshold: float = 0.7,
        min_confidence: float = 0.5,
        box_thresh: float = 0.3,
        scale: float = 1.0,
        field_offset: int = 60,
        field_search_px: int = 400,
        edge_contrast: int = 16,
        cache_size: int = 8,
        incremental: bool = True,
        engine_options: dict[str, Any] | None = None,
    ) -> None:
        if not 0 < scale <= 1:
            raise ValueError(f"scale must be in (0, 1], got {scale!r}")
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
        rapidocr_class()  # fail now, with the install hint, rather than at the first step
        self.threshold = threshold
        self.min_confidence = min_confidence
        self.box_thresh = box_thresh
        self.scale = scale
        self.field_offset = field_offset
        self.field_search_px = field_search_px
        self.edge_contrast = edge_contrast
        self.cache_size = cache_size
        self.incremental = incremental
        # the last whole frames read (pixels, lines): the next frame is compared with the closest one
        self._recent: deque[tuple["np.ndarray", Read]] = deque(maxlen=RECENT_FRAMES)
        self._options = tuple(sorted({**ENGINE_DEFAULTS, **(engine_options or {})}.items()))
        self._cache: OrderedDict[tuple, Read] = OrderedDict()
        self._digests: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._terminals: OrderedDict[str, tuple[Terminal, ...]] = OrderedDict()
        self.ocr_runs = 0  # how many times OCR of a frame actually ran (the rest came from the cache)
        self.glyph_runs = 0  # how many times the isolated-glyph pass ran
        self.partial_runs = 0  # of ocr_runs, how many read only the changed parts of the frame

    # ------------------------------------------------------------------ reading
    def _digest(self, frame: "Frame") -> str:
        try:
            return self._digests[frame]
        except (KeyError, TypeError):
            pass
        # colour channels only: the fourth byte is padding whose value depends on where the frame came from
        h = hashlib.blake2b(colour_bits(frame.array()), digest_size=16)
        h.update(f"{frame.width}x{frame.height}".encode())
        digest = h.hexdigest()
        try:
            self._digests[frame] = digest
        except TypeError:
            pass
        return digest

    def read(self, frame: "Frame", region: Box | None = None) -> tuple[TextBox, ...]:
        """All text lines OCR finds in the frame (or in ``region`` of it), in screen pixels; cached."""
        return self._read(frame, region)[0].boxes

    def read_glyphs(self, frame: "Frame", region: Box | None = None) -> tuple[TextBox, ...]:
        """Isolated one- or two-character marks the detector missed (:func:`find_glyphs`), recognised
        one by one; cached like :meth:`read`."""
        return self._read(frame, region, glyphs=True)[0].boxes

    def read_terminals(self, frame: "Frame") -> tuple[Terminal, ...]:
        """The terminals on the frame, read by their line structure (:mod:`.terminal`); cached like :meth:`read`."""
        lines = self.read(frame)
        key = self._digest(frame)
        with self._lock:
            if key not in self._terminals:
                arr = frame.array()
                self._terminals[key] = tuple(read_terminals(
                    gray(frame), lines, lambda boxes: recognise_boxes(arr, boxes, self._options),
                    self.min_confidence))
                while len(self._terminals) > self.cache_size:
                    self._terminals.popitem(last=False)
            self._terminals.move_to_end(key)
            return self._terminals[key]

    def _read(self, frame: "Frame", region: Box | None, glyphs: bool = False,
              whole: bool = False) -> tuple[Read, bool]:
        """(the lines read, whether they came from the cache); ``whole`` reads the frame afresh, never
        incrementally."""
        if region is not None:
            x1, y1, x2, y2 = region
            region = (max(0, x1), max(0, y1), min(frame.width, x2), min(frame.height, y2))
            if region[2] - region[0] < 2 or region[3] - region[1] < 2:
                raise ValueError(f"region {region} is empty")
        key = (self._digest(frame), region, self.scale, self.min_confidence, self.box_thresh, glyphs, whole)
        if glyphs:
            lines = self._read(frame, region)[0]  # the glyph pass skips what the detector found
        with self._lock:  # one OCR at a time: two would only share the same cores
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit, True
            if glyphs:
                result = read_glyphs(frame, region, lines.boxes, options=self._options,
                                     min_confidence=self.min_confidence)
            elif region is None:
                result = self._read_whole(frame, fresh=whole)
            else:
                result = self._read_lines(frame, region)
            if glyphs:
                self.glyph_runs += 1
            else:
                self.ocr_runs += 1
            self._cache[key] = result
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
            return result, False

    def _read_lines(self, frame: "Frame", region: Box | None, recognise: Keep | None = None) -> Read:
        return read_lines(frame, region, options=self._options, scale=self.scale, min_confidence=self.min_confidence,
                          box_thresh=self.box_thresh, recognise=recognise)

    def _read_whole(self, frame: "Frame", fresh: bool = False) -> Read:
        """The whole frame's lines: only its changed parts read again when a recent frame is close enough
        (unless ``fresh``)."""
        started = time.perf_counter()
        pixels = frame.array()
        best: tuple[Plan, Read] | None = None
        if self.incremental and self.scale == 1.0 and not fresh:
            for old_pixels, old in reversed(self._recent):  # newest first: most often the closest
                if old_pixels.shape == pixels.shape:
                    plan = plan_reread(changed_tiles(old_pixels, pixels, FINE), old.boxes, frame.width, frame.height,
                                       tile=FINE)
                    if plan is not None and (best is None or plan.area < best[0].area):
                        best = (plan, old)
                    if best is not None and best[0].area <= frame.width * frame.height // CLOSE_ENOUGH:
                        break
        if best is None:
            result = self._read_lines(frame, None)
        else:
            plan, old = best
            needed = Rereading(plan, old.boxes, pixels, [(p, r.boxes) for p, r in self._recent])
            fresh = [b for r in plan.regions for b in self._read_lines(frame, r, needed).boxes]
            result = Read(merge(old.boxes, plan.changed, [*fresh, *needed.reused]), time.perf_counter() - started)
            self.partial_runs += 1
        # a frame's bytes never change: keep a view of them, not a copy
        self._recent.append((pixels if isinstance(frame.bgra, bytes) else pixels.copy(), result))
        return result

    # ------------------------------------------------------------------ grounding
    async def ground(self, frame: "Frame", description: str) -> Point | None:
        """The screen pixel of the described element, or None when no text on screen matches."""
        return (await self.locate(frame, description)).point

    async def locate(self, frame: "Frame", description: str, *, region: Box | None = None) -> Grounding:
        """Find the described element; OCR runs in a worker thread so the event loop stays free."""
        return await asyncio.to_thread(self.locate_sync, frame, description, region=region)

    def locate_sync(self, frame: "Frame", description: str, *, region: Box | None = None) -> Grounding:
        """:meth:`locate` without asyncio. A miss on an incremental read is checked on a fresh whole read:
        an incremental read can lose a line the detector cuts differently in context (seen: a radio
        button's label after a drop-down closed over it), and a miss ends a scripted step."""
        found = self._locate(frame, description, region, whole=False)
        if found.point is not None or not self.incremental or region is not None:
            return found
        again = self._locate(frame, description, region, whole=True)
        again.details["whole_reread"] = True
        again.latency_s += found.latency_s  # the step waited for both looks
        return again

    def _locate(self, frame: "Frame", description: str, region: Box | None, whole: bool) -> Grounding:
        started = time.perf_counter()
        target = parse_target(description)
        read, cached = self._read(frame, region, whole=whole)
        details: dict[str, Any] = {"target": target.text, "field": target.field, "ocr_s": round(read.seconds, 4),
                                   "cached": cached, "lines": len(read.boxes)}
        if target.in_terminal and region is None:
            found = self._in_terminal(frame, target, details)
            if found is not None:
                x, y = found
                return Grounding(Point(x, y), description, self.name, latency_s=time.perf_counter() - started,
                                 details=details)
            if "reason" in details:
                return Grounding(None, description, self.name, latency_s=time.perf_counter() - started,
                                 details=details)
        if target.role in AREA_ROLES:
            point = self._area(frame, target, read.boxes, details)
            return Grounding(point and Point(*point), description, self.name,
                             latency_s=time.perf_counter() - started, details=details)
        scored = rank(line_candidates(read.boxes), target)
        short = any(len(normalize(t).replace(" ", "")) <= 2 for t in target.texts)
        if short and (not scored or scored[0].score < self.threshold):
            # a one- or two-character target ("7", "+", "OK") the detector may have missed: read isolated glyphs
            glyph_read, _ = self._read(frame, region, glyphs=True)
            details["glyphs"] = len(glyph_read.boxes)
            scored = sorted(scored + rank(glyph_read.boxes, target), key=Match.key, reverse=True)
        details["candidates"] = [{"text": m.line.text, "score": round(m.score, 3), "kind": m.kind,
                                  "box": list(m.line.box)} for m in scored[:3]]
        if not scored or scored[0].score < self.threshold:
            best_text = f" (best: {scored[0].line.text!r} at {scored[0].score:.2f})" if scored else ""
            details["reason"] = f"no text on screen matches {target.text!r} well enough{best_text}"
            return Grounding(None, description, self.name, latency_s=time.perf_counter() - started, details=details)
        if target.role in INDICATOR_ROLES or target.role == "slider":
            point = self._control(frame, target, scored, details)
            return Grounding(point and Point(*point), description, self.name,
                             latency_s=time.perf_counter() - started, details=details)
        best = scored[0]
        box = _match_box(best)
        details.update(matched=best.line.text, matched_as=best.target, score=round(best.score, 3), kind=best.kind,
                       ocr_confidence=round(best.line.confidence, 3), box=list(box))
        x, y = (box[0] + box[2]) // 2, (box[1] + box[3]) // 2
        rule = "text"
        if target.field:
            entry = find_entry_right_of(gray(frame), box, search_px=self.field_search_px, contrast=self.edge_contrast)
            if entry is not None:
                x, y, rule = (entry[0] + entry[2]) // 2, (entry[1] + entry[3]) // 2, "entry-box"
                details["entry_box"] = list(entry)
            else:
                x, rule = box[2] + self.field_offset, "label-offset"
        details["rule"] = rule
        x, y = min(max(x, 0), frame.width - 1), min(max(y, 0), frame.height - 1)
        return Grounding(Point(x, y), description, self.name, latency_s=time.perf_counter() - started, details=details)

    def _control(self, frame: "Frame", target: Target, scored: list[Match],
                 details: dict[str, Any]) -> tuple[int, int] | None:
        """The point of a checkbox's or radio button's mark, or of a slider's handle, beside the best
        label that has one (:mod:`.controls`); None, with the reason, when no matching label has one."""
        grey = gray(frame)
        for match in [m for m in scored if m.score >= self.threshold][:5]:
            # the label's own characters: OCR often reads a checkbox's mark into the line ("× Mute")
            box = match.line.span_box(match.target) or match.line.box
            if target.role == "slider":
                slider = find_slider(grey, box)
                if slider is None:
                    continue
                trough, handle = slider
                mark, rule = (handle, "slider-handle") if handle is not None else (trough, "slider-trough")
                details["trough_box"] = list(trough)
            else:
                mark = find_indicator(grey, box, "square" if target.role == "checkbox" else "round")
                rule = f"{target.role}-mark"
                if mark is None:
                    continue
            details.update(matched=match.line.text, matched_as=match.target, score=round(match.score, 3),
                           kind=match.kind, box=list(box), mark_box=list(mark), rule=rule)
            return (mark[0] + mark[2]) // 2, (mark[1] + mark[3]) // 2
        shape = {"checkbox": "square checkbox mark", "radio": "round radio-button mark"}.get(target.role or "", "slider")
        details["reason"] = f"text matching {target.text!r} is on screen, but no {shape} beside it"
        return None

    def _area(self, frame: "Frame", target: Target, lines: Sequence[TextBox],
              details: dict[str, Any]) -> tuple[int, int] | None:
        """The centre of the scroll bar, list, text area or display the target names, found by shape
        (:mod:`.shapes`) near the text its other words match; None, with the reason, when there is none."""
        words = [w for w in normalize(f"{target.text} {target.context}").split()
                 if w not in EN_ROLES and w not in ("the", "of", "in")] + [target.text]
        box = find_area(gray(frame), target.role or "", words, lines)
        if box is None:
            details["reason"] = f"no {target.role} on screen"
            return None
        details.update(box=list(box), rule=f"{target.role}-shape")
        return (box[0] + box[2]) // 2, (box[1] + box[3]) // 2

    def _in_terminal(self, frame: "Frame", target: Target, details: dict[str, Any]) -> tuple[int, int] | None:
        """The centre of the terminal word the target names; None (with a reason in ``details`` when a
        terminal is on screen but no word matches) otherwise."""
        terminals = self.read_terminals(frame)
        details["terminals"] = len(terminals)
        if not terminals:
            return None
        best = find_word(terminals, target.texts, target.role, target.context)
        if best is None or best[0] < self.threshold:
            seen = f" (best: {best[1].text!r} at {best[0]:.2f})" if best else ""
            details["reason"] = f"no word in the terminal matches {target.text!r} well enough{seen}"
            return None
        score, word = best
        details.update(matched=word.text, score=round(score, 3), box=list(word.box), rule="terminal-word")
        return word.center


def _match_box(match: Match) -> Box:
    """The box of the matched characters within the line when they are known (an exact match's too: the
    line's box is padded, and may reach over the border of the entry beside a label), else the line's."""
    if match.kind != "fuzzy":
        return match.line.span_box(match.target) or match.line.box
    return match.line.box


__all__ = ["OCRGrounder"]
