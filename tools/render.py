"""Render validated actions as canonical replies in each model family's action format: pyautogui code
(the way OSWorld's harness and pyautogui-style models write it: one call per line, literal arguments,
``WAIT`` / ``DONE`` / ``FAIL`` alone), UI-TARS calls (``click(point='<point>x y</point>')``) and Qwen's
``computer_use`` tool calls. :func:`render_answer` writes a whole answer (the action sentence and the
actions) in a parse format of :mod:`tools.parse`, which reads it back to the same actions.

Coordinates go through ``point`` (screen pixels → the target's space: normalized fractions, thousandths
or pixels), so the same actions render for any family. Only validated :mod:`tools.actions` come in; the
model's own code never goes out. An action a format cannot say raises :class:`Unrenderable`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from tools.actions import (Action, Click, Done, Drag, Fail, Key, KeyDown, KeyUp, MouseDown, MouseUp, Move, Scroll,
                           TypeText, Wait)

Point = Callable[[float, float], tuple[float, float]]
_CLICKS = {(1, "left"): "click", (2, "left"): "doubleClick", (3, "left"): "tripleClick", (1, "right"): "rightClick",
           (1, "middle"): "middleClick"}


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.4f}".rstrip("0")


def _xy(point: Point, x: float, y: float) -> str:
    px, py = point(x, y)
    return f"x={_num(px)}, y={_num(py)}"


def action_code(action: Action, point: Point) -> str:
    """One action as pyautogui code (one or two lines), or ``WAIT`` / ``DONE`` / ``FAIL``."""
    if isinstance(action, Click):
        name = _CLICKS.get((action.clicks, action.button))
        if name is None:
            return f"pyautogui.click({_xy(point, action.x, action.y)}, clicks={action.clicks}, button={action.button!r})"
        return f"pyautogui.{name}({_xy(point, action.x, action.y)})"
    if isinstance(action, Move):
        return f"pyautogui.moveTo({_xy(point, action.x, action.y)})"
    if isinstance(action, Drag):
        return (f"pyautogui.moveTo({_xy(point, action.x1, action.y1)})\n"
                f"pyautogui.dragTo({_xy(point, action.x2, action.y2)}, button={action.button!r})")
    if isinstance(action, (MouseDown, MouseUp)):
        return f"pyautogui.{'mouseDown' if isinstance(action, MouseDown) else 'mouseUp'}(button={action.button!r})"
    if isinstance(action, Scroll):
        at = f", {_xy(point, action.x, action.y)}" if action.x is not None and action.y is not None else ""
        lines = [f"pyautogui.scroll({action.dy}{at})"] if action.dy else []
        lines += [f"pyautogui.hscroll({action.dx}{at})"] if action.dx else []
        return "\n".join(lines) or "WAIT"
    if isinstance(action, TypeText):
        return f"pyautogui.write({action.text!r})"
    if isinstance(action, Key):
        keys = ", ".join(repr(k) for k in action.keys)
        return f"pyautogui.press({keys})" if len(action.keys) == 1 else f"pyautogui.hotkey({keys})"
    if isinstance(action, (KeyDown, KeyUp)):
        return f"pyautogui.{'keyDown' if isinstance(action, KeyDown) else 'keyUp'}({action.key!r})"
    if isinstance(action, Wait):
        return "WAIT"
    if isinstance(action, Done):
        return "DONE"
    if isinstance(action, Fail):
        return "FAIL"
    raise TypeError(f"no pyautogui form for {action!r}")


def pyautogui_code(actions: Sequence[Action], point: Point) -> str:
    """Every action as code, one after the other (a final answer as ``computer.terminate``, which keeps it)."""
    return "\n".join(f"computer.terminate(status='success', answer={a.answer!r})"
                     if isinstance(a, Done) and a.answer else action_code(a, point) for a in actions)


class Unrenderable(ValueError):
    """An action the target format has no way to say."""


_TARS_CLICKS = {(1, "left"): "click", (2, "left"): "left_double", (3, "left"): "left_triple",
                (1, "right"): "right_single", (1, "middle"): "middle_single"}


def _tars_point(point: Point, x: float, y: float) -> str:
    px, py = point(x, y)
    return f"<point>{_num(px)} {_num(py)}</point>"


def _tars_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"').replace("\n", "\\n")


def ui_tars_call(action: Action, point: Point) -> str:
    """One action as a UI-TARS-1.5 call."""
    if isinstance(action, Click) and (action.clicks, action.button) in _TARS_CLICKS:
        return f"{_TARS_CLICKS[action.clicks, action.button]}(point='{_tars_point(point, action.x, action.y)}')"
    if isinstance(action, Move):
        return f"hover(point='{_tars_point(point, action.x, action.y)}')"
    if isinstance(action, Drag):
        return (f"drag(start_point='{_tars_point(point, action.x1, action.y1)}', "
                f"end_point='{_tars_point(point, action.x2, action.y2)}')")
    if isinstance(action, Scroll) and bool(action.dx) != bool(action.dy):
        direction = ("up" if action.dy > 0 else "down") if action.dy else ("right" if action.dx > 0 else "left")
        at = f"point='{_tars_point(point, action.x, action.y)}', " if action.x is not None and action.y is not None else ""
        return f"scroll({at}direction='{direction}')"
    if isinstance(action, TypeText):
        return f"type(content='{_tars_text(action.text)}')"
    if isinstance(action, Key):
        return f"hotkey(key='{' '.join(action.keys)}')"
    if isinstance(action, (KeyDown, KeyUp)):
        return f"{'keydown' if isinstance(action, KeyDown) else 'keyup'}(key='{action.key}')"
    if isinstance(action, Wait):
        return "wait()"
    if isinstance(action, Done):
        return f"finished(content='{_tars_text(action.answer)}')" if action.answer else "finished()"
    if isinstance(action, Fail):
        return "call_user()"
    raise Unrenderable(f"UI-TARS has no call for {action.type} {action.model_dump(exclude={'type'})}")


_QWEN_CLICKS = {(1, "left"): "left_click", (2, "left"): "double_click", (3, "left"): "triple_click",
                (1, "right"): "right_click", (1, "middle"): "middle_click"}


def _qwen_xy(point: Point, x: float, y: float) -> list[float]:
    px, py = point(x, y)
    return [int(v) if float(v).is_integer() else v for v in (px, py)]


def qwen_arguments(action: Action, point: Point) -> dict:
    """One action as the arguments of a ``computer_use`` tool call (Qwen2.5-VL / Qwen3-VL)."""
    if isinstance(action, Click) and (action.clicks, action.button) in _QWEN_CLICKS:
        return {"action": _QWEN_CLICKS[action.clicks, action.button], "coordinate": _qwen_xy(point, action.x, action.y)}
    if isinstance(action, Move):
        return {"action": "mouse_move", "coordinate": _qwen_xy(point, action.x, action.y)}
    if isinstance(action, Drag):
        return {"action": "left_click_drag", "start_coordinate": _qwen_xy(point, action.x1, action.y1),
                "coordinate": _qwen_xy(point, action.x2, action.y2)}
    if isinstance(action, Scroll) and bool(action.dx) != bool(action.dy):
        args: dict = {"action": "scroll", "pixels": action.dy} if action.dy else {"action": "hscroll", "pixels": action.dx}
        if action.x is not None and action.y is not None:
            args["coordinate"] = _qwen_xy(point, action.x, action.y)
        return args
    if isinstance(action, TypeText):
        return {"action": "type", "text": action.text}
    if isinstance(action, Key):
        return {"action": "key", "keys": list(action.keys)}
    if isinstance(action, Wait):
        return {"action": "wait", "time": action.seconds}
    if isinstance(action, Done):
        return {"action": "answer", "text": action.answer} if action.answer else {"action": "terminate", "status": "success"}
    if isinstance(action, Fail):
        return {"action": "terminate", "status": "failure"}
    raise Unrenderable(f"computer_use has no action for {action.type} {action.model_dump(exclude={'type'})}")


def render_answer(fmt: str, actions: Sequence[Action], point: Point, *, line: str, thought: str | None = None) -> str:
    """A whole answer in parse format ``fmt`` (the part after any thinking): the one-sentence ``line``
    saying what the step does, and the actions. Unrenderable when ``fmt`` cannot say one of them."""
    line = " ".join(line.split()) or "Next step."
    if fmt in ("kimi-vl", "pyautogui"):
        return f"## Action:\n{line}\n\n## Code:\n```python\n{pyautogui_code(actions, point)}\n```"
    if fmt == "ui-tars":
        said = " ".join((thought or "").split()) or line
        return f"Thought: {said}\nAction: " + "\n\n".join(ui_tars_call(a, point) for a in actions)
    if fmt == "qwen-tool":
        calls = [json.dumps({"name": "computer_use", "arguments": qwen_arguments(a, point)}, ensure_ascii=False)
                 for a in actions]
        return line + "".join(f"\n<tool_call>\n{c}\n</tool_call>" for c in calls)
    raise Unrenderable(f"no canonical answer is written in the {fmt!r} format")


__all__ = ["Unrenderable", "action_code", "pyautogui_code", "qwen_arguments", "render_answer", "ui_tars_call"]
