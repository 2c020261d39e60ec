"""The ``pyautogui`` format: OSWorld-style pyautogui code, read with ``ast`` and never run.

A reply holds one or more calls, in fenced blocks (```python, ```py, ```code or bare ```) or as bare
text. Allowed statements, each on its own line or separated by ``;``:

- ``pyautogui.F(...)`` (or bare ``F(...)``) for F in click, leftClick, doubleClick, tripleClick,
  rightClick, middleClick, moveTo, moveRel/move, dragTo, dragRel/drag, mouseDown, mouseUp, scroll,
  vscroll, hscroll, write/typewrite, press, hotkey, keyDown, keyUp, sleep;
- ``time.sleep(n)`` → a wait; ``computer.wait(time=n)`` and ``computer.terminate(status=…, answer=…)``
  (the OSWorld Kimi agent's control functions, usually in a ```code block);
- OSWorld's special words ``WAIT``, ``DONE``, ``FAIL`` alone;
- ``import pyautogui`` / ``import time`` (ignored), ``pass``, bare string literals (ignored).

Arguments, positional or keyword as in pyautogui's signatures, must be literals (see ``_literals``);
numbers may be written as strings (``x='0.5'``). Cosmetic arguments (duration, interval, tween,
logScreenshot, _pause, mouseDownUp) are accepted and ignored. Everything else — other modules, names,
assignments, loops, calls inside arguments, attribute chains, getattr tricks — is refused, naming the
part.

Relative motion: ``moveRel``/``dragRel``/``dragTo`` and ``click()`` without a position need to know
where the pointer is. They are accepted when an earlier action of the same reply put the pointer
somewhere (or the caller passed ``cursor``), and refused otherwise with a message that says to use
absolute coordinates. ``mouseDown(x, y)`` becomes a move and then a button press.

All or nothing: if any part of the code is refused, the whole reply is refused (ParseError) and no
action of it runs — half of a plan can do more harm than none.

Coordinates stay in the model's space as written; ``tools.coords.Transform`` maps them to the screen.
"""

from __future__ import annotations

import ast
import re
import warnings
from typing import Any, Callable

from tools.actions import Click, Done, Drag, Fail, Key, KeyDown, KeyUp, MouseDown, MouseUp, Move, Scroll, TypeText, Wait
from tools.parse._base import Builder, Limits, Parsed, Problem, begin, make
from tools.parse._literals import as_int, as_number, as_text, describe_node, literal, snippet
from tools.parse._text import code_blocks, outside_blocks

HINT = "Write only pyautogui calls with literal arguments, e.g. pyautogui.click(x=..., y=...) with the numbers written out, or pyautogui.hotkey('ctrl', 's')."

CODE_LANGS = frozenset({"", "python", "py", "python3", "code", "pyautogui", "pycon"})

_IGNORED = frozenset({"interval", "duration", "tween", "logScreenshot", "_pause", "mouseDownUp", "pause"})

_XY = ("x", "y")
_SIGNATURES: dict[str, tuple[str, ...]] = {
    "click": ("x", "y", "clicks", "interval", "button", "duration", "tween"),
    "leftClick": ("x", "y", "interval", "duration", "tween"),
    "doubleClick": ("x", "y", "interval", "button", "duration", "tween"),
    "tripleClick": ("x", "y", "interval", "button", "duration", "tween"),
    "rightClick": ("x", "y", "duration", "tween"),
    "middleClick": ("x", "y", "duration", "tween"),
    "moveTo": ("x", "y", "duration", "tween"),
    "moveRel": ("xOffset", "yOffset", "duration", "tween"),
    "dragTo": ("x", "y", "duration", "tween", "button", "logScreenshot", "_pause", "mouseDownUp"),
    "dragRel": ("xOffset", "yOffset", "duration", "tween", "button", "logScreenshot", "_pause", "mouseDownUp"),
    "mouseDown": ("x", "y", "button", "duration", "tween"),
    "mouseUp": ("x", "y", "button", "duration", "tween"),
    "scroll": ("clicks", "x", "y"),
    "vscroll": ("clicks", "x", "y"),
    "hscroll": ("clicks", "x", "y"),
    "write": ("message", "interval"),
    "press": ("keys", "presses", "interval"),
    "hotkey": (),  # *keys
    "keyDown": ("key",),
    "keyUp": ("key",),
    "sleep": ("seconds",),
}

