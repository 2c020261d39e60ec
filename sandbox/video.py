"""A video of the desktop: ffmpeg's x11grab inside the sandbox, written into memory the host owns.

How (docs/video.md): the host makes a memfd and hands it to the worker over the descriptor carrier
(like a live-view connection); the worker starts ffmpeg with it inherited and the output named
``/proc/self/fd/N``: a seekable file without a path, so the WebM muxer finalises it (duration, cues).
At the end the worker stops ffmpeg with SIGINT (it writes the trailer), and the host copies at most
``max_bytes`` of the memfd to the episode folder through ``tools.safe_files.atomic_copy`` (a fresh
``mkstemp`` name, then ``os.replace``: nothing planted at the name is followed).

What the sandbox can do to it: an app (same uid as ffmpeg) can kill ffmpeg or write junk into the
memfd through ``/proc/<ffmpeg>/fd``. That spoils the video, never the host: memory written into the
memfd is charged to the sandbox's cgroup and file-size limit, and the host copies a bounded number of
bytes to a name of its own choosing. Nothing inside ever learns a host path.

This module is imported on both sides: :func:`video_argv` and :func:`first_frame_time` by the worker,
:class:`Recording` by the host.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VIDEO_NAME = "episode.webm"
DEFAULT_FPS = 5
MAX_VIDEO_BYTES = 512 << 20
STOP_TIMEOUT_S = 20.0


def video_argv(display: str, width: int, height: int, fps: int, out_fd: int) -> list[str]:
    """ffmpeg grabbing ``display`` at ``fps`` into WebM (VP8, realtime, one thread) on descriptor ``out_fd``.

    VP8 at ``-deadline realtime -cpu-used 16`` is libvpx's cheapest setting (bench/bench_video.py has the
    numbers); a mostly still desktop costs a few kB a second. A key frame every 10 s keeps seeking cheap."""
    return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "info", "-nostats", "-y",
            "-f", "x11grab", "-framerate", str(fps), "-video_size", f"{width}x{height}", "-draw_mouse", "1",
            "-i", display,
            "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "16", "-threads", "1", "-crf", "30",
            "-b:v", "2M", "-g", str(fps * 10), "-auto-alt-ref", "0", "-pix_fmt", "yuv420p",
            "-f", "webm", f"/proc/self/fd/{out_fd}"]


_START = re.compile(rb"Input #0, x11grab, from .*?\n\s*Duration: [^,]*, start: (\d{9,11}\.\d+)")


def first_frame_time(log: bytes) -> float | None:
    """The wall-clock time of the first grabbed frame, from ffmpeg's log: x11grab stamps frames with the
    wall clock, and the output starts at that stamp, so video time = wall time - this."""
    found = _START.search(log)
    return float(found.group(1)) if found else None


@dataclass(frozen=True)
class Video:
    """A recording as it ended: where it went (or why not), its size and its start on the wall clock."""

    file: str | None
    bytes: int
    started_at: float
    duration_s: float
    fps: int
    finalised: bool
    problem: str | None = None

    def record(self) -> dict[str, Any]:
        """What an episode's ``result.json`` keeps under ``video``."""
        out = {"file": self.file, "bytes": self.bytes, "started_at": round(self.started_at, 3),
               "duration_s": round(self.duration_s, 3), "fps": self.fps, "finalised": self.finalised, "codec": "vp8"}
        return out | ({"problem": self.problem} if self.problem else {})


class Recording:
    """One ffmpeg recording of a sandbox's screen; :meth:`save` stops it and writes the file.

    Made by ``Sandbox.record_video``; the host owns the memfd ffmpeg writes into."""

    def __init__(self, sandbox: Any, fps: int = DEFAULT_FPS) -> None:
        if not 1 <= fps <= 30:
            raise ValueError(f"video fps must be between 1 and 30, got {fps}")
        self.fps = fps
        self._sandbox = sandbox
        self._fd = os.memfd_create("screenact-video", os.MFD_CLOEXEC)
        self.requested_at = time.time()
        try:
            started = sandbox._call_with_fd("video_start", self._fd, fps=fps).get("started_at")
        except BaseException:
            os.close(self._fd)
            raise
        self.started_at = _plausible(started, self.requested_at)  # the first frame: video time 0
        self._stopped: dict[str, Any] | None = None

    def stop(self) -> dict[str, Any]:
        """Stop ffmpeg (it finalises the file); idempotent. A sandbox that died leaves what was written."""
        if self._stopped is None:
            try:
                self._stopped = self._sandbox._call("video_stop", call_timeout=STOP_TIMEOUT_S + 5)
            except Exception as exc:  # SandboxError: the desktop died; the memfd keeps what ffmpeg wrote
                self._stopped = {"finalised": False, "problem": f"the recording did not stop cleanly ({exc})"}
        return self._stopped

    def save(self, folder: str | Path, name: str = VIDEO_NAME, max_bytes: int = MAX_VIDEO_BYTES) -> Video:
        """Stop, then copy the video to ``folder/name`` (at most ``max_bytes``; a planted link is replaced,
        never followed). Never raises for a bad recording: :attr:`Video.problem` says what went wrong."""
        from tools.safe_files import UnsafeFile, atomic_copy

        stopped = self.stop()
        started = _plausible(stopped.get("started_at"), self.started_at)
        duration = max(0.0, _plausible(stopped.get("stopped_at"), time.time()) - started)
        finalised = stopped.get("finalised") is True
        problem = stopped.get("problem") if isinstance(stopped.get("problem"), str) else None
        try:
            size = atomic_copy(Path(folder) / name, self._fd, max_bytes) if os.fstat(self._fd).st_size else 0
        except UnsafeFile as exc:
            return Video(None, 0, started, duration, self.fps, False, str(exc))
        finally:
            self.close()
        if size == 0:
            return Video(None, 0, started, duration, self.fps, False, problem or "ffmpeg wrote nothing")
        return Video(name, size, started, duration, self.fps, finalised, problem)

    def close(self) -> None:
        """Release the memfd (the recording's memory); idempotent."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _plausible(value: Any, host_time: float) -> float:
    """A time the worker reported when it is a number close to the host's own idea of it (what the worker
    says comes from inside the sandbox), else the host's."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value - host_time) <= 60:
        return float(value)
    return host_time
