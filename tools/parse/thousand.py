"""The ``thousand`` format: integer coordinates on a 0–1000 grid (Qwen2-VL, OS-Atlas, Qwen3-VL).

The models of this family write their actions in a few real shapes; the first that is present wins:

1. Qwen3-VL computer use — one or more tool calls (coordinates 0–1000; "the screen's resolution is
   1000x1000" in its tool description)::

       <tool_call>
       {"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [512, 301]}}
       </tool_call>

   actions: key (keys), type (text), mouse_move, left_click, right_click, middle_click, double_click,
   triple_click (coordinate), left_click_drag (coordinate, from the pointer), scroll / hscroll
   (pixels — passed through as wheel clicks, positive = up/right), wait (time), terminate (status),
   answer (text → done with that answer).
2. OS-Atlas-style action lines: ``CLICK <point>[[x, y]]</point>``, ``TYPE [text]``,
   ``SCROLL [UP|DOWN|LEFT|RIGHT]``, ``PRESS_ENTER``, ``WAIT``, ``COMPLETE`` (and OSWorld's ``DONE``/``FAIL``).
3. pyautogui code or bare calls with 0–1000 integers (``pyautogui.click(512, 301)``,
   ``click(512, 301)``) — read by the pyautogui parser.
4. A grounding answer that is just a point: ``<|box_start|>(x1,y1),(x2,y2)<|box_end|>`` (the centre),
   ``<point>x y</point>``, ``(x, y)`` or ``[x, y]`` — becomes a click there.

All or nothing, as for every format. ``<think>…</think>`` (Qwen3-VL Thinking) is split off.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tools.actions import Click, Done, Drag, Fail, Key, Move, Scroll, TypeText, Wait
from tools.parse._base import Builder, Limits, Parsed, Problem, begin, first_point, make
from tools.parse._literals import as_int, as_number, as_text
from tools.parse._text import code_blocks, outside_blocks, point_in_text
from tools.parse.pyautogui_code import read_code_in

HINT = (
    'Answer with a tool call such as <tool_call>\n{"name": "computer_use", "arguments": '
    '{"action": "left_click", "coordinate": [500, 300]}}\n</tool_call>, with coordinates from 0 to 1000.'
)

_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.DOTALL)
_ATLAS = re.compile(
    r"^[ \t]*(CLICK|DOUBLE_CLICK|RIGHT_CLICK|TYPE|SCROLL|PRESS_ENTER|PRESS_BACK|PRESS_HOME|LONG_PRESS|OPEN_APP|WAIT|COMPLETE|DONE|FAIL)\b[ \t]*(.*)$",
    re.MULTILINE,
)
_ACTION_TEXT = re.compile(r"^[ \t]*Action[ \t]*:[ \t]*(.+)$", re.MULTILINE)
_BRACKET = re.compile(r"^\[(.*)\]$", re.DOTALL)
_SCROLL_CLICKS = 5


def parse_thousand(text: str, limits: Limits, cursor: tuple[float, float] | None = None) -> Parsed:
    """Parse a 0–1000-grid reply (``fmt="thousand"``)."""
    parsed = begin(text, "thousand", limits)
    if parsed.thinking_unclosed:
        return parsed
    answer = parsed.answer
    builder = Builder(limits, cursor)
    calls = _TOOL_CALL.findall(answer)
    if calls:
        prose = _TOOL_CALL.sub("", answer).strip()
        m = _ACTION_TEXT.search(prose)
        parsed.action_text = m.group(1).strip() if m else None
        if parsed.thought is None and prose:
            parsed.thought = prose
        for body in calls:
            _record(builder, _tool_call, body, limits)
    elif _ATLAS.search(answer) and not _looks_like_code(answer):
        for m in _ATLAS.finditer(answer):
            _record(builder, _atlas, (m.group(1), m.group(2).strip()), limits)
        if parsed.thought is None:
            parsed.thought = _ATLAS.sub("", answer).strip() or None
    elif _looks_like_code(answer):
        read_code_in(answer, builder, limits)
        blocks = code_blocks(answer)
        if parsed.thought is None and blocks:
            parsed.thought = outside_blocks(answer, blocks).strip() or None
    else:
        if parsed.thought is None:
            parsed.thought = answer or None
        point = point_in_text(answer)
        if point is None:
            builder.note("no action found")
        else:
            _record(builder, lambda p, b, lim: b.add(make(Click, "point", x=p[0], y=p[1])), point, limits)
    return builder.finish(parsed, HINT)


def _record(builder: Builder, fn: Any, arg: Any, limits: Limits) -> None:
    try:
        fn(arg, builder, limits)
    except Problem as problem:
        builder.note(str(problem))


_CODE_HINTS = re.compile(r"```|\bpyautogui\s*\.|^[ \t]*[A-Za-z_]\w*\s*\(.*\)[ \t]*$", re.MULTILINE)


def _looks_like_code(answer: str) -> bool:
    return bool(_CODE_HINTS.search(answer))


# -- Qwen3-VL tool calls --------------------------------------------------------------------------

def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number I accept")


def _tool_call(body: str, builder: Builder, limits: Limits) -> None:
    try:
        call = json.loads(body.strip(), parse_constant=_reject_constant)
    except RecursionError:
        raise Problem("the tool call JSON is nested too deeply") from None
    except ValueError as err:
        raise Problem(f"the tool call is not valid JSON ({str(err)[:80]})") from None
    if not isinstance(call, dict):
        raise Problem('a tool call must be {"name": "computer_use", "arguments": {...}}')
    name = call.get("name")
    if name not in ("computer_use", "computer", None):
        raise Problem(f"the tool {str(name)[:40]!r} is not available; use computer_use")
    args = call.get("arguments", call.get("parameters"))
    if isinstance(args, str):
        try:
            args = json.loads(args, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            raise Problem("the tool call arguments are not valid JSON") from None
    if not isinstance(args, dict):
        raise Problem('a tool call needs "arguments": {"action": ...}')
    action = args.get("action")
    if not isinstance(action, str) or action not in _COMPUTER_USE:
        raise Problem(f"action {str(action)[:30]!r} is not one of {', '.join(_COMPUTER_USE)}")
    _COMPUTER_USE[action](args, builder, limits, action)


def _coordinate(args: dict[str, Any], key: str, action: str, limits: Limits, required: bool = True) -> tuple[float, float] | None:
    value = args.get(key)
    if value is None:
        if required:
            raise Problem(f"{action} needs \"{key}\": [x, y]")
        return None
    if isinstance(value, str):
        nums = re.findall(r"-?\d+(?:\.\d+)?", value)
        value = nums if len(nums) == 2 else value
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise Problem(f"{action}: \"{key}\" must be [x, y]")
    return as_number(value[0], "x", limits), as_number(value[1], "y", limits)


def _click(clicks: int, button: str):  # noqa: ANN202
    def build(args: dict[str, Any], builder: Builder, limits: Limits, action: str) -> None:
        at = _coordinate(args, "coordinate", action, limits, required=False) or builder.here(
            f"{action} without a coordinate", "give \"coordinate\": [x, y]"
        )
        builder.add(make(Click, action, x=at[0], y=at[1], clicks=clicks, button=button))

    return build


def _mouse_move(args: dict[str, Any], builder: Builder, limits: Limits, action: str) -> None:
    x, y = _coordinate(args, "coordinate", action, limits)  # type: ignore[misc]
    builder.add(make(Move, action, x=x, y=y))


def _drag(args: dict[str, Any], builder: Builder, limits: Limits, action: str) -> None:
    x, y = _coordinate(args, "coordinate", action, limits)  # type: ignore[misc]
    start = _coordinate(args, "start_coordinate", action, limits, required=False) or builder.here(
        f"{action} drags from the pointer", "send a mouse_move to the start point first in the same reply"
    )
    builder.add(make(Drag, action, x1=start[0], y1=start[1], x2=x, y2=y))


def _scroll(horizontal: bool):  # noqa: ANN202
    def build(args: dict[str, Any], builder: Builder, limits: Limits, action: str) -> None:
        amount = as_int(args.get("pixels", args.get("amount", 0)), "pixels", limits)
        if amount == 0:
            raise Problem(f"{action} needs \"pixels\": a positive or negative amount")
        fields: dict[str, float] = {"dx": amount} if horizontal else {"dy": amount}
        at = _coordinate(args, "coordinate", action, limits, required=False)
        if at is not None:
            fields.update(x=at[0], y=at[1])
        builder.add(make(Scroll, action, **fields))

    return build


def _key(args: dict[str, Any], builder: Builder, limits: Limits, action: str) -> None:
    keys = args.get("keys", args.get("key"))
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
        raise Problem('key needs "keys": a list of key names, e.g. ["ctrl", "c"]')
    builder.add(make(Key, action, keys=keys))


def _type(args: dict[str, Any], builder: Builder, limits: Limits, action: str) -> None:
    text = as_text(args.get("text"), "type text")
    if not text:
        raise Problem('type needs a non-empty "text"')
    builder.add(make(TypeText, action, text=text))


def _wait(args: dict[str, Any], builder: Builder, limits: Limits, action: str) -> None:
    seconds = args.get("time", args.get("seconds"))
    builder.add(make(Wait, action, seconds=limits.bare_wait if seconds is None else as_number(seconds, "time", limits)))


def _terminate(args: dict[str, Any], builder: Builder, limits: Limits, action: str) -> None:
    status = str(args.get("status", "")).strip().lower()
    if status == "success":
        builder.add(Done())
    elif status in ("failure", "fail"):
        builder.add(Fail())
    else:
        raise Problem('terminate needs "status": "success" or "failure"')


def _answer(args: dict[str, Any], builder: Builder, limits: Limits, action: str) -> None:
    builder.add(make(Done, action, answer=as_text(args.get("text"), "answer text")))


_COMPUTER_USE = {
    "key": _key,
    "type": _type,
    "mouse_move": _mouse_move,
    "left_click": _click(1, "left"),
    "left_click_drag": _drag,
    "right_click": _click(1, "right"),
    "middle_click": _click(1, "middle"),
    "double_click": _click(2, "left"),
    "triple_click": _click(3, "left"),
    "scroll": _scroll(False),
    "hscroll": _scroll(True),
    "wait": _wait,
    "terminate": _terminate,
    "answer": _answer,
}


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
