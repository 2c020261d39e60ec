"""Decide whether a task was done: ``check(task, sandbox, final_action) -> Verdict``.

Files are read inside the sandbox (``sandbox.read_file``), commands run inside it (``sandbox.run``),
app state comes from a bundled app's state file. Every reason says what was expected and what was
found. As in OSWorld, an infeasible task passes only when the agent's final action is ``fail``, and a
feasible task fails when the agent gave up with ``fail``.

Call it after the desktop has settled; ``check`` waits for a still screen first unless told not to
(an app writes its state and redraws in the same idle moment, so a still screen means the state
file is current).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sandbox import Sandbox, SandboxError
from tasks.setup import read_state
from tasks.task import (AllOf, AnyOf, AppState, Command, FileContains, FileEquals, FileRegex, Infeasible, Task)
from tools.actions import ACTION_ADAPTER, Action, Fail
from tools.settle import settle as settle_frames

_MISSING = object()


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.passed


def settle(sandbox: Sandbox, quiet: float = 0.15, timeout: float = 3.0, interval: float = 0.02) -> bool:
    """Wait until the screen has not changed for ``quiet`` seconds (a blinking caret aside);
    False if it was still changing when ``timeout`` ran out."""
    return settle_frames(sandbox.screenshot, quiet=quiet, interval=interval, timeout=timeout).stable


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = repr(text) if isinstance(value, str) else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _read_text(sandbox: Sandbox, path: str) -> tuple[str | None, str]:
    """(text, problem): the file's UTF-8 text, or None and why not."""
    try:
        raw = sandbox.read_file(path)
    except SandboxError as exc:
        msg = str(exc)
        if "No such file" in msg or "FileNotFoundError" in msg:
            return None, f"file {path} does not exist"
        if "IsADirectoryError" in msg:
            return None, f"{path} is a folder, not a file"
        return None, f"cannot read {path}: {msg}"
    try:
        return raw.decode("utf-8"), ""
    except UnicodeDecodeError as exc:
        return None, f"file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})"


def _normalize(text: str, how: str, ignore_case: bool) -> str:
    if how == "strip":
        text = text.strip()
    elif how == "blanks":
        text = re.sub(r"\s+", " ", text).strip()
    return text.casefold() if ignore_case else text