# Other spellings models use for the same functions (compared lower-case, without "_").
_FUNCTION_ALIASES: dict[str, str] = {
    **{name.lower(): name for name in _SIGNATURES},
    "move": "moveRel", "drag": "dragRel", "typewrite": "write", "type": "write", "typetext": "write",
    "singleclick": "click", "leftclick": "leftClick", "dblclick": "doubleClick", "rightclick": "rightClick",
    "mousemove": "moveTo", "moveto": "moveTo", "keypress": "press", "presskey": "press",
}

_NOT_ACTIONS = {
    "screenshot": "you receive a new screenshot after every step",
    "position": "the pointer position is not returned to you; use absolute coordinates",
    "size": "the screen size is fixed; use coordinates in the stated range",
    "locateonscreen": "find the element in the screenshot and give its coordinates",
    "locatecenteronscreen": "find the element in the screenshot and give its coordinates",
    "locateallonscreen": "find the element in the screenshot and give its coordinates",
    "pixel": "read colours from the screenshot",
    "pixelmatchescolor": "read colours from the screenshot",
    "alert": "dialog boxes are not available",
    "confirm": "dialog boxes are not available",
    "prompt": "dialog boxes are not available",
    "password": "dialog boxes are not available",
}

_KEYWORD_ALIASES = {"xOffset": ("x", "xoffset", "dx"), "yOffset": ("y", "yoffset", "dy"), "message": ("text", "string", "content"),
                    "keys": ("key",), "key": ("keys",), "seconds": ("secs", "time"),
                    "time": ("seconds", "secs")}

_BUTTONS = {"left": "left", "right": "right", "middle": "middle", "primary": "left", "secondary": "right"}

# possessive everywhere but the call's ``(.*)``, which must give back to reach its last ``)``; the
# greedy tail ``\s*`*\s*;?\s*$`` alone was cubic on a line of spaces
_BARE_LINE = re.compile(
    r"^\s*+`*+\s*+((?:pyautogui|time|computer)\s*+\.\s*+\w++\s*+\(.*\)|([A-Za-z_]\w*+)\s*+\(.*\)"
    r"|import\s++(?:pyautogui|time)\b.*|WAIT|DONE|FAIL)\s*+`*+\s*+;?+\s*+$"
)


def _code_lines(text: str) -> list[str]:
    """The lines of prose that are code: pyautogui/time/computer calls, bare calls of known functions,
    the imports and OSWorld's special words."""
    lines = []
    for line in text.splitlines():
        m = _BARE_LINE.match(line)
        if m and (m.group(2) is None or m.group(2).replace("_", "").lower() in _FUNCTION_ALIASES):
            lines.append(m.group(1))
    return lines


def parse_pyautogui(text: str, limits: Limits, cursor: tuple[float, float] | None = None) -> Parsed:
    """Parse an OSWorld pyautogui reply (``fmt="pyautogui"``); ParseError when any part is refused."""
    parsed = begin(text, "pyautogui", limits)
    if parsed.thinking_unclosed:
        return parsed
    blocks = code_blocks(parsed.answer)
    prose = outside_blocks(parsed.answer, blocks).strip()
    if parsed.thought is None and prose and blocks:
        parsed.thought = prose
    builder = Builder(limits, cursor)
    read_code_in(parsed.answer, builder, limits)
    return builder.finish(parsed, HINT)


