"""The ``thousand`` format: integer coordinates on a 0–1000 grid (Qwen2-VL, OS-Atlas, Qwen3-VL).

The models of this family write their actions in a few real shapes; the first that is present wins:

1. Qwen3-VL computer use — one or more tool calls (coordinates 0–1000; "the screen's resolution is
   1000x1000" in its tool description)::

       <tool_call>
       {"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [512, 301]}}
       </tool_call>

   read by :mod:`tools.parse.qwen_tool` (the ``qwen-tool`` format, which also serves Qwen2.5-VL's pixels).
2. OS-Atlas-style action lines: ``CLICK <point>[[x, y]]</point>``, ``TYPE [text]``,
   ``SCROLL [UP|DOWN|LEFT|RIGHT]``, ``PRESS_ENTER``, ``WAIT``, ``COMPLETE`` (and OSWorld's ``DONE``/``FAIL``).
3. pyautogui code or bare calls with 0–1000 integers (``pyautogui.click(512, 301)``,
   ``click(512, 301)``) — read by the pyautogui parser.
4. A grounding answer that is just a point: ``<|box_start|>(x1,y1),(x2,y2)<|box_end|>`` (the centre),
   ``<point>x y</point>``, ``(x, y)`` or ``[x, y]`` — becomes a click there.

All or nothing, as for every format. ``<think>…</think>`` (Qwen3-VL Thinking) is split off.
"""

from __future__ import annotations

import re

from tools.actions import Click, Done, Fail, Key, Scroll, TypeText, Wait
from tools.parse._base import Builder, Limits, Parsed, Problem, begin, first_point, make
from tools.parse._literals import as_number
from tools.parse._text import point_in_text
from tools.parse.qwen_tool import looks_like_code, read_code_or_point, read_tool_calls, record

HINT = (
    'Answer with a tool call such as <tool_call>\n{"name": "computer_use", "arguments": '
    '{"action": "left_click", "coordinate": [500, 300]}}\n</tool_call>, with coordinates from 0 to 1000.'
)

_ATLAS = re.compile(
    r"^[ \t]*+(CLICK|DOUBLE_CLICK|RIGHT_CLICK|TYPE|SCROLL|PRESS_ENTER|PRESS_BACK|PRESS_HOME|LONG_PRESS|OPEN_APP|WAIT|COMPLETE|DONE|FAIL)\b[ \t]*+(.*)$",
    re.MULTILINE,
)
_BRACKET = re.compile(r"^\[(.*)\]$", re.DOTALL)
_SCROLL_CLICKS = 5


def parse_thousand(text: str, limits: Limits, cursor: tuple[float, float] | None = None) -> Parsed:
    """Parse a 0–1000-grid reply (``fmt="thousand"``)."""
    parsed = begin(text, "thousand", limits)
    if parsed.thinking_unclosed:
        return parsed
    answer = parsed.answer
    builder = Builder(limits, cursor)
    if read_tool_calls(parsed, builder, limits):
        pass
    elif _ATLAS.search(answer) and not looks_like_code(answer):
        for m in _ATLAS.finditer(answer):
            record(builder, _atlas, (m.group(1), m.group(2).strip()), limits)
        if parsed.thought is None:
            parsed.thought = _ATLAS.sub("", answer).strip() or None
    else:
        read_code_or_point(parsed, builder, limits)
    return builder.finish(parsed, HINT)


# -- OS-Atlas action lines ------------------------------------------------------------------------

def _atlas(item: tuple[str, str], builder: Builder, limits: Limits) -> None:
    verb, rest = item
    if verb in ("CLICK", "DOUBLE_CLICK", "RIGHT_CLICK"):
        point = point_in_text(rest)
        if point is None:
            raise Problem(f"{verb} needs a point: {verb} <point>[[x, y]]</point>")
        clicks, button = {"CLICK": (1, "left"), "DOUBLE_CLICK": (2, "left"), "RIGHT_CLICK": (1, "right")}[verb]
        x, y = as_number(point[0], "x", limits), as_number(point[1], "y", limits)
        builder.add(make(Click, verb, x=x, y=y, clicks=clicks, button=button))
    elif verb == "TYPE":
        m = _BRACKET.match(rest)
        text = m.group(1) if m else rest
        if not text:
            raise Problem("TYPE needs the text: TYPE [text]")
        builder.add(make(TypeText, verb, text=text))
    elif verb == "SCROLL":
        direction = rest.strip("[] ").upper()
        moves = {"UP": (0, 1), "DOWN": (0, -1), "LEFT": (-1, 0), "RIGHT": (1, 0)}
        if direction not in moves:
            raise Problem("SCROLL needs a direction: SCROLL [UP], [DOWN], [LEFT] or [RIGHT]")
        sx, sy = moves[direction]
        builder.add(make(Scroll, verb, dx=sx * _SCROLL_CLICKS, dy=sy * _SCROLL_CLICKS))
    elif verb == "PRESS_ENTER":
        builder.add(Key(keys=["enter"]))
    elif verb == "WAIT":
        builder.add(Wait(seconds=limits.bare_wait))
    elif verb in ("COMPLETE", "DONE"):
        builder.add(Done())
    elif verb == "FAIL":
        builder.add(Fail())
    else:
        raise Problem(f"{verb} is a phone action; this is a desktop computer")


def thousand_point(text: str, limits: Limits) -> tuple[float, float] | None:
    """The grounding point of a 0–1000 reply: its first pointer action, else any point in the answer."""
    return first_point(parse_thousand, text, limits)
