"""Episodes on disk: one folder per run of a task, written so that a crash at any moment loses nothing.

Layout (docs/design.md): ``task.json`` when the episode starts; ``step-NNNN.png`` (the frame the model
saw) and then one line of ``steps.jsonl`` per step (an ``agent.step.StepRecord``), appended, flushed and
fsynced before the next action; ``result.json`` at the end. Reading tolerates every partial state a
kill -9 can leave and says what is missing or damaged (naming the field) instead of failing.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.step import StepRecord, read_step
from tools.frame import Frame
from tools.safe_files import atomic_write, is_plain_file, safe_read

TASK_FILE = "task.json"
STEPS_FILE = "steps.jsonl"
RESULT_FILE = "result.json"
MAX_JSON_BYTES = 16 * 1024 * 1024  # task.json / result.json of an episode read back (foreign ones included)
MAX_STEPS_BYTES = 1024 * 1024 * 1024


def frame_name(index: int) -> str:
    """The file name of step ``index``'s frame."""
    return f"step-{index:04d}.png"


def _write_atomic(path: Path, data: bytes) -> None:
    atomic_write(path, data, durable=True)  # mkstemp + os.replace: a planted link is never followed


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, indent=2, default=str).encode() + b"\n"


class EpisodeWriter:
    """Writes one episode folder step by step; every call leaves a readable folder behind."""

    def __init__(self, folder: str | Path, task: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.started = time.time()
        self.task = {**task, "started_at": self.started}
        _write_atomic(self.folder / TASK_FILE, _json_bytes(self.task))
        self._steps = os.fdopen(os.open(self.folder / STEPS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW,
                                        0o644), "ab")
        self.count = 0

    def update_task(self, **fields: Any) -> None:
        """Merge ``fields`` into ``task.json`` (e.g. the model name the server reported)."""
        self.task.update(fields)
        _write_atomic(self.folder / TASK_FILE, _json_bytes(self.task))

    def save_frame(self, index: int, frame: Frame, png: bytes | None = None) -> str:
        """Write the frame the model will see for step ``index``; returns its file name."""
        name = frame_name(index)
        _write_atomic(self.folder / name, png if png is not None else frame.png())
        return name

    def save_named(self, name: str, frame: Frame) -> str:
        """Write a frame that belongs to no step (the screen before and after a pause) as ``name``."""
        if "/" in name or name.startswith("."):
            raise ValueError(f"a frame name is a plain file name, got {name!r}")
        _write_atomic(self.folder / name, frame.png())
        return name

    def record(self, step: StepRecord) -> None:
        """Append one step line and make it durable before anything else happens."""
        self._steps.write(step.line())
        self._steps.flush()
        os.fsync(self._steps.fileno())
        self.count += 1

    def finish(self, result: dict[str, Any]) -> None:
        """Write ``result.json`` and close the steps file."""
        result = {**result, "steps": self.count, "duration_s": round(time.time() - self.started, 3)}
        _write_atomic(self.folder / RESULT_FILE, _json_bytes(result))
        self.close()

    def close(self) -> None:
        """Close the steps file (idempotent)."""
        if not self._steps.closed:
            self._steps.close()


def update_result(folder: str | Path, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into an episode's ``result.json`` (atomically), e.g. the checker's verdict."""
    path = Path(folder) / RESULT_FILE
    data = _read_json(Path(folder), RESULT_FILE, [], "") or {}
    data.update(fields)
    _write_atomic(path, _json_bytes(data))
    return data


@dataclass
class Episode:
    """An episode as read back from disk, with a list of what is missing or damaged."""

    folder: Path
    task: dict[str, Any] | None
    steps: list[StepRecord]
    result: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)
    damage: dict[int, list[str]] = field(default_factory=dict)  # step position -> its damaged fields

    @property
    def complete(self) -> bool:
        """True when the run finished and nothing is damaged."""
        return self.result is not None and not self.problems

    @property
    def replies(self) -> list[str]:
        """The raw model replies in order (steps that asked the model)."""
        return [s.reply for s in self.steps if s.reply is not None]

    def own_frame(self, step: StepRecord) -> Path | None:
        """The step's frame when it is on disk inside the episode folder; a name that leads out of it gives None."""
        path = self.frame_path(step)
        return path if path is not None and path.resolve().is_relative_to(self.folder.resolve()) else None

    def frame_path(self, step: StepRecord) -> Path | None:
        """The PNG the model saw at ``step``, if it is a plain file in the folder (never a link); read it
        with ``tools.safe_files.safe_read(ep.folder, path.name, …)``."""
        name = step.frame
        if not name:
            return None
        return self.folder / name if is_plain_file(self.folder, name) else None


def load_episode(folder: str | Path) -> Episode:
    """Read an episode folder, partial or damaged ones included; ``problems`` says what is wrong.

    Raises FileNotFoundError only when ``folder`` is not a folder at all.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not an episode folder")
    problems: list[str] = []
    task = _read_json(folder, TASK_FILE, problems)
    result = _read_json(folder, RESULT_FILE, problems, missing="no result.json: the run did not finish")
    damage: dict[int, list[str]] = {}
    steps = _read_steps(folder, problems, damage)
    for step in steps:
        if step.frame and not is_plain_file(folder, step.frame):
            what = "is not a plain file in the folder; it is not read" if os.path.lexists(folder / step.frame) \
                else "is missing"
            problems.append(f"step {step.index}: frame {step.frame} {what}")
    named = {s.frame for s in steps if s.frame}
    for png in sorted(folder.glob("step-*.png")):
        if not is_plain_file(folder, png.name):
            problems.append(f"{png.name} is a link or not a plain file; it is not read")
        elif png.name not in named:
            problems.append(f"{png.name} has no step line (the run stopped before recording that step)")
    if result is not None and isinstance(result.get("steps"), int) and result["steps"] != len(steps):
        problems.append(f"result.json counts {result['steps']} steps, {STEPS_FILE} holds {len(steps)}")
    return Episode(folder, task, steps, result, problems, damage)


def _read_steps(folder: Path, problems: list[str], damage: dict[int, list[str]]) -> list[StepRecord]:
    """The step lines of ``steps.jsonl``; torn, unparseable and damaged lines are named in ``problems``
    (and a damaged step's fields in ``damage``, by its position)."""
    try:
        raw = safe_read(folder, STEPS_FILE, MAX_STEPS_BYTES)
    except FileNotFoundError:
        problems.append(f"no {STEPS_FILE}: no step was recorded")
        return []
    except OSError as exc:
        problems.append(f"{STEPS_FILE} cannot be read ({exc})")
        return []
    lines = raw.split(b"\n")
    steps: list[StepRecord] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as exc:
            last = n == len(lines) or (n == len(lines) - 1 and not lines[-1])
            what = "is cut short (the run was killed while writing it)" if last and not raw.endswith(b"\n") \
                else f"is not valid JSON ({exc})"
            problems.append(f"{STEPS_FILE} line {n} {what}; it was skipped")
            continue
        if not isinstance(data, dict):
            problems.append(f"{STEPS_FILE} line {n} is not a JSON object; it was skipped")
            continue
        step, found = read_step(data, len(steps) + 1)
        problems.extend(f"step {step.index}: {d}" for d in found)
        if found:
            damage[len(steps)] = found
        steps.append(step)
    return steps


def _read_json(folder: Path, name: str, problems: list[str], missing: str | None = None) -> dict[str, Any] | None:
    try:
        data = json.loads(safe_read(folder, name, MAX_JSON_BYTES).decode("utf-8"))
    except FileNotFoundError:
        problems.append(missing or f"no {name}")
        return None
    except OSError as exc:  # tools.safe_files.UnsafeFile: a link, too big, not a regular file
        problems.append(f"{name} cannot be read ({exc})")
        return None
    except ValueError as exc:  # not JSON, not UTF-8
        problems.append(f"{name} is damaged ({exc})")
        return None
    if not isinstance(data, dict):
        problems.append(f"{name} does not hold a JSON object")
        return None
    return data
