"""The ``qwen-tool`` format: Qwen2.5-VL / Qwen3-VL ``computer_use`` tool calls.

Both families are prompted with one ``computer_use`` function (Hermes-style ``<tools>`` block in the
system prompt) and answer with prose, then one or more calls::

    I will open the File menu.
    <tool_call>
    {"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [512, 301]}}
    </tool_call>

The coordinate space is the profile's, not the parser's: Qwen2.5-VL writes absolute pixels of the
image it was sent (the prompt says "The screen's resolution is W×H" of the smart_resize image), Qwen3-VL
a 1000×1000 grid. Actions: key (keys), type (text), mouse_move, left_click, right_click, middle_click,
double_click, triple_click (coordinate), left_click_drag (coordinate, from the pointer, or
start_coordinate), scroll / hscroll (pixels — wheel clicks, positive = up/right), wait (time),
terminate (status), answer (text → done with that answer).

Older forms still read (earlier profiles prompted these models for pyautogui code): pyautogui code
blocks or bare calls, and a reply that is only a point (``(x, y)``, ``<point>x y</point>``, a box
token) — a click there. All or nothing, as for every format; ``<think>…</think>`` is split off.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tools.actions import Click, Done, Drag, Fail, Key, Move, Scroll, TypeText, Wait
from tools.parse._base import Builder, Limits, Parsed, Problem, begin, first_point, make
from tools.parse._literals import as_int, as_number, as_text, wait_seconds
from tools.parse._text import code_blocks, outside_blocks, point_in_text
from tools.parse.pyautogui_code import read_code_in

HINT = (
    'Answer with one tool call such as <tool_call>\n{"name": "computer_use", "arguments": '
    '{"action": "left_click", "coordinate": [x, y]}}\n</tool_call>'
)

# a call runs to its closing tag, or to the end of a reply cut off by the length limit
_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.DOTALL)
_ACTION_TEXT = re.compile(r"^[ \t]*Action[ \t]*:[ \t]*(.+)$", re.MULTILINE)
_CODE_HINTS = re.compile(r"```|\bpyautogui\s*+\.|^[ \t]*+[A-Za-z_]\w*+[ \t]*+\([^\n]*\)[ \t]*+$", re.MULTILINE)
_NUMBERS = re.compile(r"-?\d{1,12}(?:\.\d{1,12})?")


def parse_qwen_tool(text: str, limits: Limits, cursor: tuple[float, float] | None = None) -> Parsed:
    """Parse a Qwen computer-use reply (``fmt="qwen-tool"``)."""
    parsed = begin(text, "qwen-tool")
    if parsed.thinking_unclosed:
        return parsed
    builder = Builder(limits, cursor)
    if not read_tool_calls(parsed, builder, limits):
        read_code_or_point(parsed, builder, limits)
    return builder.finish(parsed, HINT)


def read_tool_calls(parsed: Parsed, builder: Builder, limits: Limits) -> bool:
    """Read the answer's ``<tool_call>`` blocks into ``builder`` (the prose around them is the thought);
    False when the answer has none."""
    answer = parsed.answer
    calls = _TOOL_CALL.findall(answer)
    if not calls:
        return False
    prose = _TOOL_CALL.sub("", answer).strip()
    m = _ACTION_TEXT.search(prose)
    parsed.action_text = m.group(1).strip() if m else None
    if parsed.thought is None and prose:
        parsed.thought = prose
    for body in calls:
        record(builder, tool_call, body, limits)
    return True


def read_code_or_point(parsed: Parsed, builder: Builder, limits: Limits) -> None:
    """The older forms: pyautogui code when the answer looks like code, else a point alone (a click)."""
    answer = parsed.answer
    if looks_like_code(answer):
        read_code_in(answer, builder, limits)
        blocks = code_blocks(answer)
        if parsed.thought is None and blocks:
            parsed.thought = outside_blocks(answer, blocks).strip() or None
        return
    if parsed.thought is None:
        parsed.thought = answer or None
    point = point_in_text(answer)
    if point is None:
        builder.note("no action found")
    else:
        record(builder, lambda p, b, lim: b.add(make(Click, "point", x=p[0], y=p[1])), point, limits)


def record(builder: Builder, fn: Any, arg: Any, limits: Limits) -> None:
    """Run one reader, keeping its Problem on the builder (none once the reply is refused anyway: the
    rest of a hostile reply's thousands of calls would only cost time)."""
    if builder.full:
        return
    try:
        fn(arg, builder, limits)
    except Problem as problem:
        builder.note(str(problem))


def looks_like_code(answer: str) -> bool:
    """Whether an answer holds pyautogui code (a fence, ``pyautogui.``, or a line that is one call)."""
    return bool(_CODE_HINTS.search(answer))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number I accept")


def tool_call(body: str, builder: Builder, limits: Limits) -> None:
    """One ``computer_use`` call (the JSON between the tags) into actions."""
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


def _coordinate(args: dict[str, Any], key: str, action: str, limits: Limits,
                required: bool = True) -> tuple[float, float] | None:
    value = args.get(key)
    if value is None:
        if required:
            raise Problem(f"{action} needs \"{key}\": [x, y]")
        return None
    if isinstance(value, str):
        nums = _NUMBERS.findall(value[:200])
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
    builder.add(make(Wait, action, seconds=wait_seconds(args, ("time", "seconds"), limits)))


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


def qwen_tool_point(text: str, limits: Limits) -> tuple[float, float] | None:
    """The grounding point of a tool-call reply: its first pointer action, else any point in the answer."""
    return first_point(parse_qwen_tool, text, limits)
