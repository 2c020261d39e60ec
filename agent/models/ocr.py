"""OCRGrounder: an embedded grounder on the CPU — read the screen's text, click the text that matches.

No GPU, no model server, no download: RapidOCR (``rapidocr-onnxruntime``, the optional extra
``screenact[ocr]``) ships its PP-OCRv4 detection and recognition models (Chinese + English) in the
wheel and runs them through onnxruntime. It is imported on first use only.

How a description becomes a point:

1. **Target text** (:func:`parse_target`). Quoted text wins (``'…'``, ``"…"``, ``“…”``, ``「…」``);
   otherwise leading articles and verbs ("click the", "点击") and the trailing role noun ("button",
   "field", "menu item", "按钮", "输入框", …, with anything after it such as "in the toolbar") are
   stripped. A whole step such as "type 'Alice' into the Email field" is reduced to its target
   ("the Email field") first. Role nouns that name an entry (field, box, entry, input, text area,
   dropdown, combo box, 输入框, 文本框, 下拉框, 框, 栏, …) mark the target as a **field**.
2. **Read** the frame once (:meth:`OCRGrounder.read`): text lines with their boxes and per-character
   boxes, cached by frame content (the colour bytes), so several steps on one frame run OCR once.
3. **Match** (:func:`match_score`), case-, width-, punctuation- and whitespace-insensitive (NFKC,
   casefold, only letters and digits kept; CJK compares character by character; a target made of
   symbols only, like "+" or "÷", compares the symbols): exact 1.0 > whole words inside a line
   0.85–0.95 > characters inside a line 0.75–0.85 > fuzzy (difflib ratio × 0.85, also against
   same-length windows of a longer line). Lines side by side on one row are also tried joined, for a
   label the detector split in two; the target's gentler readings (:class:`Target`) are tried too.
   The best candidate at or above ``threshold`` (default 0.7) wins; ties go to the longer target
   text, then the higher recognition confidence, then the topmost, leftmost. Below the threshold the
   answer is None — "not found", honestly.
   For a target of one or two characters that nothing matched ("7", "+", "OK" on a key), a second,
   cached pass (:meth:`OCRGrounder.read_glyphs`) finds isolated glyph-shaped marks in the pixels
   (:func:`find_glyphs`) — text detectors miss lone characters — and recognises each one.
4. **Point.** For a match inside a longer line, the centre of the matched characters; otherwise the
   centre of the text's box. For a field, the text found is its label, and the click must land in the
   entry beside it: scanning the pixels right of the label (up to ``field_search_px``) for the first
   vertical edge taller than the label's glyphs, then following that edge up and down and looking
   for the opposite edge, gives the entry's rectangle (:func:`find_entry_right_of`), whose centre is
   returned. When no rectangle is found the point is ``field_offset`` px right of the label's right
   edge, on its centre line. Entries placed under their label, and entries with only placeholder
   text inside, are not handled; when the same text is on screen twice (a calculator's display "0"
   and its "0" key) the detector's line wins.

Speed: OCR of a 1920×1080 frame takes ~1–2 s on 2 idle cores; a step on a frame already read costs
about a millisecond. ``scale`` < 1 shrinks the frame before OCR (faster, worse on small text);
``region`` in :meth:`locate` reads only part of the screen. The detector runs at native resolution up
to 2000 px (see :data:`ENGINE_DEFAULTS`) and the angle classifier is off (screen text is upright).

``OCRGrounder`` is also a ``ModelClient``: :meth:`complete` takes grounding messages (an image and
``## Task Instruction:`` text) and answers in the Kimi-VL ``## Action:`` / ``## Code:`` shape with
normalized coordinates, so it can stand in for a model with a normalized-space profile.
"""

from __future__ import annotations

import asyncio
import bisect
import difflib
import hashlib
import io
import re
import threading
import time
import unicodedata
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Sequence

from agent.grounding import Grounding, Point
from agent.models.base import ModelError, Reply

if TYPE_CHECKING:
    import numpy as np

    from tools.frame import Frame

Box = tuple[int, int, int, int]
"""(x1, y1, x2, y2) in screen pixels, x2/y2 exclusive."""

