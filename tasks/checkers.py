"""Decide whether a task was done: ``check(task, sandbox, final_action) -> Verdict``.

Each checker kind is a model (what a task file may say) with its own ``evaluate`` (how it judges).
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
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import Field, field_validator, model_validator

from sandbox import Sandbox, SandboxError
from tasks.schema import MAX_TIMEOUT_S, NAME_PATTERN, TaskModel, as_list
from tools.actions import ACTION_ADAPTER, Action, Fail
from tools.settle import settle as settle_frames

if TYPE_CHECKING:
    from tasks.task import Task

_MISSING = object()


@dataclass(frozen=True)
class Verdict:
    """A checker's answer: passed or not, and a reason naming what was expected and what was found."""

    passed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.passed


@dataclass(frozen=True)
class CheckContext:
    """What a checker judges: the task, its sandbox, and the agent's final action (None: it did nothing)."""

    task: "Task"
    sandbox: Sandbox
    final: Action | None


def settle(sandbox: Sandbox, quiet: float = 0.15, timeout: float = 3.0, interval: float = 0.02) -> bool:
    """Wait until the screen has not changed for ``quiet`` seconds (a blinking caret aside);
    False if it was still changing when ``timeout`` ran out."""
    return settle_frames(sandbox.screenshot, quiet=quiet, interval=interval, timeout=timeout).stable


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = repr(text) if isinstance(value, str) else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


CHECKED_FILE_LIMIT = 4 << 20
"""The largest file a checker reads out of the sandbox (the agent could have written anything there)."""


def _read_text(sandbox: Sandbox, path: str) -> tuple[str | None, str]:
    """(text, problem): the file's UTF-8 text, or None and why not. The file is hostile: a regular file
    only (no symbolic link, FIFO or device), at most ``CHECKED_FILE_LIMIT`` bytes."""
    try:
        raw = sandbox.read_file(path, follow=False, limit=CHECKED_FILE_LIMIT)
    except SandboxError as exc:
        msg = str(exc)
        if "No such file" in msg or "FileNotFoundError" in msg:
            return None, f"file {path} does not exist"
        if "IsADirectoryError" in msg:
            return None, f"{path} is a folder, not a file"
        return None, f"cannot read {path}: {msg.removeprefix('read_file failed: ValueError: ')}"
    return _decoded(raw, f"file {path}")


def _decoded(raw: bytes, what: str) -> tuple[str | None, str]:
    try:
        return raw.decode("utf-8"), ""
    except UnicodeDecodeError as exc:
        return None, f"{what} is not UTF-8 text ({exc.reason} at byte {exc.start})"


def _expected_text(ctx: "CheckContext", path: str | None, source: str | None) -> tuple[str | None, str]:
    """The expected text of a comparison: a host file (``source``), the bytes the setup held on the host
    for ``path`` (``tasks.held``), else ``path`` read inside the sandbox (written after the agent ended)."""
    from tasks.held import held

    if source is not None:
        try:
            with open(source, "rb") as f:
                raw = f.read(CHECKED_FILE_LIMIT + 1)
        except OSError as exc:
            return None, f"cannot read {source}: {exc.strerror}"
        if len(raw) > CHECKED_FILE_LIMIT:
            return None, f"{source} is larger than {CHECKED_FILE_LIMIT} bytes"
        return _decoded(raw, f"file {source}")
    assert path is not None
    kept = held(ctx.sandbox, path)
    return _decoded(kept, f"file {path}") if kept is not None else _read_text(ctx.sandbox, path)


def _normalize(text: str, how: str, ignore_case: bool) -> str:
    if how == "strip":
        text = text.strip()
    elif how == "blanks":
        text = re.sub(r"\s+", " ", text).strip()
    elif how in ("lines", "stripped_lines"):  # line by line (\r\n or \n, a last newline or not)
        text = "\n".join(line.strip() if how == "stripped_lines" else line for line in text.splitlines())
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


