"""Import OSWorld task files (``evaluation_examples/examples/<domain>/<id>.json``) as screenact tasks.

An OSWorld task has ``id``, ``instruction``, ``config`` (setup steps, each ``{"type", "parameters"}``),
``evaluator`` (``func``, ``result`` getter, ``expected`` getter, ``options``, ``postconfig``; ``func``
may be a list combined with ``conj`` "and"/"or") and ``related_apps``. What maps onto ours:

=====================================================  ============================================
OSWorld                                                 screenact
=====================================================  ============================================
config ``launch`` {command, shell}                      setup ``launch`` (argv; ``python`` is the project's
                                                        interpreter, with pyautogui bound to the display)
config ``execute`` / ``command`` {command, shell}       setup ``run`` in the home (exit code not checked, as there)
config ``sleep`` {seconds}                              setup ``sleep`` (at most 10 s)
config ``activate_window`` {window_name}                ``wait_window``, then ``xdotool … windowactivate``
config ``download`` {files: [{url, path}]}              ``write_file`` from the local OSWorld file cache
                                                        (``--osworld-cache``), never the network
config ``open`` {path}                                  ``launch`` of its default app, if installed
                                                        (``tasks.open_with``: by extension, an allow-list)
evaluator ``postconfig`` (the same steps)               ``before_check``
func ``infeasible``                                     checker ``infeasible``
``compare_text_file``: vm_file vs vm_file               ``file_equals`` with ``expected_path``, the expected
                                                        file held on the host once the setup is done
                                                        (``hold_file``: the agent cannot read it)
``compare_text_file``: vm_file vs cloud_file            ``file_equals`` with ``expected_source``: the gold
                                                        file from ``<cache>/<task id>/<dest>``, on the host
  (options ignore_blanks, ignore_case)                  (``normalize: blanks``, ``ignore_case``)
``check_include_exclude``: vm_command_line + rule       ``command`` with stdout_contains / _excludes
``check_include_exclude``: vm_file + rule               ``file_contains`` (text / absent)
``check_include_exclude``: vm_terminal_output + rule    ``terminal_output``: the ctrl+alt+t terminal's text
``check_moved_jpgs``: list_directory + rule {expected}  ``dir_entries``: exactly those names in the folder
``is_in_list``: vm_command_line + rule {expected}       ``command`` with stdout_contains
``compare_csv``: vm_file vs vm_file / cloud_file        ``file_equals``, line by line (``strict``: false
                                                        strips each line)
``check_json_settings``: vm_file + rule {expected}      ``json_includes``: those top-level keys and values
``compare_config``: vm_file + rule {expected}           ``file_equals`` with that text
``exact_match``: vm_command_line + rule {expected}      ``command`` with ``stdout_equals``
=====================================================  ============================================

The desktop is OSWorld's as far as it can be: ``HOME`` is ``/home/user`` with ``~/Desktop`` and the
XDG folders (paths are kept, never rewritten), ``{CLIENT_PASSWORD}`` and the ``{SCREEN_…}`` placeholders
are filled in, and the sandbox's ``sudo`` accepts ``sudo -S``. Everything else (files missing from the
cache, ``open`` of a file whose app is not installed, browser and office getters…) cannot run here; such
tasks are skipped with the reason.
"""

from __future__ import annotations

import json
import os
import shlex
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from tasks.open_with import NoApp, open_step
from tasks.task import MAX_SLEEP_S, Task, TaskFileError, task_from_data

OSWORLD_HOME = "/home/user"
OSWORLD_SCREEN = {"width": 1920, "height": 1080}
CLIENT_PASSWORD = "password"  # OSWorld's default; the sandbox's sudo accepts any
XDG_FOLDERS = ("Desktop", "Documents", "Downloads", "Music", "Pictures", "Public", "Templates", "Videos")


