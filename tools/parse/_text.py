"""Text-level helpers shared by the parsers: thinking markers, fenced code blocks, points in prose.

Every pattern here runs on model text, which is hostile, so each one runs in linear time: a quantifier
is possessive (``*+``, ``++``, ``?+``) wherever what follows it cannot start with what it repeats, so
a long run of spaces, brackets or markers is scanned once instead of being re-split on every failed
attempt (``\\s*\\[*\\s*`` alone was quadratic). ``docs/hostile-input.md`` has the rules; the property test
``tests/test_parse_linear.py`` and ``bench/bench_parse.py`` hold every helper to them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

ThinkingMarkers = tuple[str, str]
"""(open, close) markers around the reasoning in a reply, e.g. ("◁think▷", "◁/think▷")."""

THINK_OPEN = "◁think▷"
THINK_CLOSE = "◁/think▷"
KIMI_THINKING: ThinkingMarkers = (THINK_OPEN, THINK_CLOSE)
DEFAULT_THINKING: tuple[ThinkingMarkers, ...] = (KIMI_THINKING, ("<think>", "</think>"))
"""The markers looked for when no profile says which: Kimi-VL's, then the common ``<think>`` tags."""


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


def split_thinking(text: str, markers: tuple[ThinkingMarkers, ...] = DEFAULT_THINKING) -> Thinking:
    """Split ``open … close answer`` at the first pair of ``markers`` found in ``text``.

    The one definition of the thinking split: parsers, model replies (``Reply.split``) and profiles
    (``Profile.split``) all come here, each with the markers its profile names. A closing marker without
    an opening one (the chat template put the opening marker in the prompt) still splits; an opening
    one that is never closed (the length limit hit mid-thought) gives ``answer=None``; a reply with
    neither is all answer. An empty thought is None.
    """
    for open_, close in markers:
        end = text.find(close)
        if end >= 0:
            start = text.find(open_, 0, end)
            begin = start + len(open_) if start >= 0 else 0
            return Thinking(text[begin:end].strip() or None, text[end + len(close):])
        start = text.find(open_)
        if start >= 0:
            return Thinking(text[start + len(open_):].strip() or None, None)
    return Thinking(None, text)


_HEADER = re.compile(r"^[ \t]*+#{1,6}+[ \t]*+(thought|action|code)\b[ \t]*+:?+[ \t]*+", re.IGNORECASE | re.MULTILINE)


def sections(answer: str) -> dict[str, str]:
    """The ``## Thought`` / ``## Action`` / ``## Code`` sections of an answer, by lower-case name.

    A section runs to the next of these headers; a header repeated later wins.
    """
    found: dict[str, str] = {}
    matches = list(_HEADER.finditer(answer))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(answer)
        found[m.group(1).lower()] = answer[m.end():end].strip()
    return found


def action_line(answer: str) -> str | None:
    """The one definition of a reply's action line: its ``## Action:`` section, cut where a code fence
    starts (for a model that forgot the ``## Code:`` header); None when it has none. Parsers put it in
    ``Parsed.action_text`` (UI-TARS and 0–1000 replies name their own ``Action:`` line)."""
    text = sections(answer).get("action")
    return None if text is None else text.split("```", 1)[0].strip() or None


@dataclass(frozen=True)
class Block:
    """One fenced code block: its language tag (lower case, may be empty), body and span in the text."""

    lang: str
    body: str
    start: int
    end: int


# A fence: ``` + optional language tag, the rest of the line, the body, then a closing ``` or the
# end of the text (a reply cut off by max_tokens still yields its last block).
_FENCE = re.compile(r"```[ \t]*+([A-Za-z0-9_+.-]*+)[^\n`]*+\n?+(.*?)(?:```|\Z)", re.DOTALL)


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


_NUM = r"-?\d++(?:\.\d++)?+"
NUMBER = re.compile(_NUM)
_XY_EQ = re.compile(rf"\bx\s*+[=:]\s*+['\"]?+({_NUM})['\"]?+\s*+,\s*+y\s*+[=:]\s*+['\"]?+({_NUM})")
_PAIR = re.compile(rf"[(\[]\s*+({_NUM})\s*+,\s*+({_NUM})\s*+[)\]]")
_POINT_TAG = re.compile(rf"<point>\s*+\[*+\s*+({_NUM})[\s,]++({_NUM})\s*+\]*+\s*+</point>")
_BOX_TAG = re.compile(
    rf"<\|box_start\|>\s*+\(?+\s*+({_NUM})\s*+,\s*+({_NUM})\s*+\)?+"
    rf"(?:\s*+,\s*+\(?+\s*+({_NUM})\s*+,\s*+({_NUM})\s*+\)?+)?+\s*+<\|box_end\|>"
)
_QUAD = re.compile(rf"\[\s*+({_NUM})\s*+,\s*+({_NUM})\s*+,\s*+({_NUM})\s*+,\s*+({_NUM})\s*+\]")


@lru_cache(maxsize=8)  # a grounding read asks twice for the same answer (in the parser, then as the fallback)
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
