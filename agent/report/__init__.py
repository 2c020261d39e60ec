"""HTML reports: an episode folder or a whole run folder as one self-contained page.

``render_report(path)`` looks at the folder and writes ``report.html`` inside it: the episode page
for an episode folder (``task.json``, ``steps.jsonl``, ``step-NNNN.png``, ``result.json``), or, for a
run folder (``results.json`` plus one episode folder per task), the run page and every episode page.
``write_run_report(run_folder)`` is what ``screenact run`` calls at the end. Pages carry their CSS,
script and frames inline (base64), so one file can be mailed or attached to a CI run as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from agent.report.episode_page import REPORT_NAME, render_episode, write_episode_report
from agent.report.run_page import RESULTS_FILE, is_episode_folder, load_run, render_run, write_run_report

__all__ = ["REPORT_NAME", "NotAReportFolder", "detect", "render_report", "write_episode_report",
           "write_run_report", "render_episode", "render_run", "load_run"]


class NotAReportFolder(ValueError):
    """The path is neither an episode folder nor a run folder."""


def detect(path: str | Path) -> Literal["episode", "run"]:
    """Whether ``path`` is an episode folder or a run folder.

    A run folder has ``results.json``, or (a run that died early) no episode files of its own but
    sub-folders that are episodes. Raises ``FileNotFoundError`` if ``path`` is not a folder and
    ``NotAReportFolder`` if it is neither kind.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    if (folder / RESULTS_FILE).exists():
        return "run"
    if is_episode_folder(folder):
        return "episode"
    if any(p.is_dir() and is_episode_folder(p) for p in folder.iterdir()):
        return "run"
    raise NotAReportFolder(f"{folder} is neither an episode folder (task.json, steps.jsonl, step-NNNN.png, "
                           f"result.json) nor a run folder ({RESULTS_FILE} and episode folders)")


def render_report(path: str | Path, out: str | Path | None = None) -> Path:
    """Render the episode or run folder ``path``; returns the page written (default ``path/report.html``).

    For a run folder every episode page is written into its own folder as well.
    """
    if detect(path) == "run":
        return write_run_report(path, out)
    return write_episode_report(path, out)