INSTALL_HINT = "pip install 'screenact[ocr]'"


class OCRUnavailable(ModelError, ImportError):
    """RapidOCR (the optional extra ``ocr``) is not installed."""


# ---------------------------------------------------------------------- target text
_QUOTES = re.compile(
    r"(?<!\w)'([^'\n]+)'(?!\w)|\"([^\"\n]+)\"|“([^”\n]+)”|‘([^’\n]+)’|「([^」\n]+)」|『([^』\n]+)』|«([^»\n]+)»"
)
# "type 'Alice' into the Email field" → "the Email field"; "在 邮箱 输入框 中输入 'x'" → "邮箱 输入框"
_TYPE_INTO = re.compile(
    r"^\s*(?:type|enter|write|input|put|fill\s+in|paste)\b.*?\s(?:into|in|to|inside)\s+(.+)$",
    re.IGNORECASE | re.DOTALL)
_ZH_TYPE_INTO = re.compile(r"^\s*在\s*(.+?)\s*(?:中|里|内)?\s*(?:输入|填写|键入)(?!框)")

_ROLE_WORDS = {
    # role noun → whether it names an entry (the click then goes into the box beside the label)
    "button": False, "btn": False, "key": False, "tab": False, "menu": False, "item": False, "checkbox": False,
    "radio": False, "link": False, "icon": False, "label": False, "option": False, "toggle": False,
    "switch": False, "heading": False, "text": False, "entry": True, "field": True, "box": True, "input": True,
    "textbox": True, "textfield": True, "textarea": True, "area": True, "dropdown": True, "drop-down": True,
    "combobox": True, "spinbox": True, "editbox": True,
}
_NOT_ENTRY = {"check", "checkbox", "tick", "radio"}  # "check box" is a checkbox, not an entry
_ROLE_MODIFIERS = {"text", "input", "check", "tick", "radio", "combo", "drop", "drop-down", "menu", "edit",
                   "entry", "search", "spin"}
_ARTICLES = {"the", "a", "an", "on", "onto", "in", "into", "at", "to", "please"}
_VERBS = {
    "click", "double-click", "doubleclick", "right-click", "rightclick", "left-click", "press", "tap", "hit",
    "select", "choose", "pick", "open", "activate", "focus", "check", "uncheck", "toggle", "hover", "find",
    "locate", "double", "right", "left", "once", "twice", "go",
}
_PREPOSITIONS = {"in", "on", "at", "of", "from", "near", "under", "above", "below", "next", "to", "inside",
                 "within", "beside", "by", "for", "that", "which", "labeled", "labelled", "named", "called",
                 "titled", "with"}
_NAMED = re.compile(r"\b(?:labeled|labelled|named|called|titled|saying|that\s+says|with\s+the\s+(?:text|label))"
                    r"\s+(.+)$", re.IGNORECASE)
_PUNCT = ",.;:!?。，；：！？"

# Chinese role suffixes, longest first, and whether they name an entry.
_ZH_ROLES = [
    ("单选按钮", False), ("复选框", False), ("勾选框", False), ("下拉菜单", True), ("输入框", True), ("文本框", True),
    ("编辑框", True), ("下拉框", True), ("组合框", True), ("搜索框", True), ("选项卡", False), ("标签页", False),
    ("菜单项", False), ("按钮", False), ("按键", False), ("菜单", False), ("链接", False), ("图标", False),
    ("标签", False), ("选项", False), ("字段", True), ("框", True), ("栏", True),
]
_ZH_LEADING = ["右键点击", "右键单击", "双击", "单击", "点击", "点按", "按下", "选择", "选中", "勾选", "打开", "请", "在", "把", "将"]


@dataclass(frozen=True)
class Target:
    """What to look for on screen.

    ``text`` is the target with verbs, articles and the role noun stripped; ``variants`` are gentler
    readings also tried (verbs kept: "Open File"; role word kept: "Add Item"), the best-scoring one
    wins. ``field`` is True when the description names an entry beside its label.
    """

    text: str
    field: bool = False
    quoted: bool = False
    variants: tuple[str, ...] = ()

    @property
    def texts(self) -> tuple[str, ...]:
        """``text`` then the variants, without duplicates."""
        return tuple(dict.fromkeys((self.text, *self.variants)))