def read_code_in(text: str, builder: Builder, limits: Limits) -> None:
    """Read every code block of ``text`` (or, with none, the bare code lines) into ``builder``.

    Problems are recorded on the builder; nothing is returned.
    """
    blocks = code_blocks(text, limits.max_blocks + 1)
    if len(blocks) > limits.max_blocks:
        builder.note(f"the reply has more than {limits.max_blocks} code blocks; send fewer")
        return
    if blocks:
        for block in blocks:
            if builder.full:
                return
            if block.lang not in CODE_LANGS:
                builder.note(f"a ```{block.lang} block cannot be run; only pyautogui code in a ```python block can")
                continue
            read_code(block.body, builder, limits)
        return
    stripped = text.strip()
    if not stripped:
        builder.note("the reply is empty")
        return
    probe = Builder(limits)
    # a reply longer than the code limit is prose, not code: it is searched for code lines instead
    tree = _syntax_tree(stripped, probe, limits) if len(stripped) <= limits.max_code else None
    if tree is not None:  # the whole reply is code: read all of it, strictly
        _read_tree(tree, stripped, builder, limits)
        return
    lines = _code_lines(stripped)  # prose with code lines in it
    if lines:
        read_code("\n".join(lines), builder, limits)
        return
    syntax = any(p.startswith("the code is not valid Python") for p in probe.problems)
    builder.note("no pyautogui code found; put the code in a ```python block" if syntax or not probe.problems else probe.problems[0])


def read_code(code: str, builder: Builder, limits: Limits) -> None:
    """Read one piece of code statement by statement into ``builder`` (problems recorded, not raised)."""
    tree = _syntax_tree(code, builder, limits)
    if tree is not None:
        _read_tree(tree, code, builder, limits)


def _read_tree(tree: ast.Module, code: str, builder: Builder, limits: Limits) -> None:
    for stmt in tree.body:
        if builder.full:  # refused already; each further problem would only cost time
            return
        try:
            _statement(stmt, code, builder, limits)
        except Problem as problem:
            builder.note(f"line {getattr(stmt, 'lineno', '?')}: {problem}")


def _syntax_tree(code: str, builder: Builder, limits: Limits) -> ast.Module | None:
    if not builder.take_code(len(code)):
        return None
    try:
        with warnings.catch_warnings():  # "invalid escape sequence" in a model's string is not our concern
            warnings.simplefilter("ignore")
            tree = ast.parse(code, mode="exec")
    except SyntaxError as err:
        msg = (err.msg or "invalid syntax").split("(")[0].strip()
        builder.note(f"the code is not valid Python ({msg} on line {err.lineno})")
        return None
    except (RecursionError, MemoryError):
        builder.note("the code is nested too deeply")
        return None
    except Exception as err:  # ValueError for NUL bytes, huge literals, …
        builder.note(f"the code cannot be read ({str(err)[:80]})")
        return None
    for count, _ in enumerate(ast.walk(tree)):
        if count >= limits.max_nodes:
            builder.note("the code is too long or complex; send a few simple calls")
            return None
    return tree


def _statement(stmt: ast.stmt, code: str, builder: Builder, limits: Limits) -> None:
    if isinstance(stmt, ast.Import):
        bad = [a for a in stmt.names if a.name not in ("pyautogui", "time") or a.asname not in (None, a.name)]
        if bad:
            raise Problem(f"`{snippet(stmt, code)}` is not allowed; only `import pyautogui` and `import time` are")
        return
    if isinstance(stmt, ast.Pass):
        return
    if isinstance(stmt, ast.Expr):
        value = stmt.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return  # a docstring-like comment
        if isinstance(value, ast.Name) and value.id in ("WAIT", "DONE", "FAIL"):
            builder.add({"WAIT": Wait(seconds=limits.bare_wait), "DONE": Done(), "FAIL": Fail()}[value.id])
            return
        if isinstance(value, ast.Call):
            _call(value, code, builder, limits)
            return
        raise Problem(f"{describe_node(value, code)} is not an action; call a pyautogui function")
    kind = {
        ast.Assign: "assignments", ast.AugAssign: "assignments", ast.AnnAssign: "assignments",
        ast.ImportFrom: "`from … import`", ast.For: "loops", ast.While: "loops", ast.If: "if statements",
        ast.With: "with statements", ast.FunctionDef: "function definitions", ast.ClassDef: "class definitions",
        ast.Try: "try statements", ast.Delete: "del", ast.Global: "global", ast.Return: "return",
        ast.Raise: "raise", ast.AsyncFunctionDef: "function definitions", ast.Lambda: "lambdas",
    }.get(type(stmt), "this statement")
    raise Problem(f"{kind} are not allowed (`{snippet(stmt, code)}`); write one pyautogui call per line")


