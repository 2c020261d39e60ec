"""Import OSWorld task files (``evaluation_examples/examples/<domain>/<id>.json``) as screenact tasks.

An OSWorld task has ``id``, ``instruction``, ``config`` (setup steps, each ``{"type", "parameters"}``),
``evaluator`` (``func``, ``result`` getter, ``expected`` getter, ``options``, ``postconfig``; ``func``
may be a list combined with ``conj`` "and"/"or") and ``related_apps``. What maps onto ours:

=====================================================  ============================================
OSWorld                                                 screenact
=====================================================  ============================================
config ``launch`` {command, shell}                      setup ``launch`` (argv)
config ``execute`` / ``command`` {command, shell}       setup ``run`` (exit code not checked, as there)
config ``sleep`` {seconds}                              setup ``sleep`` (at most 10 s)
func ``infeasible``                                     checker ``infeasible``
``compare_text_file``: vm_file vs vm_file               ``file_equals`` with ``expected_path``
  (options ignore_blanks, ignore_case)                  (``normalize: blanks``, ``ignore_case``)
``check_include_exclude``: vm_command_line + rule       ``command`` with stdout_contains / _excludes
``check_include_exclude``: vm_file + rule               ``file_contains`` (text / absent)
``exact_match``: vm_command_line + rule {expected}      ``command`` with ``stdout_equals``
=====================================================  ============================================

Everything else (downloads, ``open``, cloud files, browser and office getters, postconfig steps
other than sleeps…) cannot run here; such tasks come back in the ``skipped`` list with the reason.
Paths under OSWorld's home ``/home/user`` are moved to the sandbox's home ``/tmp/home``.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from dataclasses import dataclass
from typing import Any, NamedTuple

from tasks.task import MAX_SLEEP_S, Task, TaskFileError, task_from_data

OSWORLD_HOME = "/home/user"
SANDBOX_HOME = "/tmp/home"
OSWORLD_SCREEN = {"width": 1920, "height": 1080}


class Skipped(NamedTuple):
    """A task that could not be imported: where it came from, its id if known, and why."""

    source: str
    id: str | None
    reason: str


class _Unsupported(ValueError):
    """The task uses something that has no equivalent here."""


def _rehome(value: Any, home: str) -> Any:
    """Move OSWorld home paths (and ``~``-free absolute paths under it) into the sandbox's home."""
    if isinstance(value, str):
        return value.replace(OSWORLD_HOME, home)
    if isinstance(value, list):
        return [_rehome(v, home) for v in value]
    if isinstance(value, dict):
        return {k: _rehome(v, home) for k, v in value.items()}
    return value


def _argv(command: Any, shell: bool) -> list[str]:
    if isinstance(command, list):
        if not command or not all(isinstance(c, str) for c in command):
            raise _Unsupported(f"command must be a non-empty list of strings, got {command!r}")
        return ["sh", "-c", " ".join(command)] if shell else list(command)
    if isinstance(command, str) and command.strip():
        return ["sh", "-c", command] if shell else shlex.split(command)
    raise _Unsupported(f"command must be a string or a list of strings, got {command!r}")


def _setup_step(step: Any, index: int) -> dict[str, Any]:
    if not isinstance(step, dict) or "type" not in step:
        raise _Unsupported(f"config[{index}] is not a {{type, parameters}} step: {step!r}")
    kind, params = step["type"], step.get("parameters") or {}
    if kind == "launch":
        return {"kind": "launch", "argv": _argv(params.get("command"), bool(params.get("shell", False)))}
    if kind in ("execute", "command"):
        if params.get("until"):
            raise _Unsupported(f"config[{index}] {kind} with 'until' (retry until an output appears) is not supported")
        return {"kind": "run", "argv": _argv(params.get("command"), bool(params.get("shell", False))), "check": False}
    if kind == "sleep":
        seconds = float(params.get("seconds", 0))
        if seconds <= 0:
            raise _Unsupported(f"config[{index}] sleep needs a positive 'seconds'")
        return {"kind": "sleep", "seconds": min(seconds, MAX_SLEEP_S)}
    if kind == "download":
        raise _Unsupported(f"config[{index}] download: file not in the cache (no network)")
    raise _Unsupported(f"config[{index}] step type {kind!r} has no equivalent here")