# -- the checkers ---------------------------------------------------------------------------------------
class _FileChecker(TaskModel):
    """A checker that judges the UTF-8 text of one sandbox file (a missing or unreadable file fails)."""

    path: str

    def evaluate(self, ctx: CheckContext) -> Verdict:
        """Read the file, then judge its text."""
        text, problem = _read_text(ctx.sandbox, self.path)
        if text is None:
            return Verdict(False, problem)
        return self.judge(text, ctx)

    def judge(self, text: str, ctx: CheckContext) -> Verdict:
        """The verdict on the file's text."""
        raise NotImplementedError


class FileEquals(_FileChecker):
    """The file's text equals ``text``, or the text of another file: ``expected_path`` inside the sandbox
    (held on the host when a ``hold_file`` setup step took it out before the agent started), or
    ``expected_source`` on the host (an OSWorld gold file from the local cache)."""

    kind: Literal["file_equals"]
    text: str | None = None
    expected_path: str | None = None
    expected_source: str | None = None
    # strip: ends; blanks: every run of whitespace; lines: line by line; stripped_lines: each line stripped
    normalize: Literal["none", "strip", "blanks", "lines", "stripped_lines"] = "none"
    ignore_case: bool = False

    @model_validator(mode="after")
    def _one_expected(self) -> "FileEquals":
        if sum(v is not None for v in (self.text, self.expected_path, self.expected_source)) != 1:
            raise ValueError("give exactly one of 'text', 'expected_path' or 'expected_source'")
        return self

    def judge(self, text: str, ctx: CheckContext) -> Verdict:
        """Compare the file with the expected text, after the chosen normalization."""
        expected = self.text
        if expected is None:
            expected, problem = _expected_text(ctx, self.expected_path, self.expected_source)
            if expected is None:
                return Verdict(False, f"expected file: {problem}")
        if _normalize(text, self.normalize, self.ignore_case) == _normalize(expected, self.normalize, self.ignore_case):
            return Verdict(True, f"{self.path} holds the expected text")
        return Verdict(False, f"{self.path}: expected {_short(expected)}, found {_short(text)}")


class FileContains(_FileChecker):
    """The file exists, contains every string of ``text`` and none of ``absent``."""

    kind: Literal["file_contains"]
    text: list[str] = []
    absent: list[str] = []
    ignore_case: bool = False

    _list = field_validator("text", "absent", mode="before")(classmethod(lambda cls, v: as_list(v)))

    @model_validator(mode="after")
    def _something(self) -> "FileContains":
        if not self.text and not self.absent:
            raise ValueError("give the strings the file must contain ('text') and/or must not contain ('absent')")
        return self

    def judge(self, text: str, ctx: CheckContext) -> Verdict:
        """Look for every wanted and every unwanted string in the file."""
        hay = text.casefold() if self.ignore_case else text
        fold = (lambda s: s.casefold()) if self.ignore_case else (lambda s: s)
        missing = [t for t in self.text if fold(t) not in hay]
        present = [t for t in self.absent if fold(t) in hay]
        if not missing and not present:
            none_of = f" and none of {_short(self.absent)}" if self.absent else ""
            return Verdict(True, f"{self.path} contains {_short(self.text)}{none_of}")
        parts = []
        if missing:
            parts.append(f"expected it to contain {_short(missing)}")
        if present:
            parts.append(f"expected it not to contain {_short(present)}")
        return Verdict(False, f"{self.path}: {' and '.join(parts)}; found {_short(text)}")


class FileRegex(_FileChecker):
    """``pattern`` (Python regular expression) is found in the file (``fullmatch``: matches all of it)."""

    kind: Literal["file_regex"]
    pattern: str
    fullmatch: bool = False
    ignore_case: bool = False
    multiline: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return v

    def judge(self, text: str, ctx: CheckContext) -> Verdict:
        """Search (or fully match) the pattern in the file."""
        flags = (re.I if self.ignore_case else 0) | (re.M if self.multiline else 0)
        match = (re.fullmatch if self.fullmatch else re.search)(self.pattern, text, flags)
        if match:
            return Verdict(True, f"{self.path} matches /{self.pattern}/")
        whole = " (whole file)" if self.fullmatch else ""
        return Verdict(False, f"{self.path}: expected a match of /{self.pattern}/{whole}, found {_short(text)}")


