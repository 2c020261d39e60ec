"""Find every task in files and folders, in either format, and say for each whether it can run here.

A file is screenact's own format (``tasks.task``) or OSWorld's (``tasks.osworld``), told apart by its
content: an OSWorld task has an ``evaluator`` or a ``config`` and no ``checker``. A JSON object whose
values are all lists of ids is an OSWorld test set (``{domain: [ids]}``, like ``test_all.json``); its
tasks are read from ``<osworld root>/examples/<domain>/<id>.json``.

A malformed file raises :class:`tasks.task.TaskFileError` naming the file and the field; a well-formed
OSWorld task that uses something this desktop cannot give comes back ``skipped`` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tasks.osworld import OsworldOptions, is_osworld_task, osworld_task
from tasks.task import Task, TaskFileError, read_document, task_files, task_from_data

Format = Literal["screenact", "osworld"]


@dataclass
class Entry:
    """One task found: its id, the file it came from, its format, and the task or why it was skipped."""

    id: str
    source: str
    format: Format
    task: Task | None = None
    reason: str | None = None

    @property
    def status(self) -> Literal["ok", "skipped"]:
        return "ok" if self.task is not None else "skipped"

    def to_json(self) -> dict[str, Any]:
        """The ``screenact tasks --json`` object."""
        return {"id": self.id, "source": self.source, "format": self.format, "status": self.status,
                "reason": self.reason}


def is_test_set(doc: Any) -> bool:
    """An OSWorld test set: ``{domain: [task ids]}`` (and nothing that looks like a task)."""
    return (isinstance(doc, dict) and bool(doc) and "id" not in doc and "instruction" not in doc
            and all(isinstance(v, list) and all(isinstance(i, str) for i in v) for v in doc.values()))


def _test_set_files(path: Path, doc: dict[str, list[str]], root: Path | None) -> list[Path]:
    if root is None:
        raise TaskFileError(path, "an OSWorld test set ({domain: [ids]}) needs --osworld-root, the folder that "
                            "holds examples/<domain>/<id>.json")
    files = []
    for domain, ids in doc.items():
        for ident in ids:
            if "/" in domain or "/" in ident or domain.startswith(".") or ident.startswith("."):
                raise TaskFileError(path, f"field '{domain}': not a plain domain and id (value: {ident!r})")
            f = root / "examples" / domain / f"{ident}.json"
            if not f.is_file():
                raise TaskFileError(path, f"field '{domain}': no task file {f} (value: {ident!r})")
            files.append(f)
    return files


def _file_entries(path: Path, doc: Any, options: OsworldOptions) -> list[Entry]:
    items = doc if isinstance(doc, list) else [doc]
    if doc is None or (isinstance(doc, list) and not doc):
        raise TaskFileError(path, "the file holds no task")
    entries = []
    for i, item in enumerate(items):
        index = i if isinstance(doc, list) else None
        if is_osworld_task(item):
            task, reason = osworld_task(item, path, options, index)
            entries.append(Entry(item["id"], str(path), "osworld", task, reason))
        else:
            task = task_from_data(item, path, index)
            entries.append(Entry(task.id, str(path), "screenact", task))
    return entries


def find_tasks(paths: list[str | Path], osworld_root: str | Path | None = None,
               options: OsworldOptions | None = None) -> list[Entry]:
    """Every task in ``paths`` (files, folders, OSWorld test sets), in order; ids must be unique."""
    options = options or OsworldOptions()
    root = Path(osworld_root) if osworld_root is not None else None
    entries: list[Entry] = []
    seen: dict[str, str] = {}
    for name in paths:
        for f in task_files(name):
            doc = read_document(f)
            files = _test_set_files(f, doc, root) if is_test_set(doc) else None
            found = ([e for g in files for e in _file_entries(g, read_document(g), options)] if files is not None
                     else _file_entries(f, doc, options))
            for entry in found:
                if entry.id in seen:
                    raise TaskFileError(entry.source, f"field 'id': task id {entry.id!r} is already used in "
                                        f"{seen[entry.id]} (value: {entry.id!r})")
                seen[entry.id] = entry.source
                entries.append(entry)
    return entries


__all__ = ["Entry", "find_tasks", "is_test_set"]
