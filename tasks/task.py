"""The task model and its loader.

A task file (JSON or YAML) holds one task, or a list of tasks::

    id: form-register-alice
    instruction: Register Alice (alice@example.com) from Japan on the Pro plan.
    steps: ["click the Name field", "type 'Alice'", ...]          # scripted mode (optional)
    setup:                                                          # run before the agent starts
      - {kind: launch, app: form}                                   # a bundled app: waits for its state file
      - {kind: launch, argv: [xterm, -title, Terminal], wait_window: Terminal}
      - {kind: write_file, path: /tmp/home/a.txt, content: "hi\n"}
      - {kind: run, argv: [mkdir, -p, /tmp/home/out]}
      - {kind: wait_file, path: /tmp/xterm.ready}
      - {kind: hold_file, path: /tmp/expected.txt}                  # kept on the host, deleted inside
    checker: {kind: app_state, app: form, path: submissions.0.name, op: equals, value: Alice}
    solution:                                                       # a reference solution (actions)
      - {type: click, target: "form:name_entry"}                    # a widget of a bundled app …
      - {type: type, text: Alice}
      - {type: click, x: 200, y: 300}                               # … or screen pixels
    max_steps: 15
    screen: {width: 1280, height: 800}
    tags: [form, easy]
    lang: en

Everything is validated when the file is loaded; unknown fields are errors. A bad file raises
:class:`TaskFileError` naming the file, the field and the value, and nothing runs.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (AfterValidator, ConfigDict, Discriminator, Field, PrivateAttr, Tag, TypeAdapter, ValidationError,
                      field_validator, model_validator)

from tasks.checkers import AppState, Checker, Infeasible, iter_checkers
from tasks.schema import MAX_TIMEOUT_S, NAME_PATTERN, TaskModel
from tasks.steps import StepParseError, parse_step
from tools.actions import TERMINAL_ACTIONS, Action, Button
from tools.frame import SCREEN_SIDE

STATE_DIR = "/tmp/screenact"
"""Where bundled apps write their state files inside the sandbox unless a launch step says otherwise."""
BUNDLED_APPS = ("form", "editor", "todo", "calc", "settings")
MAX_SLEEP_S = 10.0

_TARGET = re.compile(r"^([a-z][a-z0-9_]*):([A-Za-z0-9_.-]+)$")


class TaskFileError(ValueError):
    """A task file that cannot be used; the message names the file, the field and the value."""

    def __init__(self, path: str | Path | None, message: str) -> None:
        self.path = str(path) if path is not None else None
        super().__init__(f"{path}: {message}" if path is not None else message)


# -- setup steps --------------------------------------------------------------------------------------
class LaunchStep(TaskModel):
    """Start a program inside the sandbox and wait until it is ready.

    ``app`` starts a bundled app (``python -m tasks.apps.<app> --state <state> <args…>``) and waits
    until its state file says ``ready`` (and, unless ``wait_focus`` is false, that it has the keyboard
    focus, so that typing reaches it without a click); ``argv`` starts any program (``"{python}"`` stands for the
    project's interpreter) and waits for ``wait_window`` if given.
    """

    kind: Literal["launch"]
    app: Literal["form", "editor", "todo", "calc", "settings"] | None = None
    args: list[str] = []
    argv: list[str] | None = Field(default=None, min_length=1)
    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    state: str | None = None
    env: dict[str, str] | None = None
    cwd: str | None = None
    wait_window: str | None = Field(default=None, min_length=1)
    wait_focus: bool = True  # bundled apps: also wait until the app has the keyboard focus
    timeout: float = Field(default=15.0, gt=0, le=MAX_TIMEOUT_S)

    @model_validator(mode="after")
    def _one_program(self) -> "LaunchStep":
        if (self.app is None) == (self.argv is None):
            raise ValueError("give exactly one of 'app' (a bundled app) or 'argv' (any program)")
        if self.argv is not None and (self.args or self.state):
            raise ValueError("'args' and 'state' belong to bundled apps ('app'); put arguments in 'argv'")
        if self.state is not None and not self.state.startswith("/"):
            raise ValueError(f"'state' must be an absolute path inside the sandbox, got {self.state!r}")
        return self

    @property
    def target_name(self) -> str | None:
        """The name widget targets and app_state checkers use for this app (bundled apps only)."""
        return (self.name or self.app) if self.app else None

    @property
    def state_path(self) -> str | None:
        if self.app is None:
            return None
        return self.state or f"{STATE_DIR}/{self.target_name}.json"

    def command(self) -> list[str]:
        """The argv to start, with the interpreter filled in."""
        if self.app is not None:
            return [sys.executable, "-m", f"tasks.apps.{self.app}", "--state", self.state_path, *self.args]  # type: ignore[list-item]
        return resolve_argv(self.argv or [])


def resolve_argv(argv: list[str]) -> list[str]:
    """``argv`` with ``"{python}"`` replaced by the project's interpreter (it has pyautogui, bound to the display)."""
    return [sys.executable if a == "{python}" else a for a in argv]


def absolute_path(v: str) -> str:
    """``v`` when it is an absolute path inside the sandbox; ValueError otherwise."""
    if not v.startswith("/"):
        raise ValueError(f"must be an absolute path inside the sandbox, got {v!r}")
    return v


class WriteFileStep(TaskModel):
    """Write a file inside the sandbox (folders are created): UTF-8 ``content``, or the bytes of ``source``, a
    file on the host (an OSWorld download from the local cache)."""

    kind: Literal["write_file"]
    path: str
    content: str | None = None
    source: str | None = None
    mode: int = 0o644

    @model_validator(mode="after")
    def _one_content(self) -> "WriteFileStep":
        if (self.content is None) == (self.source is None):
            raise ValueError("give exactly one of 'content' (text) or 'source' (a host file to copy in)")
        return self

    def data(self) -> bytes:
        """The bytes to write."""
        if self.source is not None:
            return Path(self.source).read_bytes()
        return (self.content or "").encode("utf-8")

    @field_validator("path")
    @classmethod
    def _abs(cls, v: str) -> str:
        return absolute_path(v)

    @field_validator("mode", mode="before")
    @classmethod
    def _octal(cls, v: Any) -> Any:
        if isinstance(v, str):
            try:
                return int(v, 8)
            except ValueError:
                raise ValueError(f"mode must be an octal string like '0644' or an integer, got {v!r}") from None
        return v


class RunStep(TaskModel):
    """Run a command inside the sandbox and wait for it (a non-zero exit fails the setup if ``check``)."""

    kind: Literal["run"]
    argv: list[str] = Field(min_length=1)
    timeout: float = Field(default=30.0, gt=0, le=MAX_TIMEOUT_S)
    check: bool = True
    env: dict[str, str] | None = None
    cwd: str | None = None


class SleepStep(TaskModel):
    """Wait a fixed time — only where no condition can be observed."""

    kind: Literal["sleep"]
    seconds: float = Field(gt=0, le=MAX_SLEEP_S)


class WaitWindowStep(TaskModel):
    """Wait until a window whose title contains ``title`` is on screen."""

    kind: Literal["wait_window"]
    title: str = Field(min_length=1)
    timeout: float = Field(default=15.0, gt=0, le=MAX_TIMEOUT_S)


class WaitFileStep(TaskModel):
    """Wait until a file exists inside the sandbox (and contains ``contains``, if given)."""

    kind: Literal["wait_file"]
    path: str
    contains: str | None = None
    timeout: float = Field(default=15.0, gt=0, le=MAX_TIMEOUT_S)


class HoldFileStep(TaskModel):
    """Take a file out of the sandbox before the agent starts: its bytes are kept on the host for the checker
    (``tasks.held``) and it is deleted inside, so the agent cannot read a checker's expected file. A file
    that does not exist (yet) is left alone; the checker then reads it inside, after the agent."""

    kind: Literal["hold_file"]
    path: str

    @field_validator("path")
    @classmethod
    def _abs(cls, v: str) -> str:
        return absolute_path(v)


SetupStep = Annotated[Union[LaunchStep, WriteFileStep, RunStep, SleepStep, WaitWindowStep, WaitFileStep,
                            HoldFileStep],
                      Field(discriminator="kind")]


# -- reference solutions --------------------------------------------------------------------------------
def _target(v: str) -> str:
    if not _TARGET.match(v):
        raise ValueError(f"a target is '<app>:<widget id>' (e.g. 'form:submit_button'), got {v!r}")
    return v


class _Targeted(TaskModel):
    offset: tuple[float, float] = (0.0, 0.0)  # pixels from the widget's centre

    @field_validator("target", check_fields=False)
    @classmethod
    def _t(cls, v: str) -> str:
        return _target(v)


class TargetClick(_Targeted):
    """Click the centre of a widget named ``app:widget_id``."""

    type: Literal["click"]
    target: str
    button: Button = "left"
    clicks: int = Field(default=1, ge=1, le=3)


class TargetMove(_Targeted):
    type: Literal["move"]
    target: str


class TargetScroll(_Targeted):
    """Scroll with the pointer over a widget (``dy`` > 0 scrolls up)."""

    type: Literal["scroll"]
    target: str
    dx: int = 0
    dy: int = 0


class TargetDrag(TaskModel):
    """Drag from the centre of widget ``from`` to the centre of widget ``to``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    type: Literal["drag"]
    source: str = Field(alias="from")
    to: str
    button: Button = "left"

    _t = field_validator("source", "to")(classmethod(lambda cls, v: _target(v)))


class WaitFor(TaskModel):
    """Wait (no action) until a widget is on screen — and has the keyboard focus, if ``focused``."""

    type: Literal["wait_for"]
    target: str
    focused: bool = False
    timeout: float = Field(default=10.0, gt=0, le=MAX_TIMEOUT_S)

    _t = field_validator("target")(classmethod(lambda cls, v: _target(v)))


def _solution_tag(v: Any) -> str:
    if isinstance(v, dict):
        kind = v.get("type")
        if kind == "wait_for":
            return "wait_for"
        if "target" in v or "from" in v or "source" in v:
            return f"target_{kind}"
        return "action"
    if isinstance(v, (TargetClick, TargetMove, TargetScroll, TargetDrag, WaitFor)):
        return "wait_for" if isinstance(v, WaitFor) else f"target_{v.type}"
    return "action"


SolutionStep = Annotated[
    Union[
        Annotated[Action, Tag("action")],
        Annotated[TargetClick, Tag("target_click")],
        Annotated[TargetMove, Tag("target_move")],
        Annotated[TargetScroll, Tag("target_scroll")],
        Annotated[TargetDrag, Tag("target_drag")],
        Annotated[WaitFor, Tag("wait_for")],
    ],
    Discriminator(_solution_tag, custom_error_type="solution_step",
                  custom_error_message="a solution step is an action, or a click/move/scroll with 'target', "
                                       "a drag with 'from' and 'to', or wait_for"),
]


def solution_targets(step: Any) -> list[str]:
    """The ``app:widget`` names a solution step refers to."""
    if isinstance(step, TargetDrag):
        return [step.source, step.to]
    if isinstance(step, (TargetClick, TargetMove, TargetScroll, WaitFor)):
        return [step.target]
    return []


def _check_step(line: str) -> str:
    try:
        parse_step(line)
    except StepParseError as exc:
        raise ValueError(str(exc)) from None
    return line


class _RefError(ValueError):
    """A reference between fields that does not resolve; carries the field and the value."""

    def __init__(self, loc: str, message: str, value: Any) -> None:
        super().__init__(f"field '{loc}': {message} (value: {_short(value)})")


# -- the task -----------------------------------------------------------------------------------------
class Screen(TaskModel):
    """The desktop's size in pixels, ``{width: 1280, height: 800}``; each side in ``tools.frame.SCREEN_SIDE``."""

    width: int = Field(default=1280, ge=SCREEN_SIDE[0], le=SCREEN_SIDE[1])
    height: int = Field(default=800, ge=SCREEN_SIDE[0], le=SCREEN_SIDE[1])

    @model_validator(mode="before")
    @classmethod
    def _a_mapping(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(f"screen must be a mapping like {{width: 1280, height: 800}} "
                             f"({SCREEN_SIDE[0]}..{SCREEN_SIDE[1]} each)")
        return data


class Task(TaskModel):
    """One GUI task: what to do (``instruction``, optionally ``steps``), how to prepare the desktop
    (``setup``), how to decide success (``checker``) and a reference ``solution``."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=120)
    instruction: str = Field(min_length=1)
    steps: list[Annotated[str, AfterValidator(_check_step)]] | None = None
    setup: list[SetupStep] = []
    checker: Checker
    solution: list[SolutionStep] = []
    max_steps: int = Field(default=15, ge=1, le=200)
    screen: Screen = Screen()
    tags: list[str] = []
    lang: str = Field(default="en", pattern=r"^[a-z]{2}(-[A-Za-z]{2,4})?$")
    home: str | None = Field(default=None, pattern=r"^/[A-Za-z0-9_./-]+$")  # the desktop's HOME, if not the sandbox's
    before_check: list[SetupStep] = []  # steps run after the agent ends, before the checker (OSWorld's postconfig)

    _path: str | None = PrivateAttr(default=None)

    @field_validator("steps")
    @classmethod
    def _steps_nonempty(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and not v:
            raise ValueError("'steps' is empty; leave it out for an autonomous-only task")
        return v

    @model_validator(mode="after")
    def _references(self) -> "Task":
        apps = self.apps()
        names = [s.target_name for s in self.setup if isinstance(s, LaunchStep) and s.target_name]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            i = max(j for j, s in enumerate(self.setup) if isinstance(s, LaunchStep) and s.target_name == dupes[0])
            raise _RefError(f"setup[{i}].name", "another launch step already uses this name; give one of them "
                            "another 'name'", dupes[0])
        for i, line in enumerate((self.steps or [])[:-1]):
            if parse_step(line).kind in ("done", "fail"):
                raise _RefError(f"steps[{i}]", "done and fail end a script: only the last step may be one", line)
        for i, step in enumerate(self.solution[:-1]):
            if isinstance(step, TERMINAL_ACTIONS):
                raise _RefError(f"solution[{i}].type", "done and fail end a solution: only the last step may be one",
                                step.type)
        launched = ", ".join(sorted(apps)) or "none"
        for i, step in enumerate(self.solution):
            for field, target in zip(("from", "to") if isinstance(step, TargetDrag) else ("target",),
                                     solution_targets(step)):
                app = target.split(":", 1)[0]
                if app not in apps:
                    raise _RefError(f"solution[{i}].{field}", f"no launch step starts an app named {app!r} "
                                    f"(launched: {launched})", target)
        for c in iter_checkers(self.checker):
            if isinstance(c, AppState) and c.app is not None and c.app not in apps:
                raise _RefError("checker.app", f"no launch step starts an app named {c.app!r} (launched: {launched})", c.app)
        return self

    # -- helpers ----------------------------------------------------------------------------------
    def apps(self) -> dict[str, str]:
        """Name → state file of every bundled app the setup launches."""
        return {s.target_name: s.state_path for s in self.setup  # type: ignore[misc]
                if isinstance(s, LaunchStep) and s.target_name}

    def parsed_steps(self):
        """The scripted steps, parsed (``tasks.steps.Step``), or None for an autonomous-only task."""
        return None if self.steps is None else [parse_step(s) for s in self.steps]

    @property
    def infeasible(self) -> bool:
        return isinstance(self.checker, Infeasible)

    @property
    def path(self) -> str | None:
        """The file the task was loaded from."""
        return self._path


TASK_ADAPTER: TypeAdapter[Task] = TypeAdapter(Task)


# -- loading ------------------------------------------------------------------------------------------
def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_validation_error(exc: ValidationError, limit: int = 6) -> str:
    """One line per problem: ``field 'setup[0].argv': <message> (value: <value>)``."""
    lines = []
    for err in exc.errors()[:limit]:
        msg = err["msg"].removeprefix("Value error, ")
        if not err["loc"] and msg.startswith("field '"):  # a cross-field check that names its own field
            lines.append(msg)
            continue
        value = "missing" if err["type"] == "missing" else _short(err.get("input"))
        lines.append(f"field '{_loc(err['loc'])}': {msg} (value: {value})")
    more = len(exc.errors()) - limit
    if more > 0:
        lines.append(f"… and {more} more")
    return "; ".join(lines)


def read_document(path: str | Path) -> Any:
    """Parse a JSON or YAML file (chosen by its suffix) into plain data; TaskFileError on syntax errors."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaskFileError(path, "no such file") from None
    except UnicodeDecodeError as exc:
        raise TaskFileError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise TaskFileError(path, f"cannot read: {exc.strerror}") from None
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise TaskFileError(path, f"JSON syntax error at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise TaskFileError(path, f"YAML syntax error{where}: {problem}") from None
    raise TaskFileError(path, f"unknown task file type {suffix!r}; use .json, .yaml or .yml")


def task_from_data(data: Any, path: str | Path | None = None, index: int | None = None) -> Task:
    """Validate one task from plain data; TaskFileError names the file, the field and the value."""
    where = f"task [{index}] " if index is not None else ""
    if not isinstance(data, dict):
        raise TaskFileError(path, f"{where}expected a mapping of task fields, got {type(data).__name__} (value: {_short(data)})")
    try:
        task = TASK_ADAPTER.validate_python(data)
    except ValidationError as exc:
        ident = data.get("id")
        label = f"task {ident!r} " if isinstance(ident, str) else where
        raise TaskFileError(path, f"{label}{format_validation_error(exc)}") from None
    task._path = str(path) if path is not None else None
    return task


def load_tasks_from_file(path: str | Path) -> list[Task]:
    """Every task in one file (a mapping is one task; a list holds several)."""
    data = read_document(path)
    if isinstance(data, list):
        if not data:
            raise TaskFileError(path, "the file holds an empty list of tasks")
        return [task_from_data(item, path, i) for i, item in enumerate(data)]
    if data is None:
        raise TaskFileError(path, "the file is empty")
    return [task_from_data(data, path)]


def load_task(path: str | Path) -> Task:
    """Load the one task in a JSON or YAML file."""
    tasks = load_tasks_from_file(path)
    if len(tasks) != 1:
        raise TaskFileError(path, f"holds {len(tasks)} tasks; use load_suite for several")
    return tasks[0]


TASK_SUFFIXES = (".json", ".yaml", ".yml")


def task_files(path: str | Path) -> list[Path]:
    """The task files a path names: the file itself, or every task file in a folder (recursively, sorted,
    hidden ones left out); TaskFileError when there is none."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in TASK_SUFFIXES and p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(path).parts))
        if not files:
            raise TaskFileError(path, "the folder holds no task files (*.json, *.yaml, *.yml)")
        return files
    if path.exists():
        return [path]
    raise TaskFileError(path, "no such file or folder")


def load_suite(path: str | Path) -> list[Task]:
    """Every task in a file, or in the task files of a folder (recursively, sorted by path).
    Task ids must be unique across the suite."""
    files = task_files(path)
    tasks: list[Task] = []
    seen: dict[str, str | None] = {}
    for f in files:
        for task in load_tasks_from_file(f):
            if task.id in seen:
                raise TaskFileError(f, f"field 'id': task id {task.id!r} is already used in {seen[task.id]} (value: {task.id!r})")
            seen[task.id] = task.path
            tasks.append(task)
    return tasks