Op = Literal["equals", "not_equals", "contains", "not_contains", "matches", "in", "gte", "lte", "length", "exists", "absent"]


class AppState(TaskModel):
    """A value in a bundled app's state file: ``path`` is dotted (``submissions.0.name``) or a JSON
    pointer (``/submissions/0/name``), looked up under ``state``; ``op`` compares it with ``value``."""

    kind: Literal["app_state"]
    app: str | None = Field(default=None, pattern=NAME_PATTERN)
    state_file: str | None = None
    path: str
    op: Op = "equals"
    value: Any = None

    @model_validator(mode="after")
    def _where(self) -> "AppState":
        if (self.app is None) == (self.state_file is None):
            raise ValueError("give exactly one of 'app' (name of a launched bundled app) or 'state_file'")
        if self.op not in ("exists", "absent") and "value" not in self.model_fields_set:
            raise ValueError(f"op {self.op!r} needs a 'value'")
        if self.op == "matches":
            try:
                re.compile(str(self.value))
            except re.error as exc:
                raise ValueError(f"value is not a valid regular expression: {exc}") from None
        if self.op == "length" and not (isinstance(self.value, int) and not isinstance(self.value, bool)):
            raise ValueError(f"op 'length' needs an integer value, got {self.value!r}")
        return self

    def evaluate(self, ctx: CheckContext) -> Verdict:
        """Read the app's state document and compare the value at ``path``."""
        from tasks.setup import read_state  # tasks.setup imports tasks.task, which imports this module

        path = self.state_file or ctx.task.apps()[self.app]  # type: ignore[index]
        try:
            doc = read_state(ctx.sandbox, path)
        except SandboxError as exc:
            return Verdict(False, f"cannot read the state of {self.app or path}: {exc}")
        if doc is None:
            return Verdict(False, f"no state file at {path} (is the app running?)")
        found = lookup(doc.get("state", {}), self.path)
        ok = _compare(self.op, found, self.value)
        shown = "nothing (no such path)" if found is _MISSING else _short(found)
        want = self.op if self.op in ("exists", "absent") else f"{self.op} {_short(self.value)}"
        return Verdict(ok, f"{self.app or path} state {self.path}: expected {want}, found {shown}")


class Command(TaskModel):
    """Run ``argv`` inside the sandbox: the exit code and standard output must match."""

    kind: Literal["command"]
    argv: list[str] = Field(min_length=1)
    exit_code: int | None = 0
    stdout_contains: list[str] = []
    stdout_excludes: list[str] = []
    stdout_equals: str | None = None  # compared after stripping surrounding whitespace
    timeout: float = Field(default=10.0, gt=0, le=MAX_TIMEOUT_S)
    cwd: str | None = None  # the folder it runs in (OSWorld's commands run in the home)

    _list = field_validator("stdout_contains", "stdout_excludes", mode="before")(classmethod(lambda cls, v: as_list(v)))

    def evaluate(self, ctx: CheckContext) -> Verdict:
        """Run the command in the sandbox and compare its exit code and output."""
        result = ctx.sandbox.run(self.argv, timeout=self.timeout, cwd=self.cwd)
        problems = []
        if self.exit_code is not None and result.code != self.exit_code:
            got = "a time-out" if result.code is None else f"exit code {result.code}"
            problems.append(f"expected exit code {self.exit_code}, found {got}")
        out = result.stdout
        missing = [t for t in self.stdout_contains if t not in out]
        if missing:
            problems.append(f"expected output containing {_short(missing)}")
        present = [t for t in self.stdout_excludes if t in out]
        if present:
            problems.append(f"expected output without {_short(present)}")
        if self.stdout_equals is not None and out.strip() != self.stdout_equals.strip():
            problems.append(f"expected output {_short(self.stdout_equals.strip())}")
        cmd = " ".join(self.argv)
        if not problems:
            return Verdict(True, f"command {cmd!r} gave the expected result")
        errors = f" and errors {_short(result.stderr.strip())}" if result.stderr.strip() else ""
        return Verdict(False, f"command {cmd!r}: {'; '.join(problems)}; found output {_short(out)}{errors}")


