"""What every task-file model shares: the strict, frozen base, the name pattern and the time limit."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

MAX_TIMEOUT_S = 120.0
"""The longest time-out a task file may ask for (setup steps, waits, checker commands)."""

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
"""An app's name as launch steps, widget targets and app_state checkers spell it."""


class TaskModel(BaseModel):
    """Base of the task-file models: unknown fields are errors, and a loaded task cannot change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def as_list(v: Any) -> Any:
    """One string stands for a list of one (``text: Alice`` reads as ``text: [Alice]``)."""
    return [v] if isinstance(v, str) else v


__all__ = ["MAX_TIMEOUT_S", "NAME_PATTERN", "TaskModel", "as_list"]