def _rules(expected: Any) -> dict[str, Any]:
    if not isinstance(expected, dict) or expected.get("type") != "rule" or not isinstance(expected.get("rules"), dict):
        raise _Unsupported(f"expected must be a rule getter {{type: rule, rules: …}}, got {expected!r}")
    return expected["rules"]


GETTERS = ("vm_command_line", "vm_file", "rule")
"""The evaluator getters that have an equivalent here."""
METRICS = ("compare_text_file", "check_include_exclude", "exact_match")
"""The evaluator functions (besides ``infeasible``) that have an equivalent here."""


def _checker(func: str, result: Any, expected: Any, options: Any) -> dict[str, Any]:
    options = options or {}
    rtype = result.get("type") if isinstance(result, dict) else None
    etype = expected.get("type") if isinstance(expected, dict) else None
    if func not in METRICS:
        raise _Unsupported(f"evaluator function {func!r} has no equivalent here")
    for getter in (rtype, etype):
        if getter is not None and getter not in GETTERS:
            raise _Unsupported(f"evaluator getter {getter} has no equivalent here")
    if func == "compare_text_file":
        if rtype != "vm_file" or etype != "vm_file":
            raise _Unsupported(f"compare_text_file needs vm_file result and expected (got {rtype!r} and {etype!r}; "
                               "cloud files need a download)")
        if result.get("multi") or expected.get("multi"):
            raise _Unsupported("compare_text_file with multi files is not supported")
        return {"kind": "file_equals", "path": result["path"], "expected_path": expected["path"],
                "normalize": "blanks" if options.get("ignore_blanks") else "none",
                "ignore_case": bool(options.get("ignore_case", False))}
    if func == "check_include_exclude":
        rules = _rules(expected)
        include, exclude = list(rules.get("include") or []), list(rules.get("exclude") or [])
        if rtype == "vm_command_line":
            return {"kind": "command", "argv": _argv(result.get("command"), bool(result.get("shell", False))),
                    "exit_code": None, "stdout_contains": include, "stdout_excludes": exclude}
        if rtype == "vm_file":
            return {"kind": "file_contains", "path": result["path"], "text": include, "absent": exclude}
        raise _Unsupported(f"check_include_exclude on a {rtype!r} result has no equivalent here")
    if func == "exact_match":
        rules = _rules(expected)
        if rtype != "vm_command_line" or not isinstance(rules.get("expected"), str):
            raise _Unsupported(f"exact_match is supported on command output with a string rule, got {rtype!r}")
        return {"kind": "command", "argv": _argv(result.get("command"), bool(result.get("shell", False))),
                "exit_code": None, "stdout_equals": rules["expected"]}
    raise _Unsupported(f"evaluator function {func!r} has no equivalent here")


def _evaluator(ev: Any) -> dict[str, Any]:
    if not isinstance(ev, dict) or not ev.get("func"):
        raise _Unsupported("the task has no evaluator (its 'func' is empty): nothing could judge it")
    for step in ev.get("postconfig") or []:
        if not (isinstance(step, dict) and step.get("type") == "sleep"):
            kind = step.get("type") if isinstance(step, dict) else step
            raise _Unsupported(f"postconfig step {kind!r} is not supported")
    func = ev["func"]
    if func == "infeasible":
        return {"kind": "infeasible"}
    if isinstance(func, list):
        n = len(func)
        results, expecteds = ev.get("result") or [], ev.get("expected") or [None] * n
        options = ev.get("options") or [{}] * n
        if not (len(results) == len(expecteds) == len(options) == n):
            raise _Unsupported("evaluator lists func/result/expected/options differ in length")
        checks = [_checker(f, r, e, o) for f, r, e, o in zip(func, results, expecteds, options)]
        return {"kind": "any" if ev.get("conj") == "or" else "all", "checks": checks}
    return _checker(func, ev.get("result"), ev.get("expected"), ev.get("options"))


