"""Run a task's setup steps in a sandbox, waiting on observed conditions (a window on screen, an
app's state file saying ``ready``, a file appearing) — never on fixed sleeps, except an explicit
``sleep`` step.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sandbox import App, Sandbox, SandboxError
from tasks.checkers import CHECKED_FILE_LIMIT
from tasks.held import hold
from tasks.task import (HoldFileStep, LaunchStep, RunStep, SleepStep, Task, WaitFileStep, WaitWindowStep,
                        WriteFileStep, resolve_argv)

POLL_S = 0.02


class SetupError(RuntimeError):
    """A setup step failed; the message names the task, the step index and its kind."""

    def __init__(self, task: Task, index: int, kind: str, message: str) -> None:
        self.task_id, self.index, self.kind = task.id, index, kind
        super().__init__(f"task {task.id!r}: setup[{index}] ({kind}): {message}")


def read_state(sandbox: Sandbox, path: str) -> dict[str, Any] | None:
    """A bundled app's state document, or None while it does not exist (or is not complete JSON)."""
    try:
        raw = sandbox.read_file(path)
    except SandboxError as exc:
        if "No such file" in str(exc) or "FileNotFoundError" in str(exc):
            return None
        raise
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def wait_ready(sandbox: Sandbox, path: str, timeout: float, focus: bool = False) -> dict[str, Any]:
    """Wait until the state file at ``path`` says ``ready`` (and names a focused widget, if ``focus``);
    returns the document."""
    deadline = time.monotonic() + timeout
    while True:
        doc = read_state(sandbox, path)
        if doc is not None and doc.get("ready") and (not focus or doc.get("focus") is not None):
            return doc
        if time.monotonic() > deadline:
            seen = ("no state file" if doc is None else "a state file with ready=false" if not doc.get("ready")
                    else "a window without the keyboard focus")
            raise TimeoutError(f"the app did not become ready within {timeout:g} s ({seen} at {path})")
        time.sleep(POLL_S)


def wait_file(sandbox: Sandbox, path: str, timeout: float, contains: str | None = None) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            data = sandbox.read_file(path)
            if contains is None or contains.encode() in data:
                return data
            seen = f"it exists but does not contain {contains!r}"
        except SandboxError as exc:
            if "No such file" not in str(exc) and "FileNotFoundError" not in str(exc):
                raise
            seen = "it does not exist"
        if time.monotonic() > deadline:
            raise TimeoutError(f"file {path} not ready within {timeout:g} s: {seen}")
        time.sleep(POLL_S)


def hold_file(sandbox: Sandbox, path: str) -> None:
    """Keep ``path``'s bytes on the host (``tasks.held``) and delete it inside; nothing when it does not exist."""
    try:
        data = sandbox.read_file(path, follow=False, limit=CHECKED_FILE_LIMIT)
    except SandboxError as exc:
        if "No such file" in str(exc) or "FileNotFoundError" in str(exc):
            return
        raise
    hold(sandbox, path, data)
    result = sandbox.run(["rm", "-f", "--", path])
    if result.code != 0:
        raise RuntimeError(f"cannot delete {path} inside the sandbox: {result.stderr.strip()[-200:]}")


def _app_log_tail(sandbox: Sandbox, limit: int = 800) -> str:
    """The end of the newest app log in the sandbox (to explain a failed start)."""
    try:
        tail = sandbox.app_log_tail(limit)
    except SandboxError:
        return ""
    return f"; {tail}" if tail else ""


def run_setup(task: Task, sandbox: Sandbox, steps: list | None = None) -> list[App]:
    """Execute ``task.setup`` (or ``steps``, e.g. ``task.before_check``) in order; returns the apps launched.
    Raises SetupError on the first failure."""
    apps: list[App] = []
    for i, step in enumerate(task.setup if steps is None else steps):
        try:
            if isinstance(step, LaunchStep):
                app = sandbox.launch(step.command(), env=step.env, cwd=step.cwd)
                apps.append(app)
                if step.state_path is not None:
                    wait_ready(sandbox, step.state_path, step.timeout, focus=step.wait_focus)
                if step.wait_window is not None:
                    sandbox.wait_window(step.wait_window, timeout=step.timeout)
            elif isinstance(step, WriteFileStep):
                sandbox.write_file(step.path, step.data(), mode=step.mode)
            elif isinstance(step, RunStep):
                result = sandbox.run(resolve_argv(step.argv), timeout=step.timeout, env=step.env, cwd=step.cwd)
                if step.check and result.code != 0:
                    what = "timed out" if result.code is None else f"exited with code {result.code}"
                    raise RuntimeError(f"{step.argv} {what}: {(result.stderr or result.stdout).strip()[-400:]}")
            elif isinstance(step, SleepStep):
                time.sleep(step.seconds)
            elif isinstance(step, WaitWindowStep):
                sandbox.wait_window(step.title, timeout=step.timeout)
            elif isinstance(step, WaitFileStep):
                wait_file(sandbox, step.path, step.timeout, step.contains)
            elif isinstance(step, HoldFileStep):
                hold_file(sandbox, step.path)
            else:  # pragma: no cover - the model admits no other kind
                raise RuntimeError(f"unknown setup step {step!r}")
        except SetupError:
            raise
        except (SandboxError, TimeoutError, RuntimeError, OSError) as exc:
            hint = _app_log_tail(sandbox) if isinstance(step, LaunchStep) else ""
            raise SetupError(task, i, step.kind, f"{exc}{hint}") from exc
    return apps
