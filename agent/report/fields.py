"""Defensive reads of recorded JSON that has no typed model: ``task.json``, ``result.json``,
``results.json`` and the free-form parts of a step (request messages). A damaged file may hold any
type in any field; a wrong type shows up as "missing" on the page rather than as an exception halfway
through rendering. Step lines themselves are typed (``agent.step.StepRecord``) and validated on reading.
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
