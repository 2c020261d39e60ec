"""A pytest plugin (entry point ``pytest11``): a folder of recorded episodes replays as a test suite.

``pytest --screenact-episodes DIR`` collects every episode folder under DIR (a folder with ``task.json``
and ``steps.jsonl``) as one test item, named by the recorded task's id. Each item runs
:func:`agent.replay.assert_replays`: offline, then live when the episode was recorded from a task (its own
setup and checker, a sandbox of the recorded size). ``--screenact-offline`` keeps every item offline (no
sandbox); ``--screenact-tolerance`` and ``--screenact-reground ocr|vlm`` are ``assert_replays``'s arguments.
Every item carries the ``screenact`` marker, so ``-m screenact`` or ``-m "not screenact"`` selects them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    """The plugin's options."""
    group = parser.getgroup("screenact", "replaying recorded screenact episodes")
    group.addoption("--screenact-episodes", action="append", default=[], metavar="DIR",
                    help="collect every episode folder under DIR as a test that replays it; repeatable")
    group.addoption("--screenact-offline", action="store_true",
                    help="replay the collected episodes offline only (re-parse, no sandbox)")
    group.addoption("--screenact-tolerance", type=float, default=None, metavar="SHARE",
                    help="the share of the screen that may change and still count as the same screen")
    group.addoption("--screenact-reground", choices=["ocr", "vlm"], default=None,
                    help="heal moved pointer targets with this grounder; the checker's verdict decides")


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker the collected episodes carry."""
    config.addinivalue_line("markers", "screenact: a recorded screenact episode replayed as a test")


def episode_folders(root: Path) -> list[Path]:
    """Every episode folder under ``root`` (``root`` itself included), sorted."""
    found = [p.parent for p in root.rglob("task.json") if (p.parent / "steps.jsonl").is_file()]
    return sorted(set(found))


class EpisodeItem(pytest.Item):
    """One recorded episode, replayed by :func:`agent.replay.assert_replays`."""

    def __init__(self, *, folder: Path, **kw: Any) -> None:
        super().__init__(**kw)
        self.folder = folder
        self.add_marker("screenact")

    def runtest(self) -> None:
        """Replay the episode; an AssertionError names the first diverging step."""
        from agent.replay import assert_replays, replay_offline

        opt = self.config.getoption
        if opt("--screenact-offline"):
            report = replay_offline(self.folder)
            if not report.ok:
                raise AssertionError(report.summary())
            return
        kw: dict[str, Any] = {"reground": opt("--screenact-reground")}
        if opt("--screenact-tolerance") is not None:
            kw["tolerance"] = opt("--screenact-tolerance")
        assert_replays(self.folder, **kw)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """The replay's own message, without a traceback into screenact."""
        if isinstance(excinfo.value, (AssertionError, ValueError)):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.folder, None, f"screenact episode {self.name}"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Add one item per episode folder under each ``--screenact-episodes`` DIR (before -k and -m select)."""
    roots = [Path(d) for d in config.getoption("--screenact-episodes")]
    for root in roots:
        if not root.is_dir():
            raise pytest.UsageError(f"--screenact-episodes: {root} is not a folder")
    seen: set[str] = set()
    for root in roots:
        for folder in episode_folders(root):
            name = _task_id(folder)
            if name in seen:
                name = f"{name}[{folder.relative_to(root)}]"
            seen.add(name)
            items.append(EpisodeItem.from_parent(session, name=name, folder=folder))


def _task_id(folder: Path) -> str:
    """The recorded task's id (the folder's name when task.json names none or cannot be read)."""
    import json

    try:
        data = json.loads((folder / "task.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return folder.name
    task_id = data.get("id") if isinstance(data, dict) else None
    return task_id if isinstance(task_id, str) and task_id else folder.name