def osworld_to_data(item: Any, home: str = SANDBOX_HOME) -> dict[str, Any]:
    """Our task data for one OSWorld task (raises ValueError with the reason when it cannot be mapped)."""
    if not isinstance(item, dict):
        raise _Unsupported(f"a task is a JSON object, got {type(item).__name__}")
    for key in ("id", "instruction"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise _Unsupported(f"the task has no {key!r}")
    item = _rehome(item, home)
    config = item.get("config") or []
    if not isinstance(config, list):
        raise _Unsupported("'config' must be a list of steps")
    tags = ["osworld"] + [str(a) for a in item.get("related_apps") or []]
    if item.get("snapshot"):
        tags.append(f"snapshot:{item['snapshot']}")
    return {
        "id": item["id"],
        "instruction": item["instruction"].strip(),
        "setup": [_setup_step(s, i) for i, s in enumerate(config)],
        "checker": _evaluator(item.get("evaluator")),
        "screen": dict(OSWORLD_SCREEN),
        "tags": tags,
    }


@dataclass(frozen=True)
class OsworldOptions:
    """How OSWorld tasks are brought here: the home their paths move to."""

    home: str = SANDBOX_HOME


def is_osworld_task(item: Any) -> bool:
    """An OSWorld task: a mapping with an ``evaluator`` or a ``config`` and no ``checker`` of ours."""
    return isinstance(item, dict) and ("evaluator" in item or "config" in item) and "checker" not in item


def _check_shape(item: Any, path: str | Path | None, index: int | None) -> None:
    """A malformed OSWorld task raises TaskFileError naming the field (the task cannot even be listed)."""
    where = f"task [{index}] " if index is not None else ""
    if not isinstance(item, dict):
        raise TaskFileError(path, f"{where}expected an OSWorld task object, got {type(item).__name__}")
    for key in ("id", "instruction"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            value = "missing" if key not in item else repr(item[key])[:80]
            raise TaskFileError(path, f"{where}field '{key}': an OSWorld task needs a non-empty string (value: {value})")
    if not isinstance(item.get("config") or [], list):
        raise TaskFileError(path, f"{where}field 'config': must be a list of steps (value: {str(item['config'])[:80]})")
    if not isinstance(item.get("evaluator") or {}, dict):
        raise TaskFileError(path, f"{where}field 'evaluator': must be an object (value: {str(item['evaluator'])[:80]})")


def osworld_task(item: Any, path: str | Path | None = None, options: OsworldOptions | None = None,
                 index: int | None = None) -> tuple[Task | None, str | None]:
    """(the task, None), or (None, why it cannot run here) for one OSWorld task; a malformed one raises
    TaskFileError."""
    _check_shape(item, path, index)
    try:
        return task_from_data(osworld_to_data(item, (options or OsworldOptions()).home), path), None
    except _Unsupported as exc:
        return None, str(exc)
    except TaskFileError as exc:
        return None, str(exc).removeprefix(f"{path}: ")


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*.json") if p.is_file())
    if path.exists():
        return [path]
    raise TaskFileError(path, "no such file or folder")


def load_osworld(path: str | Path, home: str = SANDBOX_HOME) -> tuple[list[Task], list[Skipped]]:
    """Import OSWorld task JSON from a file (one task or a list) or a folder (every ``*.json`` in it).
    Returns the tasks that map onto ours and, for the others, why not."""
    tasks: list[Task] = []
    skipped: list[Skipped] = []
    for f in _files(Path(path)):
        try:
            doc = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            skipped.append(Skipped(str(f), None, f"not readable JSON: {exc}"))
            continue
        items = doc if isinstance(doc, list) else [doc]
        for item in items:
            ident = item.get("id") if isinstance(item, dict) and isinstance(item.get("id"), str) else None
            try:
                data = osworld_to_data(item, home)
                tasks.append(task_from_data(data, f))
            except _Unsupported as exc:
                skipped.append(Skipped(str(f), ident, str(exc)))
            except TaskFileError as exc:
                skipped.append(Skipped(str(f), ident, str(exc).removeprefix(f"{f}: ")))
    return tasks, skipped