def _words(text: str) -> list[str]:
    return [w.strip(_PUNCT) for w in text.split() if w.strip(_PUNCT)]


def _names_entry(words: Sequence[str]) -> bool | None:
    """Whether role words name an entry (None: no role word at all)."""
    low = [w.lower() for w in words]
    roles = [w for w in low if w in _ROLE_WORDS]
    if not roles:
        return None
    if any(w in _NOT_ENTRY for w in low):
        return False
    return any(_ROLE_WORDS[w] for w in roles)


def _zh_role(text: str) -> tuple[str, bool | None]:
    """``text`` without a trailing Chinese role noun (and a trailing 的), and whether that noun names an entry."""
    s = text.rstrip(_PUNCT + " ")
    for suffix, entry in _ZH_ROLES:
        if s.endswith(suffix) and len(s) > len(suffix):
            s = s[: -len(suffix)].rstrip()
            return (s[:-1] if s.endswith("的") and len(s) > 1 else s).strip(), entry
    return s, None


def _zh_leading(text: str) -> str:
    s = text.strip()
    changed = True
    while changed:
        changed = False
        for w in _ZH_LEADING:
            if s.startswith(w) and len(s) > len(w):
                s, changed = s[len(w):].lstrip(), True
    return s


def _en_role(words: Sequence[str]) -> tuple[list[str], bool | None]:
    """Words up to the role noun — one at the end, or followed by a preposition ("Save button in the toolbar")."""
    low = [w.lower() for w in words]
    for i in range(1, len(words)):
        if low[i] in _ROLE_WORDS and (i == len(words) - 1 or low[i + 1] in _PREPOSITIONS):
            j = i
            while j - 1 > 0 and low[j - 1] in _ROLE_MODIFIERS:
                j -= 1
            return list(words[:j]), _names_entry(words[j:i + 1])
    return list(words), None


def parse_target(description: str) -> Target:
    """The on-screen text a step description points at, and whether it names an entry (see the module docstring)."""
    desc = " ".join(description.split())
    m = _TYPE_INTO.match(desc) or _ZH_TYPE_INTO.match(desc)
    if m:
        desc = m.group(1).strip()
    q = _QUOTES.search(desc)
    if q:
        quoted = next(g for g in q.groups() if g is not None).strip()
        before, after = desc[: q.start()].strip(), desc[q.end():].strip()
        after_words = _words(after)
        cut = next((k for k, w in enumerate(after_words) if w.lower() in _PREPOSITIONS), len(after_words))
        zh_after = next((e for suffix, e in _ZH_ROLES if after.startswith(suffix)), None)
        zh_before = next((e for suffix, e in _ZH_ROLES if before.endswith(suffix)), None)
        entry = _names_entry(after_words[:cut]) or _names_entry(_words(before)[-2:]) or zh_after or zh_before
        return Target(quoted, bool(entry), True)
    m = _NAMED.search(desc)
    if m:
        name = m.group(1).strip(" .\"'")
        return Target(name, bool(_names_entry(_words(desc[: m.start()])[-2:])), False)
    zh, zh_entry = _zh_role(_zh_leading(desc))
    words = _words(zh)
    start = 0
    while start < len(words) - 1 and words[start].lower() in _ARTICLES | _VERBS:
        start += 1
    core, en_entry = _en_role(words[start:])
    text = " ".join(core)
    if zh_entry is None and en_entry is None:  # "the 姓名 field" was handled above; "姓名 输入框 (Name)" …
        text, zh_entry = _zh_role(text)
    text = text.strip(_PUNCT + " ") or desc
    # gentler readings: verbs kept ("Open File"), the role noun kept ("Add Item")
    soft_start = 0
    while soft_start < len(words) - 1 and words[soft_start].lower() in _ARTICLES:
        soft_start += 1
    variants = (" ".join(_en_role(words[soft_start:])[0]), " ".join(words[start:]))
    return Target(text, bool(en_entry or zh_entry), False, tuple(v for v in variants if v and v != text))


