"""The action space: one validated, discriminated union of everything an agent may do.

Coordinates are whatever space the producer used: model space straight out of a parser,
screen pixels after ``tools.coords.Transform.to_screen``. Validation of bounds, key names
and policy lives in ``tools.policy``; these models only guarantee shape and types.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

Button = Literal["left", "right", "middle"]


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _finite(v: float) -> float:
    if not math.isfinite(v):
        raise ValueError(f"coordinate must be a finite number, got {v!r}")
    return v


class _Point(_Base):
    x: float
    y: float

    _check = field_validator("x", "y")(classmethod(lambda cls, v: _finite(v)))


class Click(_Point):
    """Press and release a mouse button at (x, y), 1–3 times (double/triple click)."""

    type: Literal["click"] = "click"
    button: Button = "left"
    clicks: int = Field(default=1, ge=1, le=3)


class Move(_Point):
    """Move the pointer to (x, y) without pressing anything."""

    type: Literal["move"] = "move"


class Drag(_Base):
    """Press the left button at (x1, y1), move to (x2, y2), release."""

    type: Literal["drag"] = "drag"
    x1: float
    y1: float
    x2: float
    y2: float
    button: Button = "left"

    _check = field_validator("x1", "y1", "x2", "y2")(classmethod(lambda cls, v: _finite(v)))


class MouseDown(_Base):
    """Press a mouse button where the pointer is and keep it down."""

    type: Literal["mouse_down"] = "mouse_down"
    button: Button = "left"


class MouseUp(_Base):
    """Release a mouse button where the pointer is."""

    type: Literal["mouse_up"] = "mouse_up"
    button: Button = "left"


class Scroll(_Base):
    """Scroll by wheel clicks: dy > 0 scrolls up, dx > 0 scrolls right; at (x, y) if given."""

    type: Literal["scroll"] = "scroll"
    dx: int = 0
    dy: int = 0
    x: float | None = None
    y: float | None = None

    @field_validator("x", "y")
    @classmethod
    def _fin(cls, v: float | None) -> float | None:
        return None if v is None else _finite(v)


class TypeText(_Base):
    """Type text exactly as given, any Unicode, newlines and tabs included."""

    type: Literal["type"] = "type"
    text: str


class Key(_Base):
    """Press one key, or several together as a combination (``["ctrl", "s"]``)."""

    type: Literal["key"] = "key"
    keys: list[str] = Field(min_length=1)

    @field_validator("keys", mode="before")
    @classmethod
    def _one_key(cls, v: object) -> object:
        if isinstance(v, str):
            return [part for part in v.split("+") if part] if "+" in v and len(v) > 1 else [v]
        return v


class KeyDown(_Base):
    """Press and hold one key."""

    type: Literal["key_down"] = "key_down"
    key: str


class KeyUp(_Base):
    """Release one held key."""

    type: Literal["key_up"] = "key_up"
    key: str


class Wait(_Base):
    """Do nothing for a while, letting the screen change."""

    type: Literal["wait"] = "wait"
    seconds: float = Field(default=1.0, ge=0)

    _check = field_validator("seconds")(classmethod(lambda cls, v: _finite(v)))


class Done(_Base):
    """The task is finished; ``answer`` carries a final answer when the task asks for one."""

    type: Literal["done"] = "done"
    answer: str | None = None


class Fail(_Base):
    """The task cannot be done (infeasible tasks pass only with this)."""

    type: Literal["fail"] = "fail"
    reason: str | None = None


Action = Annotated[
    Union[Click, Move, Drag, MouseDown, MouseUp, Scroll, TypeText, Key, KeyDown, KeyUp, Wait, Done, Fail],
    Field(discriminator="type"),
]
"""Any action; ``TypeAdapter(Action).validate_python({"type": "click", "x": 1, "y": 2})``."""

ACTION_ADAPTER: TypeAdapter[Action] = TypeAdapter(Action)
ACTION_LIST_ADAPTER: TypeAdapter[list[Action]] = TypeAdapter(list[Action])

TERMINAL_ACTIONS = (Done, Fail)
"""The actions that end an episode: ``isinstance(action, TERMINAL_ACTIONS)``."""


def describe(action: Action) -> str:
    """A short human- and model-readable rendering, e.g. ``click(412, 88)`` or ``key(ctrl+s)``."""
    match action:
        case Click(x=x, y=y, button=b, clicks=n):
            extra = ("" if b == "left" else f", {b}") + ("" if n == 1 else f", clicks={n}")
            return f"click({x:g}, {y:g}{extra})"
        case Move(x=x, y=y):
            return f"move({x:g}, {y:g})"
        case Drag(x1=a, y1=b, x2=c, y2=d):
            return f"drag({a:g}, {b:g} -> {c:g}, {d:g})"
        case Scroll(dx=dx, dy=dy, x=x, y=y):
            at = "" if x is None or y is None else f" at ({x:g}, {y:g})"
            return f"scroll(dx={dx}, dy={dy}){at}"
        case TypeText(text=t):
            return f"type({json.dumps(t, ensure_ascii=False)})"
        case Key(keys=k):
            return f"key({'+'.join(k)})"
        case Wait(seconds=s):
            return f"wait({s:g}s)"
        case Done(answer=a):
            return "done" if a is None else f"done({json.dumps(a, ensure_ascii=False)})"
        case Fail(reason=r):
            return "fail" if r is None else f"fail({json.dumps(r, ensure_ascii=False)})"
        case _:
            return action.type
