"""Run a task's reference solution: resolve widget targets to screen pixels and act.

A pointer step may name a widget (``{"type": "click", "target": "form:submit_button"}``) instead of
coordinates. The widget is looked up in the app's state file at the moment the step runs — waiting
until it is on screen, since it may appear only after the previous step (a menu, a dialog) — and
the action goes to the centre of its box (plus ``offset``). ``wait_for`` steps only wait.
"""

from __future__ import annotations

import time
from typing import Any

from sandbox import Sandbox
from tasks.setup import POLL_S, read_state
from tasks.task import Task, TargetClick, TargetDrag, TargetMove, TargetScroll, WaitFor, solution_targets
from tools.actions import TERMINAL_ACTIONS, Action, Click, Done, Drag, Move, Scroll

DEFAULT_TIMEOUT_S = 10.0


class SolutionError(RuntimeError):
    """A solution step could not be resolved or executed; names the task and the step."""


def find_widget(doc: dict[str, Any] | None, widget_id: str) -> dict[str, Any] | None:
    if not doc:
        return None
    return next((w for w in doc.get("widgets", []) if w.get("id") == widget_id), None)


def wait_widget(sandbox: Sandbox, state_path: str, widget_id: str, timeout: float = DEFAULT_TIMEOUT_S,
                focused: bool = False) -> dict[str, Any]:
    """The widget entry once it is on screen (and focused, if asked); TimeoutError says what was seen."""
    deadline = time.monotonic() + timeout
    while True:
        doc = read_state(sandbox, state_path)
        widget = find_widget(doc, widget_id)
        if widget is not None and doc and doc.get("ready") and (not focused or doc.get("focus") == widget_id):
            return widget
        if time.monotonic() > deadline:
            if doc is None:
                seen = f"no state file at {state_path}"
            elif widget is None:
                seen = f"widgets on screen: {[w.get('id') for w in doc.get('widgets', [])]}"
            else:
                seen = f"the focus is on {doc.get('focus')!r}"
            raise TimeoutError(f"widget {widget_id!r} not {'focused' if focused else 'on screen'} within {timeout:g} s ({seen})")
        time.sleep(POLL_S)


def center(widget: dict[str, Any], offset: tuple[float, float] = (0.0, 0.0)) -> tuple[float, float]:
    x1, y1, x2, y2 = widget["bbox"]
    return ((x1 + x2) / 2 + offset[0], (y1 + y2) / 2 + offset[1])


def resolve(step: Any, sandbox: Sandbox, task: Task, timeout: float = DEFAULT_TIMEOUT_S) -> Action | None:
    """The concrete action for one solution step (None for ``wait_for``, after waiting)."""
    apps = task.apps()

    def locate(target: str, focused: bool = False) -> dict[str, Any]:
        app, widget_id = target.split(":", 1)
        return wait_widget(sandbox, apps[app], widget_id, timeout, focused)

    if isinstance(step, WaitFor):
        locate(step.target, step.focused)
        return None
    if isinstance(step, TargetClick):
        x, y = center(locate(step.target), step.offset)
        return Click(x=x, y=y, button=step.button, clicks=step.clicks)
    if isinstance(step, TargetMove):
        x, y = center(locate(step.target), step.offset)
        return Move(x=x, y=y)
    if isinstance(step, TargetScroll):
        x, y = center(locate(step.target), step.offset)
        return Scroll(x=x, y=y, dx=step.dx, dy=step.dy)
    if isinstance(step, TargetDrag):
        x1, y1 = center(locate(step.source))
        x2, y2 = center(locate(step.to))
        return Drag(x1=x1, y1=y1, x2=x2, y2=y2, button=step.button)
    return step  # already an action in screen pixels


def releases_handled(sandbox: Sandbox, path: str) -> int:
    """How many mouse button releases the bundled app with state file ``path`` has handled."""
    doc = read_state(sandbox, path) or {}
    return int(doc.get("input", {}).get("releases", 0))


def _button_releases(action: Action) -> int:
    """How many button releases an action makes (a wheel click is a press and a release)."""
    if isinstance(action, Click):
        return action.clicks
    if isinstance(action, Drag):
        return 1
    if isinstance(action, Scroll):
        return abs(action.dx) + abs(action.dy)
    return 0


def wait_releases(sandbox: Sandbox, path: str, count: int, timeout: float) -> None:
    """Wait until the app has handled ``count`` button releases in total."""
    deadline = time.monotonic() + timeout
    while (seen := releases_handled(sandbox, path)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the app handled {seen} button releases, expected {count}, within {timeout:g} s")
        time.sleep(POLL_S / 2)


def run_solution(task: Task, sandbox: Sandbox, timeout: float = DEFAULT_TIMEOUT_S) -> Action:
    """Execute the reference solution; returns the final action (``done`` unless the solution ends
    with ``done`` or ``fail`` itself), to hand to the checker.

    Events can arrive out of order or late: the window manager holds a click (to focus the window)
    while key events flow on, and after text that needed keymap changes it holds clicks for a few
    hundred milliseconds. So a pointer step on a bundled app's widget waits until the app has
    handled the click (its state file counts button releases), and a keyboard step after any other
    pointer step waits for a still screen.
    """
    from tasks.checkers import settle

    final: Action = Done()
    after_pointer = False
    apps = task.apps()
    for i, step in enumerate(task.solution):
        try:
            action = resolve(step, sandbox, task, timeout)
            if action is not None and action.type in ("type", "key", "key_down") and after_pointer:
                settle(sandbox, quiet=0.05, timeout=2.0, interval=0.01)
            if action is None:
                continue
            if isinstance(action, TERMINAL_ACTIONS):
                final = action
                continue
            targets = solution_targets(step)
            state_path = apps[targets[0].split(":", 1)[0]] if targets else None
            expected = releases_handled(sandbox, state_path) + _button_releases(action) if state_path else 0
            result = sandbox.act(action)
            if not result.ok:
                raise SolutionError(f"task {task.id!r}: solution[{i}] {action.type}: {result.error}")
            after_pointer = False
            if state_path is not None:
                wait_releases(sandbox, state_path, expected, timeout)
            elif action.type in ("click", "drag", "mouse_down", "mouse_up", "scroll", "move"):
                after_pointer = True
        except TimeoutError as exc:
            raise SolutionError(f"task {task.id!r}: solution[{i}]: {exc}") from None
    return final