def _function_name(func: ast.expr, code: str) -> tuple[str, str]:
    """(module, name) of a call target: ("pyautogui", "click"), ("time", "sleep"), ("", "click")."""
    if isinstance(func, ast.Name):
        return "", func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id, func.attr
    raise Problem(f"calling `{snippet(func, code)}` is not allowed; call pyautogui functions directly")


def _call(call: ast.Call, code: str, builder: Builder, limits: Limits) -> None:
    module, name = _function_name(call.func, code)
    shown = f"{module}.{name}" if module else name
    for arg in call.args:
        if isinstance(arg, ast.Starred):
            raise Problem(f"starred arguments are not allowed in {shown}()")
    for kw in call.keywords:
        if kw.arg is None:
            raise Problem(f"**keyword arguments are not allowed in {shown}()")
    if module == "time":
        if name != "sleep":
            raise Problem(f"time.{name} is not allowed; only time.sleep(seconds) is")
        args = _bind(call, ("seconds",), code, shown, limits)
        builder.add(make(Wait, shown, seconds=as_number(_required(args, "seconds", shown), "seconds", limits)))
        return
    if module == "computer":
        _computer(name, call, code, builder, limits)
        return
    if module not in ("", "pyautogui"):
        raise Problem(f"`{module}.{name}` is not allowed; only pyautogui, time.sleep and computer.wait/terminate can be used")
    canon = _FUNCTION_ALIASES.get(name.replace("_", "").lower())
    if canon is None:
        reason = _NOT_ACTIONS.get(name.lower())
        if reason:
            raise Problem(f"{shown}() is not an action I can run; {reason}")
        raise Problem(f"{shown}() is not a function I can run; use click, doubleClick, rightClick, moveTo, dragTo, scroll, write, press, hotkey, keyDown, keyUp")
    if canon == "hotkey":
        _hotkey(call, code, builder, limits, shown)
        return
    args = _bind(call, _SIGNATURES[canon], code, shown, limits)
    _HANDLERS[canon](args, builder, limits, shown)


def _bind(call: ast.Call, params: tuple[str, ...], code: str, shown: str, limits: Limits) -> dict[str, Any]:
    """Match positional and keyword arguments to parameter names and evaluate them as literals."""
    if len(call.args) > len(params):
        raise Problem(f"{shown}() takes at most {len(params)} positional arguments, got {len(call.args)}")
    nodes: dict[str, ast.expr] = dict(zip(params, call.args))
    for kw in call.keywords:
        name = _keyword(kw.arg or "", params)
        if name is None:
            raise Problem(f"{shown}() has no argument '{kw.arg}'")
        if name in nodes:
            raise Problem(f"{shown}() got '{name}' twice")
        nodes[name] = kw.value
    values: dict[str, Any] = {}
    for name, node in nodes.items():
        if name in _IGNORED:
            if name == "tween" and isinstance(node, ast.Attribute):
                continue  # pyautogui.easeInQuad and friends: ignored, not evaluated
            literal(node, limits, code)
            continue
        values[name] = literal(node, limits, code)
    return values


def _keyword(arg: str, params: tuple[str, ...]) -> str | None:
    if arg in params or arg in _IGNORED:
        return arg
    for param in params:
        if arg in _KEYWORD_ALIASES.get(param, ()):
            return param
    return None


def _required(args: dict[str, Any], name: str, shown: str) -> Any:
    if args.get(name) is None:
        raise Problem(f"{shown}() needs '{name}'")
    return args[name]


def _point(args: dict[str, Any], shown: str, limits: Limits, names: tuple[str, str] = _XY) -> tuple[float, float] | None:
    """The (x, y) of a call, None when neither is given; accepts ``f((x, y))`` as pyautogui does."""
    x, y = args.get(names[0]), args.get(names[1])
    if isinstance(x, (list, tuple)) and y is None:
        if len(x) != 2:
            raise Problem(f"{shown}() needs a point as (x, y)")
        x, y = x
    if x is None and y is None:
        return None
    if x is None or y is None:
        raise Problem(f"{shown}() needs both x and y")
    return as_number(x, "x", limits), as_number(y, "y", limits)