class JsonIncludes(_FileChecker):
    """The file is JSON whose top-level keys in ``values`` hold exactly those values (others may be there
    too): OSWorld's ``check_json_settings``."""

    kind: Literal["json_includes"]
    values: dict[str, Any]

    def judge(self, text: str, ctx: CheckContext) -> Verdict:
        """Parse the file and compare the named keys."""
        try:
            doc = json.loads(text)
        except ValueError as exc:
            return Verdict(False, f"{self.path} is not JSON ({str(exc)[:80]})")
        if not isinstance(doc, dict):
            return Verdict(False, f"{self.path}: expected a JSON object, found {_short(doc)}")
        wrong = {k: doc.get(k, "(missing)") for k, v in self.values.items() if k not in doc or doc[k] != v}
        if not wrong:
            return Verdict(True, f"{self.path} holds {_short(self.values)}")
        return Verdict(False, f"{self.path}: expected {_short(self.values)}, found {_short(wrong)}")


TERMINAL_DUMP = "/tmp/screenact/terminal-"
"""Where the sandbox's "Terminal" (ctrl+alt+t, sandbox/data/openbox-rc.xml) writes its text on ctrl+shift+F12
(xterm's print-immediate; the name gets a time stamp)."""


def terminal_text(sandbox: Sandbox, title: str = "Terminal", timeout: float = 3.0) -> tuple[str | None, str]:
    """(text, problem): what the terminal window titled ``title`` shows, scroll-back included, with the
    trailing blanks stripped (OSWorld's ``vm_terminal_output``: the terminal's text, ``rstrip``-ed)."""
    folder, prefix = TERMINAL_DUMP.rsplit("/", 1)
    find = ["find", folder, "-maxdepth", "1", "-name", f"{prefix}*"]
    if not any(title in w.title for w in sandbox.windows()):
        return None, f"no terminal window titled {title!r} is open"
    sandbox.run(["mkdir", "-p", folder])
    sandbox.run([*find, "-delete"])  # an old dump (or one the agent made) is never read
    sandbox.run(["xdotool", "search", "--name", title, "windowactivate", "--sync"], timeout=5)
    sandbox.act({"type": "key", "keys": ["ctrl", "shift", "f12"]})
    deadline = time.monotonic() + timeout
    while not (names := sandbox.run([*find, "-type", "f"]).stdout.split()):
        if time.monotonic() > deadline:
            return None, f"the terminal window {title!r} did not write its text (is it the ctrl+alt+t terminal?)"
        time.sleep(0.05)
    text, problem = _read_text(sandbox, sorted(names)[-1])
    return (text.rstrip(), "") if text is not None else (None, problem)


class TerminalOutput(TaskModel):
    """The text of the terminal window (ctrl+alt+t's, scroll-back included) contains every string of
    ``contains`` and none of ``excludes`` (OSWorld's ``vm_terminal_output`` getter)."""

    kind: Literal["terminal_output"]
    contains: list[str] = []
    excludes: list[str] = []
    title: str = Field(default="Terminal", min_length=1)

    _list = field_validator("contains", "excludes", mode="before")(classmethod(lambda cls, v: as_list(v)))

    def evaluate(self, ctx: CheckContext) -> Verdict:
        """Have the terminal write its text, then look for the strings."""
        text, problem = terminal_text(ctx.sandbox, self.title)
        if text is None:
            return Verdict(False, problem)
        missing = [t for t in self.contains if t not in text]
        present = [t for t in self.excludes if t in text]
        if not missing and not present:
            return Verdict(True, f"the terminal shows {_short(self.contains)}")
        parts = ([f"expected it to show {_short(missing)}"] if missing else []) + \
                ([f"expected it not to show {_short(present)}"] if present else [])
        return Verdict(False, f"terminal: {' and '.join(parts)}; it shows {_short(text[-400:])}")


