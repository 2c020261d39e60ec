"""The ``ui-tars`` format: ``Thought: …`` then ``Action: call(…)`` (UI-TARS, UI-TARS-1.5).

Points are written as UI-TARS-1.5 is prompted, ``point='<point>x y</point>'`` (``start_point`` /
``end_point`` for a drag), and in the older forms that are still read: ``start_box='(x,y)'``,
``start_box='<|box_start|>(x,y)<|box_end|>'`` (1.0), or a box ``'[x1, y1, x2, y2]'`` /
``<bbox>…</bbox>`` (its centre is used). For UI-TARS-1.5 they are absolute pixels of the smart_resize image (the profile's
Transform maps them); UI-TARS-1.0 wrote 0–1000 — the parser is agnostic, the profile decides.

Calls (the UI-TARS computer-use action space):

- ``click`` / ``left_single``, ``left_double``, ``right_single``, ``hover``  → click/move at the point;
- ``drag(start_box=…, end_box=…)`` (also ``select``, ``start_point``/``end_point``) → drag;
- ``hotkey(key='ctrl c')`` — keys split on spaces (or ``+``) → one key combination;
- ``press(key=…)``, ``keydown(key=…)``, ``keyup(key=…)`` / ``release(key=…)``;
- ``type(content='…')`` — the content uses Python escapes (``\\'``, ``\\"``, ``\\n``); a trailing
  ``\\n`` means "submit", so it becomes the text without it followed by an Enter key press, as the
  UI-TARS prompt defines ("If you want to submit your input, use \\n at the end of content");
  unescaped quotes inside the content are tolerated (the content runs to the last quote);
- ``scroll(start_box=…, direction='down|up|left|right')`` → ``Limits.ui_tars_scroll`` wheel clicks;
- ``wait()`` → ``Limits.ui_tars_wait`` seconds (the prompt says 5 s);
- ``finished(content=…)`` → done (content is the answer); ``call_user()`` → fail, since the model
  is asking a person for help it cannot get here.

Several calls separated by a blank line are read in order. Phone-only calls (long_press, open_app,
press_home, press_back) are refused. All or nothing, as for every format.
"""

from __future__ import annotations

import re

from tools.keys import split_combo
from tools.actions import Click, Done, Drag, Fail, Key, KeyDown, KeyUp, Move, Scroll, TypeText, Wait
from tools.parse._base import Builder, Limits, Parsed, Problem, begin, first_point, make
from tools.parse._text import NUMBER

HINT = "Answer as: Thought: <reasoning>\nAction: click(point='<point>x y</point>') — one action from the action space."

_ACTION_LINE = re.compile(r"^[ \t]*+\**+[ \t]*+Action[ \t]*+\**+[ \t]*+:[ \t]*+", re.MULTILINE)
_THOUGHT = re.compile(r"^[ \t]*+(?:Thought|Reflection|Action_Summary)[ \t]*+:[ \t]*+", re.MULTILINE)
_CALL = re.compile(r"^\s*+([A-Za-z_]\w*+)\s*+\((.*)\)\s*+$", re.DOTALL)
_CONTENT = re.compile(r"^\s*+content\s*+=\s*+(['\"])(.*)\1\s*+$", re.DOTALL)
_ARG = re.compile(
    r"\s*+([A-Za-z_]\w*+)\s*+=\s*+(?:'((?:[^'\\]|\\.)*+)'|\"((?:[^\"\\]|\\.)*+)\"|(\([^()]*+\)|\[[^\[\]]*+\])|([^,\s()]++))"
    r"\s*+(?:,|$)",
    re.DOTALL,
)
_TAGS = re.compile(r"<\|box_start\|>|<\|box_end\|>|</?point>|</?bbox>")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "'": "'", '"': '"', "\\": "\\"}
_PHONE = {"long_press", "open_app", "press_home", "press_back"}


