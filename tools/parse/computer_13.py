"""The ``computer_13`` format: OSWorld's JSON action dicts.

One dict or a list of dicts, in ```json (or bare ```) fences or bare; parameters flat or under
``"parameters"`` (OSWorld's executor accepts both). Action types and fields (OSWorld
``desktop_env/actions.py``):

=============  ===========================================  =========================
action_type    fields                                       becomes
=============  ===========================================  =========================
MOVE_TO        x, y                                         move
CLICK          button?, x?, y?, num_clicks? (1–3)           click
MOUSE_DOWN     button?                                      mouse_down
MOUSE_UP       button?                                      mouse_up
RIGHT_CLICK    x?, y?                                       click (right)
DOUBLE_CLICK   x?, y?                                       click (2)
DRAG_TO        x, y                                         drag from the pointer
SCROLL         dx, dy                                       scroll (dy > 0 = up)
TYPING         text                                         type
PRESS          key                                          key
KEY_DOWN       key                                          key_down
KEY_UP         key                                          key_up
HOTKEY         keys (list)                                  key (combination)
WAIT / FAIL / DONE                                          wait / fail / done
=============  ===========================================  =========================

The bare words ``WAIT``, ``DONE`` and ``FAIL`` (as OSWorld's agents send them) work too. Coordinates
are pixels of the screenshot as sent; numbers may be strings. A click without x and y, and DRAG_TO,
need the pointer position: known after an earlier action of the same reply (or from ``cursor``),
refused otherwise. Unknown fields are refused (``duration``/``interval`` are ignored). All or nothing,
as for every format.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tools.keys import split_combo
from tools.actions import Click, Done, Drag, Fail, Key, KeyDown, KeyUp, MouseDown, MouseUp, Move, Scroll, TypeText, Wait
from tools.parse._base import Builder, Limits, Parsed, Problem, begin, make
from tools.parse._literals import as_int, as_number, as_text, wait_seconds
from tools.parse._text import code_blocks, outside_blocks

HINT = 'Answer with a JSON action such as ```json\n{"action_type": "CLICK", "x": 640, "y": 360}\n```.'

# possessive: three greedy whitespace runs around optional marks were tried in every split (cubic)
_SPECIAL = re.compile(r"^\s*+`*+\s*+(WAIT|DONE|FAIL)\s*+`*+\s*+[.!]?+\s*+$", re.IGNORECASE)
_IGNORED = frozenset({"duration", "interval", "duration_s", "note"})
_FIELDS: dict[str, frozenset[str]] = {
    "MOVE_TO": frozenset({"x", "y"}),
    "CLICK": frozenset({"button", "x", "y", "num_clicks"}),
    "MOUSE_DOWN": frozenset({"button"}),
    "MOUSE_UP": frozenset({"button"}),
    "RIGHT_CLICK": frozenset({"x", "y"}),
    "DOUBLE_CLICK": frozenset({"x", "y"}),
    "DRAG_TO": frozenset({"x", "y"}),
    "SCROLL": frozenset({"dx", "dy"}),
    "TYPING": frozenset({"text"}),
    "PRESS": frozenset({"key"}),
    "KEY_DOWN": frozenset({"key"}),
    "KEY_UP": frozenset({"key"}),
    "HOTKEY": frozenset({"keys"}),
    "WAIT": frozenset({"seconds", "time"}),
    "FAIL": frozenset({"reason"}),
    "DONE": frozenset({"answer", "text"}),
}
_BUTTONS = ("left", "right", "middle")


def parse_computer13(text: str, limits: Limits, cursor: tuple[float, float] | None = None) -> Parsed:
    """Parse an OSWorld computer_13 reply (``fmt="computer_13"``)."""
    parsed = begin(text, "computer_13", limits)
    if parsed.thinking_unclosed:
        return parsed
    builder = Builder(limits, cursor)
    documents, prose = _documents(parsed.answer)
    if parsed.thought is None and prose:
        parsed.thought = prose
    if not documents:
        builder.note("no JSON action found")
    elif len(documents) > limits.max_blocks:
        builder.note(f"the reply has more than {limits.max_blocks} code blocks; send fewer")
        documents = []
    for doc in documents:
        if builder.full:
            break
        try:
            _document(doc, builder, limits)
        except Problem as problem:
            builder.note(str(problem))
    return builder.finish(parsed, HINT)


def _documents(answer: str) -> tuple[list[str], str]:
    """The JSON texts (or special words) of an answer, and the prose around them."""
    if _SPECIAL.match(answer):
        return [answer.strip(" `.!\n").upper()], ""
    blocks = code_blocks(answer)
    if blocks:
        return [b.body for b in blocks], outside_blocks(answer, blocks).strip()
    start = min((i for i in (answer.find("{"), answer.find("[")) if i >= 0), default=-1)
    if start < 0:
        lines = [line.strip(" `.!").upper() for line in answer.splitlines() if _SPECIAL.match(line)]
        return lines, answer.strip()
    end = max(answer.rfind("}"), answer.rfind("]"))
    return [answer[start:end + 1]], (answer[:start] + answer[end + 1:]).strip()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number I accept")


def _document(doc: str, builder: Builder, limits: Limits) -> None:
    body = doc.strip()
    if body.upper() in ("WAIT", "DONE", "FAIL"):
        _action({"action_type": body.upper()}, builder, limits)
        return
    try:
        value = json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        raise Problem("the JSON is nested too deeply") from None
    except ValueError as err:
        raise Problem(f"the JSON is not valid ({str(err)[:80]})") from None
    items = value if isinstance(value, list) else [value]
    if len(items) > limits.max_actions:
        raise Problem(f"too many actions in one reply (the limit is {limits.max_actions})")
    for item in items:
        if isinstance(item, str) and item.strip().upper() in ("WAIT", "DONE", "FAIL"):
            item = {"action_type": item.strip().upper()}
        if not isinstance(item, dict):
            raise Problem("each action must be a JSON object with an action_type")
        _action(item, builder, limits)


def _action(item: dict[str, Any], builder: Builder, limits: Limits) -> None:
    kind = item.get("action_type", item.get("action"))
    if not isinstance(kind, str):
        raise Problem('an action needs "action_type", e.g. "CLICK"')
    kind = kind.strip().upper()
    if kind not in _FIELDS:
        raise Problem(f"action_type {kind[:30]!r} is not one of {', '.join(_FIELDS)}")
    params = item.get("parameters")
    if params is None:
        params = {k: v for k, v in item.items() if k not in ("action_type", "action")}
    elif not isinstance(params, dict):
        raise Problem(f"{kind}: parameters must be a JSON object")
    extra = set(params) - _FIELDS[kind] - _IGNORED
    if extra:
        raise Problem(f"{kind} has no field {sorted(extra)[0]!r}; its fields are {', '.join(sorted(_FIELDS[kind])) or 'none'}")
    p = {k: v for k, v in params.items() if k not in _IGNORED}
    _BUILD[kind](p, builder, limits, kind)


def _xy(p: dict[str, Any], kind: str, limits: Limits, required: bool) -> tuple[float, float] | None:
    x, y = p.get("x"), p.get("y")
    if x is None and y is None:
        if required:
            raise Problem(f"{kind} needs x and y")
        return None
    if x is None or y is None:
        raise Problem(f"{kind} needs both x and y")
    return as_number(x, "x", limits), as_number(y, "y", limits)


def _button(p: dict[str, Any], kind: str) -> str:
    button = p.get("button") or "left"
    if not isinstance(button, str) or button.lower() not in _BUTTONS:
        raise Problem(f"{kind}: button must be left, right or middle, not {button!r}")
    return button.lower()


_HERE = "give x and y"


def _click(button: str | None, clicks: int | None):  # noqa: ANN202
    def build(p: dict[str, Any], builder: Builder, limits: Limits, kind: str) -> None:
        at = _xy(p, kind, limits, required=False) or builder.here(f"{kind} without x and y", _HERE)
        n = clicks if clicks is not None else as_int(1 if p.get("num_clicks") is None else p["num_clicks"], "num_clicks", limits)
        if n not in (1, 2, 3):
            raise Problem(f"{kind}: num_clicks must be 1, 2 or 3, not {n}")
        builder.add(make(Click, kind, x=at[0], y=at[1], button=button or _button(p, kind), clicks=n))

    return build


def _move(p: dict[str, Any], builder: Builder, limits: Limits, kind: str) -> None:
    x, y = _xy(p, kind, limits, required=True)  # type: ignore[misc]
    builder.add(make(Move, kind, x=x, y=y))


def _drag(p: dict[str, Any], builder: Builder, limits: Limits, kind: str) -> None:
    x, y = _xy(p, kind, limits, required=True)  # type: ignore[misc]
    sx, sy = builder.here(f"{kind} drags from the pointer", 'send {"action_type": "MOVE_TO", ...} first in the same reply')
    builder.add(make(Drag, kind, x1=sx, y1=sy, x2=x, y2=y))


def _scroll(p: dict[str, Any], builder: Builder, limits: Limits, kind: str) -> None:
    dx = as_int(p.get("dx", 0), "dx", limits)
    dy = as_int(p.get("dy", 0), "dy", limits)
    builder.add(make(Scroll, kind, dx=dx, dy=dy))


def _typing(p: dict[str, Any], builder: Builder, limits: Limits, kind: str) -> None:
    text = as_text(p.get("text"), "TYPING text")
    if not text:
        raise Problem("TYPING needs a non-empty text")
    builder.add(make(TypeText, kind, text=text))


def _key(cls: type):  # noqa: ANN202
    def build(p: dict[str, Any], builder: Builder, limits: Limits, kind: str) -> None:
        key = p.get("key")
        if not isinstance(key, str) or not key:
            raise Problem(f"{kind} needs a key name, e.g. \"enter\"")
        builder.add(make(cls, kind, keys=[key]) if cls is Key else make(cls, kind, key=key))

    return build


def _hotkey(p: dict[str, Any], builder: Builder, limits: Limits, kind: str) -> None:
    keys = p.get("keys")
    if isinstance(keys, str):
        keys = split_combo(keys)
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
        raise Problem('HOTKEY needs "keys": a list of key names, e.g. ["ctrl", "c"]')
    builder.add(make(Key, kind, keys=keys))


def _wait(p: dict[str, Any], builder: Builder, limits: Limits, kind: str) -> None:
    builder.add(make(Wait, kind, seconds=wait_seconds(p, ("seconds", "time"), limits)))


def _done(p: dict[str, Any], builder: Builder, limits: Limits, kind: str) -> None:
    answer = p.get("answer", p.get("text"))
    builder.add(make(Done, kind, answer=None if answer is None else str(answer)))


def _fail(p: dict[str, Any], builder: Builder, limits: Limits, kind: str) -> None:
    reason = p.get("reason")
    builder.add(make(Fail, kind, reason=None if reason is None else str(reason)))


def _button_only(cls: type):  # noqa: ANN202
    def build(p: dict[str, Any], builder: Builder, limits: Limits, kind: str) -> None:
        builder.add(make(cls, kind, button=_button(p, kind)))

    return build


_BUILD = {
    "MOVE_TO": _move,
    "CLICK": _click(None, None),
    "MOUSE_DOWN": _button_only(MouseDown),
    "MOUSE_UP": _button_only(MouseUp),
    "RIGHT_CLICK": _click("right", 1),
    "DOUBLE_CLICK": _click("left", 2),
    "DRAG_TO": _drag,
    "SCROLL": _scroll,
    "TYPING": _typing,
    "PRESS": _key(Key),
    "KEY_DOWN": _key(KeyDown),
    "KEY_UP": _key(KeyUp),
    "HOTKEY": _hotkey,
    "WAIT": _wait,
    "FAIL": _fail,
    "DONE": _done,
}