def _button(args: dict[str, Any], shown: str, default: str = "left") -> str:
    value = args.get("button", default)
    if not isinstance(value, str) or value.lower() not in _BUTTONS:
        raise Problem(f"{shown}() button must be 'left', 'right' or 'middle', not {value!r}")
    return _BUTTONS[value.lower()]


_HERE_HINT = "give the target's coordinates, e.g. pyautogui.click(x=..., y=...)"


def _clicker(clicks: int | None, button: str | None) -> Callable[[dict[str, Any], Builder, Limits, str], None]:
    def handle(args: dict[str, Any], builder: Builder, limits: Limits, shown: str) -> None:
        at = _point(args, shown, limits) or builder.here(f"{shown}() without x and y", _HERE_HINT)
        n = clicks if clicks is not None else as_int(args.get("clicks", 1), "clicks", limits)
        if n not in (1, 2, 3):
            raise Problem(f"{shown}(): clicks must be 1, 2 or 3, not {n}")
        btn = button if button is not None else _button(args, shown)
        builder.add(make(Click, shown, x=at[0], y=at[1], button=btn, clicks=n))

    return handle


def _move_to(args: dict[str, Any], builder: Builder, limits: Limits, shown: str) -> None:
    at = _point(args, shown, limits)
    if at is None:
        raise Problem(f"{shown}() needs x and y")
    builder.add(make(Move, shown, x=at[0], y=at[1]))


def _offset(args: dict[str, Any], shown: str, limits: Limits) -> tuple[float, float]:
    off = _point(args, shown, limits, ("xOffset", "yOffset"))
    if off is None:
        raise Problem(f"{shown}() needs xOffset and yOffset")
    return off


def _move_rel(args: dict[str, Any], builder: Builder, limits: Limits, shown: str) -> None:
    dx, dy = _offset(args, shown, limits)
    x, y = builder.here(f"{shown}() moves relative to the pointer", "use pyautogui.moveTo(x, y) with absolute coordinates")
    builder.add(make(Move, shown, x=x + dx, y=y + dy))


def _drag_to(args: dict[str, Any], builder: Builder, limits: Limits, shown: str) -> None:
    end = _point(args, shown, limits)
    if end is None:
        raise Problem(f"{shown}() needs x and y")
    start = builder.here(f"{shown}() drags from the pointer", "call pyautogui.moveTo(x1, y1) first in the same code")
    builder.add(make(Drag, shown, x1=start[0], y1=start[1], x2=end[0], y2=end[1], button=_button(args, shown)))


def _drag_rel(args: dict[str, Any], builder: Builder, limits: Limits, shown: str) -> None:
    dx, dy = _offset(args, shown, limits)
    x, y = builder.here(f"{shown}() drags from the pointer", "call pyautogui.moveTo(x1, y1) first, then pyautogui.dragTo(x2, y2)")
    builder.add(make(Drag, shown, x1=x, y1=y, x2=x + dx, y2=y + dy, button=_button(args, shown)))


def _mouse_button(cls: type) -> Callable[[dict[str, Any], Builder, Limits, str], None]:
    def handle(args: dict[str, Any], builder: Builder, limits: Limits, shown: str) -> None:
        builder.pointer_button(cls, _button(args, shown), _point(args, shown, limits), shown)

    return handle


def _scroller(horizontal: bool) -> Callable[[dict[str, Any], Builder, Limits, str], None]:
    def handle(args: dict[str, Any], builder: Builder, limits: Limits, shown: str) -> None:
        clicks = as_int(_required(args, "clicks", shown), "clicks", limits)
        at = _point(args, shown, limits)
        fields = {"dx": clicks} if horizontal else {"dy": clicks}
        if at is not None:
            fields.update(x=at[0], y=at[1])
        builder.add(make(Scroll, shown, **fields))

    return handle


def _write(args: dict[str, Any], builder: Builder, limits: Limits, shown: str) -> None:
    message = _required(args, "message", shown)
    if isinstance(message, (list, tuple)):  # typewrite(['a', 'enter']) presses keys one by one
        if not message:
            raise Problem(f"{shown}() got an empty list")
        for key in message:
            builder.add(make(Key, shown, keys=[_key_text(key, shown)]))
        return
    text = as_text(message, "the text")
    if not text:
        raise Problem(f"{shown}('') types nothing")
    builder.add(make(TypeText, shown, text=text))