@dataclass(frozen=True)
class OsworldOptions:
    """How OSWorld tasks are brought here: the local file cache for downloads (None: every download is
    missing) and the values of the placeholders."""

    cache: Path | None = None
    password: str = CLIENT_PASSWORD
    width: int = OSWORLD_SCREEN["width"]
    height: int = OSWORLD_SCREEN["height"]

    def placeholders(self) -> dict[str, str]:
        return {"{CLIENT_PASSWORD}": self.password, "{SCREEN_WIDTH}": str(self.width),
                "{SCREEN_HEIGHT}": str(self.height), "{SCREEN_WIDTH_HALF}": str(self.width // 2),
                "{SCREEN_HEIGHT_HALF}": str(self.height // 2)}


class Skipped(NamedTuple):
    """A task that could not be imported: where it came from, its id if known, and why."""

    source: str
    id: str | None
    reason: str


class _Unsupported(ValueError):
    """The task uses something that has no equivalent here."""


def _substitute(value: Any, table: dict[str, str]) -> Any:
    """Fill in OSWorld's placeholders in every string of a task."""
    if isinstance(value, str):
        for key, text in table.items():
            value = value.replace(key, text)
        return value
    if isinstance(value, list):
        return [_substitute(v, table) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, table) for k, v in value.items()}
    return value


def _python(argv: list[str]) -> list[str]:
    """``python``/``python3`` is the project's interpreter inside (it has pyautogui)."""
    return ["{python}", *argv[1:]] if argv and argv[0] in ("python", "python3") else argv


def _argv(command: Any, shell: bool) -> list[str]:
    if isinstance(command, list):
        if not command or not all(isinstance(c, str) for c in command):
            raise _Unsupported(f"command must be a non-empty list of strings, got {command!r}")
        return ["sh", "-c", " ".join(command)] if shell else _python(list(command))
    if isinstance(command, str) and command.strip():
        return ["sh", "-c", command] if shell else _python(shlex.split(command))
    raise _Unsupported(f"command must be a string or a list of strings, got {command!r}")


def _cached(task_id: str, index: str, files: Any, cache: Path | None) -> list[dict[str, Any]]:
    """``write_file`` steps for a ``download`` from the local cache, laid out as OSWorld's own:
    ``<cache>/<task id>/<uuid5(NAMESPACE_URL, url)>_<basename of path>``."""
    if not isinstance(files, list) or not files:
        raise _Unsupported(f"{index} download: 'files' must be a non-empty list of {{url, path}}")
    steps = []
    for f in files:
        if not (isinstance(f, dict) and isinstance(f.get("url"), str) and isinstance(f.get("path"), str)):
            raise _Unsupported(f"{index} download: each file needs a 'url' and a 'path', got {f!r}")
        name = f"{uuid.uuid5(uuid.NAMESPACE_URL, f['url'])}_{os.path.basename(f['path'])}"
        source = cache / task_id / name if cache is not None else None
        if source is None or not source.is_file():
            raise _Unsupported(f"{index} download: file not in the cache (no network)"
                               + (f": {source}" if source is not None else "; give --osworld-cache"))
        path = f["path"] if f["path"].startswith("/") else f"{OSWORLD_HOME}/{f['path']}"
        steps.append({"kind": "write_file", "path": path, "source": str(source.resolve()), "mode": 0o755})
    return steps


def _steps(step: Any, index: str, task_id: str, options: OsworldOptions) -> list[dict[str, Any]]:
    """Our steps for one OSWorld config (or postconfig) step."""
    if not isinstance(step, dict) or "type" not in step:
        raise _Unsupported(f"{index} is not a {{type, parameters}} step: {step!r}")
    kind, params = step["type"], step.get("parameters") or {}
    if kind == "launch":
        return [{"kind": "launch", "argv": _argv(params.get("command"), bool(params.get("shell", False))),
                 "cwd": OSWORLD_HOME}]
    if kind in ("execute", "command"):
        if params.get("until"):
            raise _Unsupported(f"{index} {kind} with 'until' (retry until an output appears) is not supported")
        return [{"kind": "run", "argv": _argv(params.get("command"), bool(params.get("shell", False))),
                 "check": False, "cwd": OSWORLD_HOME}]
    if kind == "sleep":
        seconds = float(params.get("seconds", 0))
        if seconds <= 0:
            raise _Unsupported(f"{index} sleep needs a positive 'seconds'")
        return [{"kind": "sleep", "seconds": min(seconds, MAX_SLEEP_S)}]
    if kind == "activate_window":
        name = params.get("window_name")
        if not isinstance(name, str) or not name:
            raise _Unsupported(f"{index} activate_window needs a 'window_name'")
        return [{"kind": "wait_window", "title": name},
                {"kind": "run", "argv": ["xdotool", "search", "--name", name, "windowactivate"], "check": False}]
    if kind == "download":
        return _cached(task_id, index, params.get("files"), options.cache)
    if kind == "open":
        try:
            return [open_step(params.get("path"), OSWORLD_HOME)]
        except NoApp as exc:
            raise _Unsupported(f"{index} {exc}") from None
    raise _Unsupported(f"{index} step type {kind!r} has no equivalent here")


def _rules(expected: Any) -> dict[str, Any]:
    if not isinstance(expected, dict) or expected.get("type") != "rule" or not isinstance(expected.get("rules"), dict):
        raise _Unsupported(f"expected must be a rule getter {{type: rule, rules: …}}, got {expected!r}")
    return expected["rules"]


GETTERS = ("vm_command_line", "vm_file", "rule", "vm_terminal_output", "list_directory", "cloud_file")
"""The evaluator getters that have an equivalent here."""
METRICS = ("compare_text_file", "compare_csv", "check_include_exclude", "exact_match", "is_in_list", "check_moved_jpgs",
           "check_json_settings", "compare_config")
"""The evaluator functions (besides ``infeasible``) that have an equivalent here."""


def _gold(expected: dict[str, Any], task_id: str, cache: Path | None) -> dict[str, Any]:
    """Where the expected file of a comparison is: a ``cloud_file`` is OSWorld's gold file, which its
    harness keeps at ``<cache>/<task id>/<dest>``, read on the host; a ``vm_file`` is read on the host too,
    held there since the setup ended (a ``hold_file`` step takes it out of the sandbox)."""
    if expected.get("type") == "vm_file":
        return {"expected_path": expected["path"]}
    dest = expected.get("dest")
    if not isinstance(dest, str) or not dest or "/" in dest or dest.startswith("."):
        raise _Unsupported(f"expected cloud_file needs a plain file name in 'dest', got {dest!r}")
    source = cache / task_id / dest if cache is not None else None
    if source is None or not source.is_file():
        raise _Unsupported("expected cloud_file: the gold file is not in the cache (no network)"
                           + (f": {source}" if source is not None else "; give --osworld-cache"))
    return {"expected_source": str(source.resolve())}


def _compare_files(func: str, result: Any, expected: Any, options: dict[str, Any], task_id: str,
                   cache: Path | None) -> dict[str, Any]:
    """``compare_text_file`` (whole texts, ``ignore_blanks``) and ``compare_csv`` (line by line, each line
    stripped unless ``strict``), both with ``ignore_case``."""
    rtype, etype = result.get("type"), expected.get("type") if isinstance(expected, dict) else None
    if rtype != "vm_file" or etype not in ("vm_file", "cloud_file"):
        raise _Unsupported(f"{func} needs a vm_file result and a vm_file or cloud_file expected "
                           f"(got {rtype!r} and {etype!r})")
    if result.get("multi") or expected.get("multi"):
        raise _Unsupported(f"{func} with multi files is not supported")
    if func == "compare_csv":
        normalize = "lines" if options.get("strict", True) else "stripped_lines"
    else:
        normalize = "blanks" if options.get("ignore_blanks") else "none"
    return {"kind": "file_equals", "path": result["path"], **_gold(expected, task_id, cache),
            "normalize": normalize, "ignore_case": bool(options.get("ignore_case", False))}


def _vm_file_rule(func: str, result: dict[str, Any], expected: Any) -> dict[str, Any]:
    """``check_json_settings`` (these top-level JSON keys hold these values) and ``compare_config`` (the
    file's text is exactly this) on a vm_file."""
    want = _rules(expected).get("expected")
    if result.get("type") != "vm_file":
        raise _Unsupported(f"{func} is supported on a vm_file result, got {result.get('type')!r}")
    if func == "check_json_settings" and isinstance(want, dict):
        return {"kind": "json_includes", "path": result["path"], "values": want}
    if func == "compare_config" and isinstance(want, str):
        return {"kind": "file_equals", "path": result["path"], "text": want}
    raise _Unsupported(f"{func} needs a rule 'expected' of another type, got {type(want).__name__}")


def _include_exclude(result: dict[str, Any], expected: Any) -> dict[str, Any]:
    rules = _rules(expected)
    include, exclude = list(rules.get("include") or []), list(rules.get("exclude") or [])
    rtype = result.get("type")
    if rtype == "vm_command_line":
        return {"kind": "command", "argv": _argv(result.get("command"), bool(result.get("shell", False))),
                "exit_code": None, "stdout_contains": include, "stdout_excludes": exclude, "cwd": OSWORLD_HOME}
    if rtype == "vm_file":
        return {"kind": "file_contains", "path": result["path"], "text": include, "absent": exclude}
    if rtype == "vm_terminal_output":
        return {"kind": "terminal_output", "contains": include, "excludes": exclude}
    raise _Unsupported(f"check_include_exclude on a {rtype!r} result has no equivalent here")


def _checker(func: str, result: Any, expected: Any, options: Any, task_id: str, cache: Path | None) -> dict[str, Any]:
    options = options or {}
    rtype = result.get("type") if isinstance(result, dict) else None
    etype = expected.get("type") if isinstance(expected, dict) else None
    if func not in METRICS:
        raise _Unsupported(f"evaluator function {func!r} has no equivalent here")
    for getter in (rtype, etype):
        if getter is not None and getter not in GETTERS:
            raise _Unsupported(f"evaluator getter {getter} has no equivalent here")
    if rtype is None:
        raise _Unsupported(f"evaluator function {func!r} without a result getter")
    if func in ("compare_text_file", "compare_csv"):
        return _compare_files(func, result, expected, options, task_id, cache)
    if func in ("check_json_settings", "compare_config"):
        return _vm_file_rule(func, result, expected)
    if func == "check_include_exclude":
        return _include_exclude(result, expected)
    if func == "check_moved_jpgs":
        names = _rules(expected).get("expected")
        if rtype != "list_directory" or not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise _Unsupported(f"check_moved_jpgs is supported on a list_directory result with a list of names, "
                               f"got {rtype!r}")
        return {"kind": "dir_entries", "path": result.get("path"), "names": names}
    rules = _rules(expected)  # exact_match (the whole output), is_in_list (a part of it)
    if rtype != "vm_command_line" or not isinstance(rules.get("expected"), str):
        raise _Unsupported(f"{func} is supported on command output with a string rule, got {rtype!r}")
    match = {"stdout_equals": rules["expected"]} if func == "exact_match" else {"stdout_contains": [rules["expected"]]}
    return {"kind": "command", "argv": _argv(result.get("command"), bool(result.get("shell", False))),
            "exit_code": None, **match, "cwd": OSWORLD_HOME}


def _evaluator(ev: Any, task_id: str, cache: Path | None) -> dict[str, Any]:
    if not isinstance(ev, dict) or not ev.get("func"):
        raise _Unsupported("the task has no evaluator (its 'func' is empty): nothing could judge it")
    func = ev["func"]
    if func == "infeasible":
        return {"kind": "infeasible"}
    if isinstance(func, list):
        n = len(func)
        results, expecteds = ev.get("result") or [], ev.get("expected") or [None] * n
        options = ev.get("options") or [{}] * n
        if not (len(results) == len(expecteds) == len(options) == n):
            raise _Unsupported("evaluator lists func/result/expected/options differ in length")
        checks = [_checker(f, r, e, o, task_id, cache) for f, r, e, o in zip(func, results, expecteds, options)]
        return {"kind": "any" if ev.get("conj") == "or" else "all", "checks": checks}
    return _checker(func, ev.get("result"), ev.get("expected"), ev.get("options"), task_id, cache)


def _expected_paths(checker: dict[str, Any]) -> list[str]:
    """The sandbox files a comparison takes as expected: held on the host once the setup is done."""
    if checker["kind"] in ("all", "any"):
        return [p for c in checker["checks"] for p in _expected_paths(c)]
    return [checker["expected_path"]] if checker.get("expected_path") else []


def osworld_to_data(item: Any, options: OsworldOptions | None = None) -> dict[str, Any]:
    """Our task data for one OSWorld task (raises ValueError with the reason when it cannot be mapped)."""
    options = options or OsworldOptions()
    if not isinstance(item, dict):
        raise _Unsupported(f"a task is a JSON object, got {type(item).__name__}")
    for key in ("id", "instruction"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise _Unsupported(f"the task has no {key!r}")
    item = _substitute(item, options.placeholders())
    config = item.get("config") or []
    if not isinstance(config, list):
        raise _Unsupported("'config' must be a list of steps")
    evaluator = item.get("evaluator")
    checker = _evaluator(evaluator, item["id"], options.cache)
    homes = {"kind": "run", "argv": ["mkdir", "-p", *(f"{OSWORLD_HOME}/{d}" for d in XDG_FOLDERS)]}
    setup = [homes] + [s for i, step in enumerate(config) for s in _steps(step, f"config[{i}]", item["id"], options)]
    setup += [{"kind": "hold_file", "path": path} for path in _expected_paths(checker)]
    post = [s for i, step in enumerate(evaluator.get("postconfig") or [])
            for s in _steps(step, f"postconfig[{i}]", item["id"], options)]
    tags = ["osworld"] + [str(a) for a in item.get("related_apps") or []]
    if item.get("snapshot"):
        tags.append(f"snapshot:{item['snapshot']}")
    return {"id": item["id"], "instruction": item["instruction"].strip(), "setup": setup, "checker": checker,
            "before_check": post, "home": OSWORLD_HOME,
            "screen": {"width": options.width, "height": options.height}, "tags": tags}


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
        return task_from_data(osworld_to_data(item, options), path), None
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


def load_osworld(path: str | Path, options: OsworldOptions | None = None) -> tuple[list[Task], list[Skipped]]:
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
                data = osworld_to_data(item, options)
                tasks.append(task_from_data(data, f))
            except _Unsupported as exc:
                skipped.append(Skipped(str(f), ident, str(exc)))
            except TaskFileError as exc:
                skipped.append(Skipped(str(f), ident, str(exc).removeprefix(f"{f}: ")))
    return tasks, skipped
