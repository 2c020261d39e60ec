"""What the ``launch`` tool may start: the allow-list given at server start, and how each name starts."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tasks.apps import APPS

DEFAULT_APPS: tuple[str, ...] = (*APPS, "xterm")
"""Allowed when ``--allow-app`` is not given: the bundled Tk apps and xterm."""

MAX_ARGS = 32
MAX_ARG_CHARS = 1000
WINDOW_WAIT_S = 10.0


class LaunchRefused(ValueError):
    """An argv that is not on the allow-list or not well formed; the message says which and why."""


@dataclass(frozen=True)
class LaunchPlan:
    """The argv to start inside the sandbox, and the bundled app's state file (None for other programs)."""

    name: str
    argv: list[str]
    state_path: str | None


def check_app_name(name: str) -> str:
    """An ``--allow-app`` value: a bundled app or a program name (no path, no spaces); ValueError otherwise."""
    if not name or "/" in name or any(c.isspace() for c in name) or name.startswith("-") or len(name) > 100:
        raise ValueError(f"--allow-app takes a program name like xterm or a bundled app ({', '.join(APPS)}), "
                         f"got {name!r}")
    return name


def plan_launch(argv: Any, allowed: tuple[str, ...]) -> LaunchPlan:
    """The launch for a client's ``argv`` (its first item an allowed name), or LaunchRefused."""
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise LaunchRefused("argv must be a non-empty list of strings, e.g. [\"xterm\"]")
    name, args = argv[0], argv[1:]
    if name not in allowed:
        raise LaunchRefused(f"{name!r} is not an app this server may launch; allowed: {', '.join(allowed)}")
    if len(args) > MAX_ARGS or any(len(a) > MAX_ARG_CHARS or "\0" in a for a in args):
        raise LaunchRefused(f"at most {MAX_ARGS} arguments of at most {MAX_ARG_CHARS} characters, without NUL")
    if name in APPS:
        from tasks.task import LaunchStep

        step = LaunchStep(kind="launch", app=name, args=args)
        return LaunchPlan(name, step.command(), step.state_path)
    return LaunchPlan(name, [name, *args], None)


def start(sandbox: Any, plan: LaunchPlan) -> str:
    """Start ``plan`` and wait until it shows something (the app's state says ready, or a new window);
    returns what happened in one line. Blocking: call it off the event loop."""
    from tasks.setup import wait_ready

    before = {w.id for w in sandbox.windows()}
    app = sandbox.launch(plan.argv)
    if plan.state_path is not None:
        wait_ready(sandbox, plan.state_path, WINDOW_WAIT_S)
    deadline = time.monotonic() + WINDOW_WAIT_S
    while True:
        new = [w for w in sandbox.windows() if w.id not in before and w.mapped]
        if new:
            return f"launched {plan.name} (pid {app.pid}); its window: {new[0].title!r}"
        if time.monotonic() > deadline:
            return f"launched {plan.name} (pid {app.pid}); no new window within {WINDOW_WAIT_S:g} s"
        time.sleep(0.05)

