"""Defensive reads of recorded JSON: a damaged episode may hold any type in any field.

Every page builder goes through these instead of indexing step dicts directly, so a wrong type
shows up as "missing" on the page rather than as an exception halfway through rendering.
"""

from __future__ import annotations

import json
import math
from typing import Any


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a dict, else an empty dict."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` when it is a list, else an empty list."""
    return value if isinstance(value, list) else []


def as_dicts(value: Any) -> list[dict[str, Any]]:
    """The dict items of ``value`` when it is a list (other items dropped)."""
    return [v for v in as_list(value) if isinstance(v, dict)]


def as_number(value: Any) -> float | None:
    """A finite int or float (bools excluded), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def as_text(value: Any) -> str | None:
    """``value`` when it is a string, else None."""
    return value if isinstance(value, str) else None


def as_point(value: Any) -> tuple[float, float] | None:
    """``[x, y]`` (two finite numbers) as a tuple, else None."""
    items = as_list(value)
    if len(items) != 2:
        return None
    x, y = as_number(items[0]), as_number(items[1])
    return None if x is None or y is None else (x, y)


def describe_action(action: Any) -> str:
    """A short rendering of a recorded action, e.g. ``click(222, 140)``; never raises.

    Uses ``tools.actions.describe`` when the dict validates as an action, else compact JSON.
    """
    if isinstance(action, dict):
        try:
            from tools.actions import ACTION_ADAPTER, describe

            return describe(ACTION_ADAPTER.validate_python(action))
        except Exception:
            pass
    try:
        return json.dumps(action, ensure_ascii=False, default=str)
    except Exception:
        return repr(action)


def step_index(step: dict[str, Any], fallback: int) -> int:
    """The recorded step number, or ``fallback`` when it is missing or not an integer."""
    value = step.get("index")
    return value if isinstance(value, int) and not isinstance(value, bool) else fallback


# The type each step field must have when present (None is always allowed: "not recorded").
_STEP_FIELDS: dict[str, tuple[type, str]] = {
    "kind": (str, "text"), "frame": (str, "text"), "reply": (str, "text"), "thought": (str, "text"),
    "feedback": (str, "text"), "instruction": (str, "text"), "parsed": (list, "a list"),
    "executed": (list, "a list"), "rejections": (list, "a list"), "errors": (list, "a list"),
    "timings": (dict, "an object"), "usage": (dict, "an object"), "request": (dict, "an object"),
    "settle": (dict, "an object"), "grounding": (dict, "an object"),
}


def step_damage(step: dict[str, Any]) -> list[str]:
    """What is wrong with a step line's fields (wrong types, records that are not actions); [] when sound."""
    out = []
    for key, (kind, name) in _STEP_FIELDS.items():
        value = step.get(key)
        if value is not None and not isinstance(value, kind):
            out.append(f"{key} is {type(value).__name__}, not {name}")
    for n, item in enumerate(as_list(step.get("executed")), 1):
        action = item.get("action") if isinstance(item, dict) else None
        if not isinstance(action, dict):
            out.append(f"executed item {n} holds no action")
        elif not _valid(action):
            out.append(f"executed action {n} is not a valid action: {describe_action(action)}")
    for key, value in as_dict(step.get("timings")).items():
        if as_number(value) is None:
            out.append(f"timing {key!r} is not a number")
    return out


def _valid(action: dict[str, Any]) -> bool:
    try:
        from tools.actions import ACTION_ADAPTER

        ACTION_ADAPTER.validate_python(action)
        return True
    except Exception:
        return False
