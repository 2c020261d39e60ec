"""Render validated actions as canonical pyautogui code, the way OSWorld's harness and pyautogui-style
models write it: one call per line, literal arguments, ``WAIT`` / ``DONE`` / ``FAIL`` alone.

Coordinates go through ``point`` (screen pixels → the target's space: normalized fractions, thousandths
or pixels), so the same actions render for any family. Only validated :mod:`tools.actions` come in; the
model's own code never goes out.
"""

from __future__ import annotations

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
    """Every action as code, one after the other."""
    return "\n".join(action_code(a, point) for a in actions)


__all__ = ["action_code", "pyautogui_code"]
