"""``--record-video``: an episode's video, from the desktop's start to its close (``sandbox.video``).

:class:`EpisodeVideo` starts a recording on a desktop and, at the end, writes ``episode.webm`` into the
episode folder and what happened into ``result.json``'s ``video`` (file, bytes, ``started_at`` on the
wall clock, fps, whether ffmpeg finalised it, or the problem). A recording that cannot start or save
never fails the episode; it is recorded as a problem. The report places each step on the video at
``step.at - video.started_at``.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from agent.episode import update_result
from sandbox.video import DEFAULT_FPS, VIDEO_NAME

log = logging.getLogger("screenact.video")

__all__ = ["EpisodeVideo", "VIDEO_NAME", "video_problem"]


def video_problem() -> str | None:
    """Why videos cannot be recorded on this machine (no ffmpeg), or None."""
    if shutil.which("ffmpeg") is None:
        return "--record-video needs ffmpeg (Debian's ffmpeg package; `make deps` installs it)"
    return None


class EpisodeVideo:
    """One desktop's recording, saved into an episode folder."""

    def __init__(self, desktop: Any, fps: int = DEFAULT_FPS) -> None:
        self.recording: Any = None
        self.problem: str | None = None
        start = getattr(desktop, "record_video", None)
        if start is None:
            self.problem = f"{type(desktop).__name__} cannot record a video"
            return
        try:
            self.recording = start(fps)
        except Exception as exc:  # SandboxError (ffmpeg missing inside…): the episode goes on without
            self.problem = f"the video could not start: {exc}"
            log.warning("%s", self.problem)

    def save(self, folder: str | Path) -> dict[str, Any]:
        """Stop, write ``folder/episode.webm`` and merge ``video`` into ``result.json``; returns that record."""
        if self.recording is not None:
            record = self.recording.save(folder).record()
            self.recording = None
        else:
            record = {"file": None, "problem": self.problem or "no recording"}
        try:
            update_result(folder, video=record)
        except OSError as exc:  # the episode folder went away; the episode itself is what matters
            log.warning("the video record of %s was not written: %s", folder, exc)
        return record

    def discard(self) -> None:
        """Stop and drop the recording (no episode to keep it in)."""
        if self.recording is not None:
            self.recording.stop()
            self.recording.close()
            self.recording = None
