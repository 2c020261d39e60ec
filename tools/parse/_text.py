"""Text-level helpers shared by the parsers: thinking markers, fenced code blocks, points in prose."""

from __future__ import annotations

import re
from dataclasses import dataclass

THINK_OPEN = "◁think▷"
THINK_CLOSE = "◁/think▷"
_MARKERS = ((THINK_OPEN, THINK_CLOSE), ("<think>", "</think>"))


@dataclass(frozen=True)
class Thinking:
    """A reply split at its thinking markers.

    ``answer`` is None when the reply opened a thinking part and never closed it.
    """

    thought: str | None
    answer: str | None

    @property
    def unclosed(self) -> bool:
        """True when the reply ended inside its thinking."""
        return self.answer is None


def split_thinking(text: str) -> Thinking:
    """Split ``◁think▷ … ◁/think▷ answer`` (Kimi-VL) or ``<think> … </think> answer``.

    A closing marker without an opening one (the server put the opening marker in the prompt)
    still splits; a reply with neither is all answer.
    """
    for open_, close in _MARKERS:
        end = text.find(close)
        if end >= 0:
            start = text.find(open_)
            begin = start + len(open_) if 0 <= start < end else 0
            return Thinking(text[begin:end].strip() or None, text[end + len(close):])
        start = text.find(open_)
        if start >= 0:
            return Thinking(text[start + len(open_):].strip() or None, None)
    return Thinking(None, text)


@dataclass(frozen=True)
class Block:
    """One fenced code block: its language tag (lower case, may be empty), body and span in the text."""

    lang: str
    body: str
    start: int
    end: int


# A fence: ``` + optional language tag, the rest of the line, the body, then a closing ``` or the
# end of the text (a reply cut off by max_tokens still yields its last block).
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+.-]*)[^\n`]*\n?(.*?)(?:```|\Z)", re.DOTALL)


def code_blocks(text: str, limit: int = 64) -> list[Block]:
    """The fenced code blocks of a text, in order — at most ``limit`` of them (callers treat
    ``len(blocks) == limit`` as "too many" when that matters)."""
    blocks = []
    for m in _FENCE.finditer(text):
        blocks.append(Block(m.group(1).lower(), m.group(2), m.start(), m.end()))
        if len(blocks) >= limit:
            break
    return blocks


def outside_blocks(text: str, blocks: list[Block]) -> str:
    """The text with its code blocks removed (the prose around them)."""
    parts, last = [], 0
    for block in blocks:
        parts.append(text[last:block.start])
        last = block.end
    parts.append(text[last:])
    return "".join(parts)


_NUM = r"-?\d+(?:\.\d+)?"
NUMBER = re.compile(_NUM)
_XY_EQ = re.compile(rf"\bx\s*[=:]\s*['\"]?({_NUM})['\"]?\s*,\s*y\s*[=:]\s*['\"]?({_NUM})")
_PAIR = re.compile(rf"[(\[]\s*({_NUM})\s*,\s*({_NUM})\s*[)\]]")
_POINT_TAG = re.compile(rf"<point>\s*\[*\s*({_NUM})[\s,]+({_NUM})\s*\]*\s*</point>")
_BOX_TAG = re.compile(rf"<\|box_start\|>\s*\(?\s*({_NUM})\s*,\s*({_NUM})\s*\)?(?:\s*,\s*\(?\s*({_NUM})\s*,\s*({_NUM})\s*\)?)?\s*<\|box_end\|>")
_QUAD = re.compile(rf"\[\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*\]")


def point_in_text(text: str) -> tuple[float, float] | None:
    """The first point written in prose: ``x=0.2, y=0.3``, ``<point>x y</point>``, a box token,
    ``[x1, y1, x2, y2]`` (its centre) or ``(x, y)``; None when there is none."""
    for pattern in (_XY_EQ, _POINT_TAG, _BOX_TAG):
        m = pattern.search(text)
        if m:
            return _centre(m.groups())
    m = _QUAD.search(text)
    if m:
        return _centre(m.groups())
    m = _PAIR.search(text)
    if m:
        return float(m.group(1)), float(m.group(2))
    return None


def _centre(groups: tuple[str | None, ...]) -> tuple[float, float]:
    nums = [float(g) for g in groups if g is not None]
    if len(nums) == 4:
        return (nums[0] + nums[2]) / 2, (nums[1] + nums[3]) / 2
    return nums[0], nums[1]