class DirEntries(TaskModel):
    """The names directly inside the folder ``path`` are exactly ``names`` (OSWorld's ``list_directory``
    getter judged by ``check_moved_jpgs``)."""

    kind: Literal["dir_entries"]
    path: str
    names: list[str]

    def evaluate(self, ctx: CheckContext) -> Verdict:
        """List the folder inside the sandbox and compare the names, in any order."""
        listed = ctx.sandbox.run(["find", self.path, "-mindepth", "1", "-maxdepth", "1", "-printf", "%f\\0"])
        if listed.code != 0:
            return Verdict(False, f"cannot list {self.path}: {_short(listed.stderr.strip())}")
        found = [n for n in listed.stdout.split("\0") if n]
        if sorted(found) == sorted(self.names):
            return Verdict(True, f"{self.path} holds exactly {_short(sorted(self.names))}")
        return Verdict(False, f"{self.path}: expected exactly {_short(sorted(self.names))}, found {_short(sorted(found))}")


class Infeasible(TaskModel):
    """The task cannot be done: passes only when the agent's final action is ``fail``."""

    kind: Literal["infeasible"]

    def evaluate(self, ctx: CheckContext) -> Verdict:
        """Pass when the agent answered fail."""
        if isinstance(ctx.final, Fail):
            return Verdict(True, "the task is infeasible and the agent answered fail")
        got = "no final action" if ctx.final is None else f"final action {ctx.final.type!r}"
        return Verdict(False, f"the task is infeasible: expected the agent to answer fail, found {got}")


class AllOf(TaskModel):
    """Every checker passes."""

    kind: Literal["all"]
    checks: list["Checker"] = Field(min_length=1)

    def evaluate(self, ctx: CheckContext) -> Verdict:
        """Pass when every check passes; the reasons of the failed ones otherwise."""
        verdicts = [c.evaluate(ctx) for c in self.checks]
        failed = [v.reason for v in verdicts if not v.passed]
        if failed:
            return Verdict(False, "; ".join(failed))
        return Verdict(True, "; ".join(v.reason for v in verdicts))


class AnyOf(TaskModel):
    """At least one checker passes."""

    kind: Literal["any"]
    checks: list["Checker"] = Field(min_length=1)

    def evaluate(self, ctx: CheckContext) -> Verdict:
        """Pass with the first passing check's reason; every reason otherwise."""
        verdicts = [c.evaluate(ctx) for c in self.checks]
        good = [v.reason for v in verdicts if v.passed]
        if good:
            return Verdict(True, good[0])
        return Verdict(False, "none of the alternatives passed: " + " | ".join(v.reason for v in verdicts))


Checker = Annotated[Union[FileEquals, FileContains, FileRegex, JsonIncludes, AppState, Command, TerminalOutput,
                          DirEntries, Infeasible, AllOf, AnyOf],
                    Field(discriminator="kind")]
AllOf.model_rebuild()
AnyOf.model_rebuild()


def iter_checkers(checker: Any):
    """The checker and every checker nested in it."""
    yield checker
    if isinstance(checker, (AllOf, AnyOf)):
        for c in checker.checks:
            yield from iter_checkers(c)


def check(task: "Task", sandbox: Sandbox, final_action: Action | dict | None = None, *, wait: bool = True) -> Verdict:
    """Judge the desktop after an attempt at ``task``; ``final_action`` is the agent's last action
    (None when the agent did nothing). ``wait`` first waits for a still screen."""
    if isinstance(final_action, dict):
        final_action = ACTION_ADAPTER.validate_python(final_action)
    ctx = CheckContext(task, sandbox, final_action)
    if isinstance(task.checker, Infeasible):
        return task.checker.evaluate(ctx)
    if isinstance(final_action, Fail):
        why = f" ({final_action.reason})" if final_action.reason else ""
        return Verdict(False, f"the agent answered fail{why}, but the task is feasible")
    if wait:
        settle(sandbox)
    return task.checker.evaluate(ctx)


__all__ = ["AllOf", "AnyOf", "AppState", "CheckContext", "Checker", "Command", "DirEntries", "FileContains", "FileEquals",
           "FileRegex", "Infeasible", "JsonIncludes", "TerminalOutput", "Verdict", "check", "iter_checkers", "lookup", "settle",
           "terminal_text"]