# ---------------------------------------------------------------------- matching
def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x2E80 <= o <= 0x9FFF or 0xAC00 <= o <= 0xD7AF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x2FFFF


# a lone dash may come back as any of these (一 and ー are the CJK look-alikes the recogniser prefers)
_DASHES = str.maketrans({c: "-" for c in "−–—‐‑‒―﹣一ー"})
# Operator glyphs and what OCR reads them as: a calculator's "×" comes back as "x" or "X", "÷" as "/".
_SYMBOLS = str.maketrans({"×": "x", "✕": "x", "✖": "x", "X": "x", "*": "x", "÷": "/", "∕": "/"})


def normalize(text: str) -> str:
    """Text for matching: NFKC, casefolded, every run of non-alphanumerics one space, CJK characters spaced apart."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFKC", text).casefold():
        if ch.isalnum():
            if _is_cjk(ch):
                out.append(f" {ch} ")
            else:
                out.append(ch)
        else:
            out.append(" ")
    return " ".join("".join(out).split())


def match_score(target: str, text: str) -> tuple[float, str]:
    """(score in [0, 1], kind) of on-screen ``text`` for ``target`` — kind is exact, words, chars, fuzzy or none."""
    qn, tn = normalize(target), normalize(text)
    q, t = qn.replace(" ", ""), tn.replace(" ", "")
    if not q:  # a target of symbols only ("+", "÷", "−"): compare the symbols themselves
        sq = "".join(unicodedata.normalize("NFKC", target).translate(_DASHES).translate(_SYMBOLS).split())
        st = "".join(unicodedata.normalize("NFKC", text).translate(_DASHES).translate(_SYMBOLS).split())
        if sq and sq == st:
            return 1.0, "exact"
        return (0.75, "chars") if sq and sq in st and len(st) <= 3 * len(sq) else (0.0, "none")
    if not t:
        return 0.0, "none"
    if q == t:
        return 1.0, "exact"
    coverage = len(q) / len(t)
    if f" {qn} " in f" {tn} ":
        return 0.85 + 0.1 * coverage, "words"
    if q in t and (len(q) >= 3 or any(_is_cjk(c) for c in q)):
        return 0.75 + 0.1 * coverage, "chars"
    ratio = difflib.SequenceMatcher(None, q, t, autojunk=False).ratio()
    if len(q) >= 4 and len(t) > len(q) + 1:
        # an OCR slip inside a longer line: compare with the windows of the target's length around the
        # longest common block (a few comparisons, not one per position)
        n = len(q)
        block = difflib.SequenceMatcher(None, t, q, autojunk=False).find_longest_match(0, len(t), 0, n)
        if block.size:
            origin = min(max(block.a - block.b, 0), len(t) - n)
            best = max(difflib.SequenceMatcher(None, q, t[i:i + n], autojunk=False).ratio()
                       for i in range(max(0, origin - 1), min(len(t) - n, origin + 1) + 1))
            ratio = max(ratio, best * (0.8 + 0.15 * coverage))
    return 0.85 * ratio, "fuzzy"


# ---------------------------------------------------------------------- OCR results
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


def _quad_box(points: Any, dx: int, dy: int, inv: float) -> Box:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return (int(min(xs) * inv) + dx, int(min(ys) * inv) + dy,
            int(round(max(xs) * inv)) + dx, int(round(max(ys) * inv)) + dy)


def _line_candidates(boxes: Sequence[TextBox], max_join: int = 4) -> list[TextBox]:
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


# ---------------------------------------------------------------------- entry beside a label
def _gray(frame: "Frame") -> "np.ndarray":
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


class _Match(NamedTuple):
    score: float
    line: TextBox
    kind: str
    target: str  # which reading of the target matched

    def key(self) -> tuple:
        # score, then the longer target text (more specific), confidence, topmost, leftmost
        return (self.score, len(normalize(self.target).replace(" ", "")), self.line.confidence,
                -self.line.box[1], -self.line.box[0])


def _rank(lines: Sequence[TextBox], target: Target) -> list[_Match]:
    """Lines scored against every reading of the target, best first (score > 0 only)."""
    out = []
    for line in lines:
        score, kind, text = max(((*match_score(t, line.text), t) for t in target.texts), key=lambda r: r[0])
        if score > 0:
            out.append(_Match(score, line, kind, text))
    return sorted(out, key=_Match.key, reverse=True)


# ---------------------------------------------------------------------- isolated glyphs
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


# ---------------------------------------------------------------------- the engine
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


def _rapidocr_class() -> Any:
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError as e:
        raise OCRUnavailable(
            f"the OCR grounder needs RapidOCR, which is not installed ({e}). Install the optional extra: "
            f"{INSTALL_HINT}") from e
    return RapidOCR


def _engine(options: tuple) -> Any:
    with _ENGINE_LOCK:
        if options not in _ENGINES:
            _ENGINES[options] = _rapidocr_class()(**dict(options))
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


@dataclass(frozen=True)
class _Read:
    boxes: tuple[TextBox, ...]
    seconds: float


class OCRGrounder:
    """Embedded grounder on the CPU: RapidOCR text + fuzzy matching (see the module docstring).

    ``threshold``: the lowest match score accepted. ``min_confidence``: OCR lines recognised with less
    confidence are dropped. ``box_thresh``: the detector's box score threshold (RapidOCR's own is 0.5;
    0.3 keeps more isolated short words). ``scale``: shrink factor applied before OCR (1.0 = native pixels).
    ``field_offset``: px right of a label's right edge when no entry rectangle is found beside it;
    ``field_search_px``: how far right of a label to look for the entry; ``edge_contrast``: the grey-level
    step that counts as an entry's border. ``cache_size``: OCR results kept (keyed by frame content).
    ``engine_options``: keyword arguments for ``RapidOCR(...)`` over :data:`ENGINE_DEFAULTS` (e.g. thread counts).
    """

    name = "ocr"
    backend = "ocr"

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
        engine_options: dict[str, Any] | None = None,
    ) -> None:
        if not 0 < scale <= 1:
            raise ValueError(f"scale must be in (0, 1], got {scale!r}")
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
        _rapidocr_class()  # fail now, with the install hint, rather than at the first step
        self.threshold = threshold
        self.min_confidence = min_confidence
        self.box_thresh = box_thresh
        self.scale = scale
        self.field_offset = field_offset
        self.field_search_px = field_search_px
        self.edge_contrast = edge_contrast
        self.cache_size = cache_size
        self._options = tuple(sorted({**ENGINE_DEFAULTS, **(engine_options or {})}.items()))
        self._cache: OrderedDict[tuple, _Read] = OrderedDict()
        self._digests: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self.ocr_runs = 0  # how many times OCR of a frame actually ran (the rest came from the cache)
        self.glyph_runs = 0  # how many times the isolated-glyph pass ran

    # ------------------------------------------------------------------ reading
    def _digest(self, frame: "Frame") -> str:
        try:
            return self._digests[frame]
        except (KeyError, TypeError):
            pass
        # colour channels only: the fourth byte is padding whose value depends on where the frame came from
        h = hashlib.blake2b(frame.array()[:, :, :3].tobytes(), digest_size=16)
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

    def _read(self, frame: "Frame", region: Box | None, glyphs: bool = False) -> tuple[_Read, bool]:
        if region is not None:
            x1, y1, x2, y2 = region
            region = (max(0, x1), max(0, y1), min(frame.width, x2), min(frame.height, y2))
            if region[2] - region[0] < 2 or region[3] - region[1] < 2:
                raise ValueError(f"region {region} is empty")
        key = (self._digest(frame), region, self.scale, self.min_confidence, self.box_thresh, glyphs)
        if glyphs:
            lines = self._read(frame, region)[0]  # the glyph pass skips what the detector found
        with self._lock:  # one OCR at a time: two would only share the same cores
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit, True
            result = self._ocr_glyphs(frame, region, lines.boxes) if glyphs else self._ocr(frame, region)
            if glyphs:
                self.glyph_runs += 1
            else:
                self.ocr_runs += 1
            self._cache[key] = result
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
            return result, False

    def _ocr(self, frame: "Frame", region: Box | None) -> _Read:
        import numpy as np

        started = time.perf_counter()
        engine = _engine(self._options)
        arr = frame.array()
        dx = dy = 0
        if region is not None:
            dx, dy = region[0], region[1]
            arr = arr[region[1]:region[3], region[0]:region[2]]
        bgr = np.ascontiguousarray(arr[:, :, :3])
        if self.scale != 1.0:
            import cv2

            bgr = cv2.resize(bgr, (max(1, round(bgr.shape[1] * self.scale)), max(1, round(bgr.shape[0] * self.scale))),
                             interpolation=cv2.INTER_AREA)
        # no angle classifier: screen text is upright, and it costs ~5 % of the time
        result, _ = engine(bgr, use_cls=False, return_word_box=True, text_score=self.min_confidence,
                           box_thresh=self.box_thresh, unclip_ratio=1.6)
        inv = 1.0 / self.scale
        boxes: list[TextBox] = []
        for item in result or []:
            quad, text, confidence = item[0], str(item[1]), float(item[2])
            chars: tuple[tuple[str, Box], ...] = ()
            if len(item) >= 5 and item[3] and item[4] and len(item[3]) == len(item[4]):
                chars = tuple((str(c), _quad_box(q, dx, dy, inv)) for q, c in zip(item[3], item[4]))
                if normalize("".join(c for c, _ in chars)).replace(" ", "") != normalize(text).replace(" ", ""):
                    chars = ()
            boxes.append(TextBox(text, confidence, _quad_box(quad, dx, dy, inv), chars))
        return _Read(tuple(boxes), time.perf_counter() - started)

    def _ocr_glyphs(self, frame: "Frame", region: Box | None, lines: Sequence[TextBox]) -> _Read:
        import numpy as np

        started = time.perf_counter()
        gray = _gray(frame)
        dx = dy = 0
        if region is not None:
            dx, dy = region[0], region[1]
            gray = gray[region[1]:region[3], region[0]:region[2]]
        skip = [(b.box[0] - dx, b.box[1] - dy, b.box[2] - dx, b.box[3] - dy) for b in lines]
        boxes = find_glyphs(gray, skip)
        if not boxes:
            return _Read((), time.perf_counter() - started)
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
        for k, (text, conf) in zip(owner, _recognise(_engine(self._options), crops)):
            text = str(text).strip()
            if text and (k not in best or float(conf) > best[k][1]):
                best[k] = (text, float(conf))
        found = []
        for k, (text, conf) in sorted(best.items()):
            if conf >= self.min_confidence and len(text) <= 3:
                x1, y1, x2, y2 = boxes[k]
                found.append(TextBox(text, conf, (x1 + dx, y1 + dy, x2 + dx, y2 + dy)))
        return _Read(tuple(found), time.perf_counter() - started)

    # ------------------------------------------------------------------ grounding
    async def ground(self, frame: "Frame", description: str) -> Point | None:
        """The screen pixel of the described element, or None when no text on screen matches."""
        return (await self.locate(frame, description)).point

    async def locate(self, frame: "Frame", description: str, *, region: Box | None = None) -> Grounding:
        """Find the described element; OCR runs in a worker thread so the event loop stays free."""
        return await asyncio.to_thread(self.locate_sync, frame, description, region=region)

    def locate_sync(self, frame: "Frame", description: str, *, region: Box | None = None) -> Grounding:
        """:meth:`locate` without asyncio."""
        started = time.perf_counter()
        target = parse_target(description)
        read, cached = self._read(frame, region)
        details: dict[str, Any] = {"target": target.text, "field": target.field, "ocr_s": round(read.seconds, 4),
                                   "cached": cached, "lines": len(read.boxes)}
        scored = _rank(_line_candidates(read.boxes), target)
        short = len(normalize(target.text).replace(" ", "")) <= 2 or not normalize(target.text)
        if short and (not scored or scored[0].score < self.threshold):
            # a one- or two-character target ("7", "+", "OK") the detector may have missed: read isolated glyphs
            glyph_read, _ = self._read(frame, region, glyphs=True)
            details["glyphs"] = len(glyph_read.boxes)
            scored = sorted(scored + _rank(glyph_read.boxes, target), key=_Match.key, reverse=True)
        details["candidates"] = [{"text": m.line.text, "score": round(m.score, 3), "kind": m.kind,
                                  "box": list(m.line.box)} for m in scored[:3]]
        if not scored or scored[0].score < self.threshold:
            best_text = f" (best: {scored[0].line.text!r} at {scored[0].score:.2f})" if scored else ""
            details["reason"] = f"no text on screen matches {target.text!r} well enough{best_text}"
            return Grounding(None, description, self.name, latency_s=time.perf_counter() - started, details=details)
        best = scored[0]
        box = best.line.box
        if best.kind in ("words", "chars"):
            box = best.line.span_box(best.target) or box
        details.update(matched=best.line.text, matched_as=best.target, score=round(best.score, 3), kind=best.kind,
                       ocr_confidence=round(best.line.confidence, 3), box=list(box))
        x, y = (box[0] + box[2]) // 2, (box[1] + box[3]) // 2
        rule = "text"
        if target.field:
            entry = find_entry_right_of(_gray(frame), box, search_px=self.field_search_px, contrast=self.edge_contrast)
            if entry is not None:
                x, y, rule = (entry[0] + entry[2]) // 2, (entry[1] + entry[3]) // 2, "entry-box"
                details["entry_box"] = list(entry)
            else:
                x, rule = box[2] + self.field_offset, "label-offset"
        details["rule"] = rule
        x, y = min(max(x, 0), frame.width - 1), min(max(y, 0), frame.height - 1)
        return Grounding(Point(x, y), description, self.name, latency_s=time.perf_counter() - started, details=details)

    # ------------------------------------------------------------------ ModelClient
    async def complete(self, messages: list[dict], **sampling: Any) -> Reply:
        """Answer grounding messages (the last user turn's image and instruction) like a Kimi-VL model would.

        Sampling parameters are accepted and ignored. The reply clicks the found element in normalized
        coordinates; when nothing matches it says so and its code is ``FAIL`` (no point).
        """
        from PIL import Image

        from agent.images import decode_data_url
        from tools.frame import Frame

        started = time.perf_counter()
        url, instruction = None, ""
        for msg in reversed(messages):
            if msg.get("role") != "user" or not isinstance(msg.get("content"), list):
                continue
            for part in msg["content"]:
                if part.get("type") == "image_url":
                    url = part.get("image_url", {}).get("url")
                elif part.get("type") == "text":
                    instruction += part.get("text", "")
            break
        if not url:
            raise ModelError("the OCR grounder needs a user turn with a screenshot (a data: URL image)")
        for marker in ("## Task Instruction:", "<instruction>"):
            if marker in instruction:
                instruction = instruction.split(marker, 1)[1]
        instruction = instruction.strip()
        _, data = decode_data_url(url)
        with Image.open(io.BytesIO(data)) as img:
            frame = Frame.from_image(img)
        g = await self.locate(frame, instruction)
        if g.point is None:
            text = (f"## Action:\nThe element \"{instruction}\" is not on the screen ({g.details.get('reason')}).\n"
                    "## Code:\n```python\nFAIL\n```")
        else:
            nx, ny = (g.point.x + 0.5) / frame.width, (g.point.y + 0.5) / frame.height
            text = (f"## Action:\nclick {g.details.get('matched', instruction)!r}\n"
                    f"## Code:\n```python\npyautogui.click(x={nx:.4f}, y={ny:.4f})\n```")
        return Reply.build(text, None, latency_s=time.perf_counter() - started, model="ocr", finish_reason="stop")


__all__ = ["ENGINE_DEFAULTS", "INSTALL_HINT", "OCRGrounder", "OCRUnavailable", "Target", "TextBox",
           "find_entry_right_of", "find_glyphs", "match_score", "normalize", "parse_target"]