def parse_ui_tars(text: str, limits: Limits, cursor: tuple[float, float] | None = None) -> Parsed:
    """Parse a UI-TARS reply (``fmt="ui-tars"``)."""
    parsed = begin(text, "ui-tars", limits)
    if parsed.thinking_unclosed:
        return parsed
    builder = Builder(limits, cursor)
    thought, action_str = _split(parsed.answer)
    if parsed.thought is None:
        parsed.thought = thought
    parsed.action_text = " ".join(action_str.split()) if action_str else None
    if action_str is None:
        builder.note("no 'Action:' line found")
    else:
        for chunk in _chunks(action_str):
            if builder.full:  # refused already: the rest would only cost time
                break
            try:
                _call(chunk, builder, limits)
            except Problem as problem:
                builder.note(str(problem))
    return builder.finish(parsed, HINT)


def _split(answer: str) -> tuple[str | None, str | None]:
    """(thought, action text) of an answer; the last ``Action:`` line starts the action."""
    matches = list(_ACTION_LINE.finditer(answer))
    if not matches:
        stripped = answer.strip()
        return None, stripped if _CALL.match(stripped.split("\n\n", 1)[0]) else None
    last = matches[-1]
    before = answer[: last.start()]
    labels = list(_THOUGHT.finditer(before))
    thought = before[labels[-1].end():] if labels else before
    return thought.strip() or None, answer[last.end():].strip()


def _chunks(action_str: str) -> list[str]:
    """The calls of an action text; calls are separated by a blank line (UI-TARS's own rule)."""
    parts = re.split(r"\)[ \t]*\n\s*\n", action_str)
    chunks = [p.strip() + ")" for p in parts[:-1]] + [parts[-1].strip()]
    return [c if c.endswith(")") else c + ")" for c in chunks if c.strip(") ")]


def _call(chunk: str, builder: Builder, limits: Limits) -> None:
    m = _CALL.match(chunk)
    if not m:
        raise Problem(f"`{_short(chunk)}` is not an action call like click(point='<point>x y</point>')")
    name, argtext = m.group(1).lower(), m.group(2)
    if name in ("type", "finished", "call_user", "answer"):
        content = _content(argtext, name)
        _text_action(name, content, builder)
        return
    if name in _PHONE:
        raise Problem(f"{name}() is a phone action; this is a desktop computer")
    args = _args(argtext, name)
    handler = _HANDLERS.get(name)
    if handler is None:
        raise Problem(f"{name}() is not in the action space; use click, left_double, right_single, drag, hotkey, type, scroll, wait or finished")
    handler(name, args, builder, limits)


def _content(argtext: str, name: str) -> str | None:
    if not argtext.strip():
        return None
    m = _CONTENT.match(argtext)
    if not m:
        raise Problem(f"{name}() takes content='…', e.g. {name}(content='hello')")
    return _unescape(m.group(2))