def _press(args: dict[str, Any], builder: Builder, limits: Limits, shown: str) -> None:
    keys = _required(args, "keys", shown)
    keys = list(keys) if isinstance(keys, (list, tuple)) else [keys]
    if not keys:
        raise Problem(f"{shown}() got an empty list")
    presses = as_int(args.get("presses", 1), "presses", limits)
    if not 1 <= presses <= limits.max_actions:
        raise Problem(f"presses must be between 1 and {limits.max_actions}, not {presses}")
    for _ in range(presses):
        for key in keys:
            builder.add(make(Key, shown, keys=[_key_text(key, shown)]))


def _hotkey(call: ast.Call, code: str, builder: Builder, limits: Limits, shown: str) -> None:
    for kw in call.keywords:
        if kw.arg not in _IGNORED:
            raise Problem(f"{shown}() takes the keys as positional arguments, e.g. {shown}('ctrl', 'c')")
        literal(kw.value, limits, code)
    values = [literal(arg, limits, code) for arg in call.args]
    if len(values) == 1 and isinstance(values[0], (list, tuple)):
        values = list(values[0])
    if not values:
        raise Problem(f"{shown}() needs at least one key")
    builder.add(make(Key, shown, keys=[_key_text(v, shown) for v in values]))


def _key_down(cls: type) -> Callable[[dict[str, Any], Builder, Limits, str], None]:
    def handle(args: dict[str, Any], builder: Builder, limits: Limits, shown: str) -> None:
        builder.add(make(cls, shown, key=_key_text(_required(args, "key", shown), shown)))

    return handle


def _sleep(args: dict[str, Any], builder: Builder, limits: Limits, shown: str) -> None:
    builder.add(make(Wait, shown, seconds=as_number(_required(args, "seconds", shown), "seconds", limits)))


def _key_text(value: Any, shown: str) -> str:
    if not isinstance(value, str) or not value:
        raise Problem(f"{shown}() keys must be non-empty strings like 'enter' or 'ctrl', not {value!r}")
    return value


_HANDLERS: dict[str, Callable[[dict[str, Any], Builder, Limits, str], None]] = {
    "click": _clicker(None, None),
    "leftClick": _clicker(1, "left"),
    "doubleClick": _clicker(2, None),
    "tripleClick": _clicker(3, None),
    "rightClick": _clicker(1, "right"),
    "middleClick": _clicker(1, "middle"),
    "moveTo": _move_to,
    "moveRel": _move_rel,
    "dragTo": _drag_to,
    "dragRel": _drag_rel,
    "mouseDown": _mouse_button(MouseDown),
    "mouseUp": _mouse_button(MouseUp),
    "scroll": _scroller(False),
    "vscroll": _scroller(False),
    "hscroll": _scroller(True),
    "write": _write,
    "press": _press,
    "keyDown": _key_down(KeyDown),
    "keyUp": _key_down(KeyUp),
    "sleep": _sleep,
}


def _computer(name: str, call: ast.Call, code: str, builder: Builder, limits: Limits) -> None:
    """``computer.wait(time=…)`` and ``computer.terminate(status=…, answer=…)`` of the OSWorld Kimi agent."""
    shown = f"computer.{name}"
    if name == "wait":
        args = _bind(call, ("time",), code, shown, limits)
        seconds = limits.computer_wait if args.get("time") is None else as_number(args["time"], "time", limits)
        builder.add(make(Wait, shown, seconds=seconds))
        return
    if name == "terminate":
        args = _bind(call, ("status", "answer", "data"), code, shown, limits)
        status = str(args.get("status") or "").strip().lower()
        answer = args.get("answer", args.get("data"))
        if answer is not None and not isinstance(answer, str):
            answer = str(answer)
        if status in ("success", "succeeded", "done", "complete", "completed"):
            builder.add(Done(answer=answer))
        elif status in ("failure", "fail", "failed", "infeasible"):
            builder.add(Fail(reason=answer))
        else:
            raise Problem("computer.terminate() needs status='success' or status='failure'")
        return
    raise Problem(f"computer.{name}() is not available; use computer.wait() or computer.terminate(status=...)")
