"""``screenact tasks PATH…``: list every task found in files and folders, and whether it can run here."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agent.errors import UsageError


def add_osworld_flags(p: argparse.ArgumentParser) -> None:
    """--osworld-root (where a test set's task files are) and --osworld-cache; shared by ``tasks`` and ``run``."""
    p.add_argument("--osworld-root", type=Path, metavar="DIR",
                   help="OSWorld's evaluation_examples folder: a test set {domain: [ids]} reads its tasks from "
                   "DIR/examples/<domain>/<id>.json")
    p.add_argument("--osworld-cache", type=Path, metavar="DIR",
                   help="OSWorld's file cache for 'download' steps, in its own layout: DIR/<task id>/"
                   "<uuid5(NAMESPACE_URL, url)>_<file name>; a missing file skips the task (never the network)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tasks", help="list the tasks in files and folders (screenact or OSWorld format) and whether they can run",
        description="List every task found in PATH… (task files, folders of them, OSWorld task files and test "
        "sets): its id, source file, format (screenact or osworld, told apart by content) and status: ok, or "
        "skipped with the reason. Exit 0, or 2 for a malformed file (named with its field).")
    p.add_argument("paths", nargs="+", metavar="PATH", help="a task file, a folder of them, or 'suite'")
    p.add_argument("--json", action="store_true", help="print one JSON list of {id, source, format, status, reason}")
    add_osworld_flags(p)
    p.set_defaults(func=run)


def find_entries(names: list[str], osworld_root: Path | None, osworld_cache: Path | None = None) -> list:
    """Every task entry in ``names`` ('suite' is the bundled suite); a bad file is a UsageError."""
    from tasks import SUITE_DIR, TaskFileError
    from tasks.catalog import find_tasks
    from tasks.osworld import OsworldOptions

    if osworld_root is not None and not osworld_root.is_dir():
        raise UsageError(f"--osworld-root {osworld_root}: no such folder")
    try:
        return find_tasks([SUITE_DIR if n == "suite" else n for n in names], osworld_root,
                          OsworldOptions(cache=osworld_cache))
    except TaskFileError as exc:
        raise UsageError(str(exc)) from exc


def run(args: argparse.Namespace) -> int:
    entries = find_entries(args.paths, args.osworld_root, args.osworld_cache)
    if args.json:
        print(json.dumps([e.to_json() for e in entries], indent=2, ensure_ascii=False))
        return 0
    for e in entries:
        why = f"  {e.reason}" if e.reason else ""
        print(f"{e.status:7}  {e.format:9}  {e.id}  {e.source}{why}")
    ok = sum(e.status == "ok" for e in entries)
    print(f"{len(entries)} task(s): {ok} ok, {len(entries) - ok} skipped")
    return 0