def _unescape(text: str) -> str:
    """Decode the escapes UI-TARS is told to use (\\n, \\t, \\', \\", \\\\); other backslashes stay."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in _ESCAPES:
            out.append(_ESCAPES[text[i + 1]])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _text_action(name: str, content: str | None, builder: Builder) -> None:
    if name == "type":
        if not content:
            raise Problem("type() needs content='…' with the text to type")
        body = content.rstrip("\n")
        if body:
            builder.add(make(TypeText, "type", text=body))
        if body != content:
            builder.add(Key(keys=["enter"]))
    elif name in ("finished", "answer"):
        builder.add(Done(answer=content or None))
    else:
        builder.add(Fail(reason=f"call_user: {content}" if content else "call_user: the model asked for a person's help"))


def _args(argtext: str, name: str) -> dict[str, str]:
    args: dict[str, str] = {}
    pos = 0
    text = argtext.strip()
    while pos < len(text):
        m = _ARG.match(text, pos)
        if not m or m.end() == pos:
            raise Problem(f"could not read the arguments of {name}({_short(argtext)}); write them as name='value'")
        key = m.group(1).lower()
        value = next(g for g in m.groups()[1:] if g is not None)
        if key in args or len(args) >= 8:
            raise Problem(f"{name}() repeats an argument or has too many")
        args[key] = value
        pos = m.end()
    return args


def _point(args: dict[str, str], names: tuple[str, ...], name: str, limits: Limits, required: bool = True) -> tuple[float, float] | None:
    raw = next((args[n] for n in names if args.get(n)), None)
    if raw is None:
        if required:
            raise Problem(f"{name}() needs {names[0]}='<point>x y</point>'")
        return None
    nums = [float(n) for n in NUMBER.findall(_TAGS.sub(" ", raw))]
    if len(nums) == 4:
        nums = [(nums[0] + nums[2]) / 2, (nums[1] + nums[3]) / 2]
    if len(nums) != 2:
        raise Problem(f"{name}(): {_short(raw)!r} is not a point; write '<point>x y</point>'")
    if any(abs(v) > limits.max_number for v in nums):
        raise Problem(f"{name}(): the point {_short(raw)!r} is out of range")
    return nums[0], nums[1]


_START = ("point", "start_point", "start_box", "box")
_END = ("end_point", "end_box")


def _clicker(clicks: int, button: str):  # noqa: ANN202
    def handle(name: str, args: dict[str, str], builder: Builder, limits: Limits) -> None:
        x, y = _point(args, _START, name, limits)  # type: ignore[misc]
        builder.add(make(Click, name, x=x, y=y, clicks=clicks, button=button))

    return handle


def _hover(name: str, args: dict[str, str], builder: Builder, limits: Limits) -> None:
    x, y = _point(args, _START, name, limits)  # type: ignore[misc]
    builder.add(make(Move, name, x=x, y=y))


def _drag(name: str, args: dict[str, str], builder: Builder, limits: Limits) -> None:
    x1, y1 = _point(args, _START, name, limits)  # type: ignore[misc]
    x2, y2 = _point(args, _END, name, limits)  # type: ignore[misc]
    builder.add(make(Drag, name, x1=x1, y1=y1, x2=x2, y2=y2))


def _hotkey(name: str, args: dict[str, str], builder: Builder, limits: Limits) -> None:
    raw = args.get("key") or args.get("hotkey") or args.get("keys")
    if not raw:
        raise Problem("hotkey() needs key='ctrl c' (keys separated by spaces)")
    keys = split_combo(raw) or [raw]
    builder.add(make(Key, name, keys=keys))


def _key(cls: type):  # noqa: ANN202
    def handle(name: str, args: dict[str, str], builder: Builder, limits: Limits) -> None:
        key = args.get("key") or args.get("press") or args.get("keys")
        if not key:
            raise Problem(f"{name}() needs key='…'")
        key = key.strip() or key  # key=' ' is the space bar
        builder.add(make(Key, name, keys=[key]) if cls is Key else make(cls, name, key=key))

    return handle


_DIRECTIONS = {"up": (0, 1), "down": (0, -1), "left": (-1, 0), "right": (1, 0)}


def _scroll(name: str, args: dict[str, str], builder: Builder, limits: Limits) -> None:
    direction = (args.get("direction") or "").strip().lower()
    if direction not in _DIRECTIONS:
        raise Problem("scroll() needs direction='up', 'down', 'left' or 'right'")
    sx, sy = _DIRECTIONS[direction]
    fields: dict[str, float] = {"dx": sx * limits.ui_tars_scroll, "dy": sy * limits.ui_tars_scroll}
    at = _point(args, _START, name, limits, required=False)
    if at is not None:
        fields.update(x=at[0], y=at[1])
    builder.add(make(Scroll, name, **fields))


def _wait(name: str, args: dict[str, str], builder: Builder, limits: Limits) -> None:
    builder.add(Wait(seconds=limits.ui_tars_wait))


_HANDLERS = {
    "click": _clicker(1, "left"),
    "left_single": _clicker(1, "left"),
    "left_double": _clicker(2, "left"),
    "double_click": _clicker(2, "left"),
    "left_triple": _clicker(3, "left"),
    "right_single": _clicker(1, "right"),
    "right_click": _clicker(1, "right"),
    "middle_single": _clicker(1, "middle"),
    "hover": _hover,
    "move_to": _hover,
    "mouse_move": _hover,
    "drag": _drag,
    "select": _drag,
    "hotkey": _hotkey,
    "press": _key(Key),
    "keydown": _key(KeyDown),
    "key_down": _key(KeyDown),
    "keyup": _key(KeyUp),
    "key_up": _key(KeyUp),
    "release": _key(KeyUp),
    "scroll": _scroll,
    "wait": _wait,
}


def ui_tars_point(text: str, limits: Limits) -> tuple[float, float] | None:
    """The grounding point of a UI-TARS reply: its first pointer action, else any point in the answer."""
    return first_point(parse_ui_tars, text, limits)


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
