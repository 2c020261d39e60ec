"""The RapidOCR engine: loaded once per option set and shared, and what one read of a frame returns.

RapidOCR (``rapidocr-onnxruntime``, the optional extra ``screenact[ocr]``) is imported on first use
only; without it :class:`OCRUnavailable` names the install command.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from contextvars import ContextVar
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from agent.grounders.ocr.lines import Box, TextBox
from agent.grounders.ocr.pixels import find_glyphs, fix_operators, gray
from agent.grounders.ocr.text import normalize
from agent.models.base import ModelError

if TYPE_CHECKING:
    import numpy as np

    from tools.frame import Frame

INSTALL_HINT = "pip install 'screenact[ocr]'"


class OCRUnavailable(ModelError, ImportError):
    """RapidOCR (the optional extra ``ocr``) is not installed."""


ENGINE_DEFAULTS: dict[str, Any] = {
    # RapidOCR's detector by default scales an image up until its SHORT side is 736 px, which turns a
    # 300×50 crop into a 4400×736 one (seconds); "max" leaves anything up to 2000 px at native size.
    # A large global max_side_len keeps the recogniser on native pixels for 4K screens too.
    "det_limit_type": "max",
    "max_side_len": 8192,
    # a lower pixel threshold than RapidOCR's 0.3 lets the detector see isolated glyphs ("4", "C" on a
    # calculator key) more often; what is not text is still dropped by the recognition confidence
    "det_thresh": 0.2,
}
"""RapidOCR settings OCRGrounder starts from (``engine_options`` override them)."""

_ENGINES: dict[tuple, Any] = {}
_ENGINE_LOCK = threading.Lock()


def rapidocr_class() -> Any:
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError as e:
        raise OCRUnavailable(
            f"the OCR grounder needs RapidOCR, which is not installed ({e}). Install the optional extra: "
            f"{INSTALL_HINT}") from e
    return RapidOCR


class RecognitionCache:
    """The engine's recogniser, remembering what it read in each crop (by the crop's pixels).

    Between two frames of one task most text lines are the same pixels: they are not recognised
    again, and read exactly as before. Bounded: the oldest reads are dropped past ``size`` crops.
    """

    def __init__(self, recognise: Any, size: int = 8192) -> None:
        self._recognise = recognise
        self._size = size
        self._reads: OrderedDict[bytes, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __getattr__(self, name: str) -> Any:  # the rest of the recogniser's interface
        return getattr(self._recognise, name)

    def __call__(self, crops: Any, return_word_box: bool = False) -> tuple[list, float]:
        if not isinstance(crops, list):
            crops = [crops]
        keys = [hashlib.blake2b(c.tobytes(), digest_size=16, key=f"{c.shape}{return_word_box}".encode()).digest()
                for c in crops]
        with self._lock:
            todo = [i for i, k in enumerate(keys) if k not in self._reads]
            self.hits += len(keys) - len(todo)
            self.misses += len(todo)
        elapsed = 0.0
        if todo:
            reads, elapsed = self._recognise([crops[i] for i in todo], return_word_box)
            with self._lock:
                for i, read in zip(todo, reads):
                    self._reads[keys[i]] = read
        with self._lock:
            out = []
            for k in keys:
                self._reads.move_to_end(k)
                out.append(self._reads[k])
            while len(self._reads) > self._size:
                self._reads.popitem(last=False)
        return out, elapsed

    def forget(self) -> None:
        """Drop every remembered read (a benchmark's cold start)."""
        with self._lock:
            self._reads.clear()


Keep = Callable[[Box], bool]
"""Whether to recognise a line the detector found (its box in screen pixels)."""
_KEEP: ContextVar[tuple[Keep, int, int, float] | None] = ContextVar("ocr_keep", default=None)


class DetectionFilter:
    """The engine's detector, keeping only the boxes the current read wants recognised
    (:func:`read_lines` ``recognise``): the others are not recognised at all."""

    def __init__(self, detect: Any) -> None:
        self._detect = detect

    def __getattr__(self, name: str) -> Any:
        return getattr(self._detect, name)

    def __call__(self, img: Any) -> tuple[Any, float]:
        boxes, elapsed = self._detect(img)
        want = _KEEP.get()
        if want is None or boxes is None or len(boxes) == 0:
            return boxes, elapsed
        keep, dx, dy, inv = want
        return boxes[[k for k, quad in enumerate(boxes) if keep(_quad_box(quad, dx, dy, inv))]], elapsed


def engine(options: tuple) -> Any:
    """The shared RapidOCR engine for ``options``, its recogniser wrapped in a :class:`RecognitionCache`."""
    with _ENGINE_LOCK:
        if options not in _ENGINES:
            ocr = rapidocr_class()(**dict(options))
            if hasattr(ocr, "text_rec"):
                ocr.text_rec = RecognitionCache(ocr.text_rec)
            if hasattr(ocr, "text_det"):
                ocr.text_det = DetectionFilter(ocr.text_det)
            _ENGINES[options] = ocr
        return _ENGINES[options]


def _recognise(engine: Any, crops: list["np.ndarray"]) -> list[tuple[str, float]]:
    """(text, confidence) of each crop by the recogniser alone (no detection), batched where the engine allows."""
    rec = getattr(engine, "text_rec", None)
    if rec is not None:
        return [(str(t), float(c)) for t, c in rec(crops)[0]]
    out = []
    for crop in crops:  # older RapidOCR: the public call, one crop at a time
        result, _ = engine(crop, use_det=False, use_cls=False, use_rec=True)
        out.append((str(result[0][0]), float(result[0][1])) if result else ("", 0.0))
    return out


def recognise_boxes(pixels: "np.ndarray", boxes: Sequence[Box], options: tuple) -> list[tuple[str, float]]:
    """(text, confidence) of each screen box of ``pixels`` (BGR(A)), recognised alone with a margin of
    a third of its height."""
    import numpy as np

    crops = []
    for x1, y1, x2, y2 in boxes:
        pad = max(3, (y2 - y1) // 3)
        crops.append(np.ascontiguousarray(pixels[max(0, y1 - pad):y2 + pad, max(0, x1 - pad):x2 + pad, :3]))
    return _recognise(engine(options), crops)


@dataclass(frozen=True)
class Read:
    """The text one OCR pass found, and how long the pass took."""

    boxes: tuple[TextBox, ...]
    seconds: float


def _quad_box(points: Any, dx: int, dy: int, inv: float) -> Box:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return (int(min(xs) * inv) + dx, int(min(ys) * inv) + dy,
            int(round(max(xs) * inv)) + dx, int(round(max(ys) * inv)) + dy)


def _crop(arr: "np.ndarray", region: Box | None) -> tuple["np.ndarray", int, int]:
    """The part of ``arr`` inside ``region`` (all of it for None) and the region's offset."""
    if region is None:
        return arr, 0, 0
    return arr[region[1]:region[3], region[0]:region[2]], region[0], region[1]


def read_lines(frame: "Frame", region: Box | None, *, options: tuple, scale: float, min_confidence: float,
               box_thresh: float, recognise: Keep | None = None) -> Read:
    """Every text line the engine finds in ``frame`` (or in ``region`` of it), in screen pixels;
    with ``recognise``, only the lines it says yes to."""
    import numpy as np

    started = time.perf_counter()
    arr, dx, dy = _crop(frame.array(), region)
    bgr = np.ascontiguousarray(arr[:, :, :3])
    if scale != 1.0:
        import cv2

        bgr = cv2.resize(bgr, (max(1, round(bgr.shape[1] * scale)), max(1, round(bgr.shape[0] * scale))),
                         interpolation=cv2.INTER_AREA)
    inv = 1.0 / scale
    token = _KEEP.set(None if recognise is None else (recognise, dx, dy, inv))
    try:
        # no angle classifier: screen text is upright, and it costs ~5 % of the time
        result, _ = engine(options)(bgr, use_cls=False, return_word_box=True, text_score=min_confidence,
                                    box_thresh=box_thresh, unclip_ratio=1.6)
    finally:
        _KEEP.reset(token)
    boxes: list[TextBox] = []
    for item in result or []:
        quad, text, confidence = item[0], str(item[1]), float(item[2])
        chars: tuple[tuple[str, Box], ...] = ()
        if len(item) >= 5 and item[3] and item[4] and len(item[3]) == len(item[4]):
            chars = tuple((str(c), _quad_box(q, dx, dy, inv)) for q, c in zip(item[3], item[4]))
            if normalize("".join(c for c, _ in chars)).replace(" ", "") != normalize(text).replace(" ", ""):
                chars = ()
        boxes.append(TextBox(text, confidence, _quad_box(quad, dx, dy, inv), chars))
    return Read(tuple(fix_operators(boxes, frame.array())), time.perf_counter() - started)


def read_glyphs(frame: "Frame", region: Box | None, lines: Sequence[TextBox], *, options: tuple,
                min_confidence: float) -> Read:
    """Isolated one- to three-character marks outside ``lines`` (:func:`find_glyphs`), each recognised alone."""
    import numpy as np

    started = time.perf_counter()
    grey, dx, dy = _crop(gray(frame), region)
    skip = [(b.box[0] - dx, b.box[1] - dy, b.box[2] - dx, b.box[3] - dy) for b in lines]
    boxes = find_glyphs(grey, skip)
    if not boxes:
        return Read((), time.perf_counter() - started)
    arr = frame.array()
    crops, owner = [], []
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        pad = max(4, (y2 - y1) // 2)
        # a lone dash is read unreliably ("-" or "一", confidence jumping with the margin): two crops
        pads = [(pad, 6), (pad, 12)] if y2 - y1 < 6 else [(pad, pad)]
        for px, py in pads:
            crops.append(np.ascontiguousarray(
                arr[max(0, y1 + dy - py):y2 + dy + py, max(0, x1 + dx - px):x2 + dx + px, :3]))
            owner.append(k)
    best: dict[int, tuple[str, float]] = {}
    for k, (text, conf) in zip(owner, _recognise(engine(options), crops)):
        text = str(text).strip()
        if text and (k not in best or float(conf) > best[k][1]):
            best[k] = (text, float(conf))
    found = []
    for k, (text, conf) in sorted(best.items()):
        if conf >= min_confidence and len(text) <= 3:
            x1, y1, x2, y2 = boxes[k]
            found.append(TextBox(text, conf, (x1 + dx, y1 + dy, x2 + dx, y2 + dy)))
    return Read(tuple(fix_operators(found, arr)), time.perf_counter() - started)


__all__ = ["ENGINE_DEFAULTS", "INSTALL_HINT", "OCRUnavailable", "DetectionFilter", "Read", "RecognitionCache", "engine", "rapidocr_class", "read_glyphs",
           "read_lines", "recognise_boxes"]
