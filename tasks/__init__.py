"""Tasks: the task model and loader, setup steps, checkers, reference solutions, bundled apps, suites.

Public names are imported lazily, so that ``python -m tasks.apps.NAME`` (run inside the sandbox for
every app start) does not pay for pydantic and the sandbox client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Task": "tasks.task", "TaskFileError": "tasks.task", "load_task": "tasks.task", "load_suite": "tasks.task",
    "task_from_data": "tasks.task", "Checker": "tasks.checkers", "SetupStep": "tasks.task", "SolutionStep": "tasks.task",
    "Step": "tasks.steps", "StepParseError": "tasks.steps", "parse_step": "tasks.steps", "parse_steps": "tasks.steps",
    "run_setup": "tasks.setup", "SetupError": "tasks.setup",
    "check": "tasks.checkers", "Verdict": "tasks.checkers", "settle": "tasks.checkers",
    "run_solution": "tasks.solution", "SolutionError": "tasks.solution",
    "load_osworld": "tasks.osworld", "SUITE_DIR": "tasks.suite",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from tasks.checkers import Checker, Verdict, check, settle
    from tasks.osworld import load_osworld
    from tasks.setup import SetupError, run_setup
    from tasks.solution import SolutionError, run_solution
    from tasks.steps import Step, StepParseError, parse_step, parse_steps
    from tasks.suite import SUITE_DIR
    from tasks.task import SetupStep, SolutionStep, Task, TaskFileError, load_suite, load_task, task_from_data


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tasks' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