def lookup(doc: Any, path: str) -> Any:
    """The value at a dotted path (``items.0.text``) or JSON pointer (``/items/0/text``); _MISSING if absent."""
    if path.startswith("/"):
        parts = [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")] if path != "/" else []
    else:
        parts = [p for p in path.split(".") if p != ""]
    cur = doc
    for part in parts:
        if isinstance(cur, dict):
            if part not in cur:
                return _MISSING
            cur = cur[part]
        elif isinstance(cur, list):
            try:
                index = int(part)
            except ValueError:
                return _MISSING
            if not -len(cur) <= index < len(cur):
                return _MISSING
            cur = cur[index]
        else:
            return _MISSING
    return cur


def _compare(op: str, found: Any, expected: Any) -> bool:
    if op == "exists":
        return found is not _MISSING
    if op == "absent":
        return found is _MISSING
    if found is _MISSING:
        return False
    if op == "equals":
        if isinstance(found, bool) or isinstance(expected, bool):  # True is not 1 here
            return type(found) is type(expected) and found == expected
        return found == expected
    if op == "not_equals":
        return not _compare("equals", found, expected)
    if op == "contains":
        return expected in found if isinstance(found, (str, list, dict)) else False
    if op == "not_contains":
        return expected not in found if isinstance(found, (str, list, dict)) else True
    if op == "matches":
        return isinstance(found, str) and re.search(str(expected), found) is not None
    if op == "in":
        return isinstance(expected, (list, str)) and found in expected
    if op in ("gte", "lte"):
        try:
            return found >= expected if op == "gte" else found <= expected
        except TypeError:
            return False
    if op == "length":
        return isinstance(found, (str, list, dict)) and len(found) == expected
    raise ValueError(f"unknown op {op!r}")


def _eval(c: Any, task: Task, sandbox: Sandbox, final: Action | None) -> Verdict:
    if isinstance(c, Infeasible):
        if isinstance(final, Fail):
            return Verdict(True, "the task is infeasible and the agent answered fail")
        got = "no final action" if final is None else f"final action {final.type!r}"
        return Verdict(False, f"the task is infeasible: expected the agent to answer fail, found {got}")

    if isinstance(c, (AllOf, AnyOf)):
        verdicts = [_eval(sub, task, sandbox, final) for sub in c.checks]
        if isinstance(c, AllOf):
            failed = [v.reason for v in verdicts if not v.passed]
            if failed:
                return Verdict(False, "; ".join(failed))
            return Verdict(True, "; ".join(v.reason for v in verdicts))
        good = [v.reason for v in verdicts if v.passed]
        if good:
            return Verdict(True, good[0])
        return Verdict(False, "none of the alternatives passed: " + " | ".join(v.reason for v in verdicts))

    if isinstance(c, FileEquals):
        text, problem = _read_text(sandbox, c.path)
        if text is None:
            return Verdict(False, problem)
        expected = c.text
        if c.expected_path is not None:
            expected, problem = _read_text(sandbox, c.expected_path)
            if expected is None:
                return Verdict(False, f"expected file: {problem}")
        if _normalize(text, c.normalize, c.ignore_case) == _normalize(expected, c.normalize, c.ignore_case):  # type: ignore[arg-type]
            return Verdict(True, f"{c.path} holds the expected text")
        return Verdict(False, f"{c.path}: expected {_short(expected)}, found {_short(text)}")

    if isinstance(c, FileContains):
        text, problem = _read_text(sandbox, c.path)
        if text is None:
            return Verdict(False, problem)
        hay = text.casefold() if c.ignore_case else text
        fold = (lambda s: s.casefold()) if c.ignore_case else (lambda s: s)
        missing = [t for t in c.text if fold(t) not in hay]
        present = [t for t in c.absent if fold(t) in hay]
        if not missing and not present:
            return Verdict(True, f"{c.path} contains {_short(c.text)}" + (f" and none of {_short(c.absent)}" if c.absent else ""))
        parts = []
        if missing:
            parts.append(f"expected it to contain {_short(missing)}")
        if present:
            parts.append(f"expected it not to contain {_short(present)}")
        return Verdict(False, f"{c.path}: {' and '.join(parts)}; found {_short(text)}")

    if isinstance(c, FileRegex):
        text, problem = _read_text(sandbox, c.path)
        if text is None:
            return Verdict(False, problem)
        flags = (re.I if c.ignore_case else 0) | (re.M if c.multiline else 0)
        match = (re.fullmatch if c.fullmatch else re.search)(c.pattern, text, flags)
        if match:
            return Verdict(True, f"{c.path} matches /{c.pattern}/")
        return Verdict(False, f"{c.path}: expected a match of /{c.pattern}/{' (whole file)' if c.fullmatch else ''}, found {_short(text)}")

    if isinstance(c, AppState):
        path = c.state_file or task.apps()[c.app]  # type: ignore[index]
        try:
            doc = read_state(sandbox, path)
        except SandboxError as exc:
            return Verdict(False, f"cannot read the state of {c.app or path}: {exc}")
        if doc is None:
            return Verdict(False, f"no state file at {path} (is the app running?)")
        found = lookup(doc.get("state", {}), c.path)
        ok = _compare(c.op, found, c.value)
        shown = "nothing (no such path)" if found is _MISSING else _short(found)
        want = c.op if c.op in ("exists", "absent") else f"{c.op} {_short(c.value)}"
        where = f"{c.app or path} state {c.path}"
        return Verdict(ok, f"{where}: expected {want}, found {shown}")

    if isinstance(c, Command):
        result = sandbox.run(c.argv, timeout=c.timeout)
        problems = []
        if c.exit_code is not None and result.code != c.exit_code:
            got = "a time-out" if result.code is None else f"exit code {result.code}"
            problems.append(f"expected exit code {c.exit_code}, found {got}")
        out = result.stdout
        missing = [t for t in c.stdout_contains if t not in out]
        if missing:
            problems.append(f"expected output containing {_short(missing)}")
        present = [t for t in c.stdout_excludes if t in out]
        if present:
            problems.append(f"expected output without {_short(present)}")
        if c.stdout_equals is not None and out.strip() != c.stdout_equals.strip():
            problems.append(f"expected output {_short(c.stdout_equals.strip())}")
        cmd = " ".join(c.argv)
        if problems:
            return Verdict(False, f"command {cmd!r}: {'; '.join(problems)}; found output {_short(out)}"
                           + (f" and errors {_short(result.stderr.strip())}" if result.stderr.strip() else ""))
        return Verdict(True, f"command {cmd!r} gave the expected result")

    raise TypeError(f"unknown checker {c!r}")


def check(task: Task, sandbox: Sandbox, final_action: Action | dict | None = None, *, wait: bool = True) -> Verdict:
    """Judge the desktop after an attempt at ``task``; ``final_action`` is the agent's last action
    (None when the agent did nothing). ``wait`` first waits for a still screen."""
    if isinstance(final_action, dict):
        final_action = ACTION_ADAPTER.validate_python(final_action)
    if isinstance(task.checker, Infeasible):
        return _eval(task.checker, task, sandbox, final_action)
    if isinstance(final_action, Fail):
        why = f" ({final_action.reason})" if final_action.reason else ""
        return Verdict(False, f"the agent answered fail{why}, but the task is feasible")
    if wait:
        settle(sandbox)
    return _eval(task.checker, task, sandbox, final_action)
