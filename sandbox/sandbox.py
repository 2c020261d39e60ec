"""The host side of a sandboxed desktop: start it, talk to its worker, tear it down."""

from __future__ import annotations

import json
import logging
import mmap
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel

from sandbox.errors import AppExited, IsolationUnavailable, SandboxError
from sandbox.isolation import IO_DIR_INSIDE, bwrap_argv, bwrap_problem
from sandbox.procs import ENV_TAG
from sandbox.protocol import Channel, ChannelClosed, ChannelTimeout
from tools.actions import ACTION_ADAPTER, Action
from tools.frame import Frame

log = logging.getLogger("screenact.sandbox")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class RunResult(NamedTuple):
    """Outcome of a command run inside the sandbox; ``code`` is None when it timed out."""

    code: int | None
    stdout: str
    stderr: str


@dataclass(frozen=True)
class App:
    """A process launched inside the sandbox."""

    pid: int
    name: str


@dataclass(frozen=True)
class Window:
    """A top-level window managed by the sandbox's window manager (screen pixels)."""

    id: int
    title: str
    x: int
    y: int
    width: int
    height: int
    pid: int | None = None
    mapped: bool = True


@dataclass(frozen=True)
class ActResult:
    """What happened when an action ran: ``ok`` False carries an ``error`` the model can read."""

    action: Action
    ok: bool
    duration_s: float
    cursor: tuple[int, int] | None = None
    error: str | None = None


def _kill_tree(proc: subprocess.Popen, io_dir: str) -> None:
    """Last resort at garbage collection or interpreter exit."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.kill()
        proc.wait()
    shutil.rmtree(io_dir, ignore_errors=True)


class Sandbox:
    """A private X desktop of exactly ``width`` × ``height`` pixels with a window manager and a worker.

    Use as a context manager. With ``isolate=True`` (the default) everything runs under bubblewrap with
    no network, private /tmp, home and /run, and an X socket nobody outside can reach. When bubblewrap
    cannot be used, :class:`IsolationUnavailable` is raised unless ``allow_unisolated=True``, in which
    case a warning says so and the desktop runs in plain child processes.
    """

    def __init__(
        self,
        width: int = 1920,
        height: int = 1080,
        isolate: bool = True,
        *,
        allow_unisolated: bool = False,
        call_timeout: float = 15.0,
        start_timeout: float = 30.0,
        env: dict[str, str] | None = None,
        wm: list[str] | None = None,
    ) -> None:
        if not (64 <= width <= 8192 and 64 <= height <= 8192):
            raise ValueError(f"screen size {width}x{height} is outside 64..8192 pixels")
        self.width, self.height = width, height
        self.call_timeout = call_timeout
        self.id = uuid.uuid4().hex[:12]
        self._closed = False
        self._fatal: str | None = None
        if isolate:
            problem = bwrap_problem()
            if problem is not None:
                if not allow_unisolated:
                    raise IsolationUnavailable(
                        f"{problem}; pass allow_unisolated=True (CLI: --no-isolate) to run the desktop without isolation")
                warnings.warn(f"screenact sandbox is NOT isolated: {problem}", RuntimeWarning, stacklevel=2)
                log.warning("sandbox is NOT isolated: %s", problem)
                isolate = False
        self.isolated = isolate
        shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        self._io_host = tempfile.mkdtemp(prefix=f"screenact-{self.id}-", dir=shm)
        io_inside = IO_DIR_INSIDE if isolate else self._io_host
        config = {"width": width, "height": height, "io_dir": io_inside, "wm": wm}
        worker_env = self._worker_env(env)
        argv = [sys.executable, "-m", "sandbox.worker", json.dumps(config)]
        if isolate:
            argv = bwrap_argv(self._io_host, PROJECT_ROOT) + argv
        t0 = time.monotonic()
        self._proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(os.path.join(self._io_host, "worker.log"), "wb"),
            env=worker_env, cwd="/", start_new_session=True,
            preexec_fn=None if isolate else _die_with_parent,
        )
        self._finalizer = weakref.finalize(self, _kill_tree, self._proc, self._io_host)
        assert self._proc.stdin and self._proc.stdout
        self._chan = Channel(self._proc.stdout.fileno(), self._proc.stdin.fileno())
        try:
            info = self._reply("start", self._receive("start", start_timeout))
        except BaseException:
            self.close()
            raise
        self.display: str = info["display"]
        self.worker_pid: int = info["pid"]
        self.start_seconds = time.monotonic() - t0
        fd = os.open(os.path.join(self._io_host, "frame.bgra"), os.O_RDONLY)
        self._frame_map = mmap.mmap(fd, width * height * 4, prot=mmap.PROT_READ)
        os.close(fd)
        self.first_frame = self._frame_from(info["first_frame"])

    def _worker_env(self, extra: dict[str, str] | None) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": "/tmp/home",
            "TMPDIR": "/tmp",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONPATH": str(PROJECT_ROOT),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            ENV_TAG: self.id,
        }
        if not self.isolated:
            env["HOME"] = os.path.join(self._io_host, "home")
            env["TMPDIR"] = self._io_host
        env.update(extra or {})
        return env

    # -- plumbing -------------------------------------------------------------------------
    def _receive(self, op: str, timeout: float) -> dict[str, Any]:
        try:
            return self._chan.receive(timeout)
        except ChannelTimeout:
            self._fatal = f"sandbox worker did not answer {op!r} within {timeout:.1f} s"
        except ChannelClosed:
            code = self._proc.wait(timeout=5)
            self._fatal = f"sandbox worker died (exit code {code}){self._log_hint()}"
        except ValueError as exc:
            self._fatal = f"sandbox worker sent a malformed reply to {op!r}: {exc}"
        self._teardown(force=True)
        raise SandboxError(self._fatal)

    def _reply(self, op: str, reply: dict[str, Any]) -> dict[str, Any]:
        if reply.get("ok"):
            return reply["result"]
        message = reply.get("error", "unknown error")
        if reply.get("fatal"):
            self._fatal = message
            self._teardown(force=True)
            raise SandboxError(message)
        if reply.get("kind") == "died":
            raise AppExited(message)
        raise SandboxError(f"{op} failed: {message}")

    def _call(self, op: str, call_timeout: float | None = None, **args: Any) -> dict[str, Any]:
        if self._closed:
            raise SandboxError(self._fatal or "sandbox is closed")
        try:
            self._chan.send({"op": op, **args})
        except ChannelClosed:
            return self._receive(op, 0.1)  # reports how the worker died
        return self._reply(op, self._receive(op, call_timeout or self.call_timeout))

    def _log_hint(self) -> str:
        try:
            tail = Path(self._io_host, "worker.log").read_bytes()[-600:].decode(errors="replace").strip()
        except OSError:
            return ""
        return f": {tail}" if tail else ""

    def _frame_from(self, meta: dict[str, Any]) -> Frame:
        n = meta["width"] * meta["height"] * 4
        cursor = tuple(meta["cursor"]) if meta.get("cursor") else None
        return Frame(meta["width"], meta["height"], self._frame_map[:n], meta["captured_at"], cursor)

    # -- the contract -----------------------------------------------------------------------
    def screenshot(self) -> Frame:
        """Capture the whole screen at native resolution."""
        return self._frame_from(self._call("screenshot"))

    def act(self, action: Action | dict[str, Any]) -> ActResult:
        """Execute one action (screen pixels). A fault of the desktop raises SandboxError;
        an action the desktop cannot carry out (e.g. a key it has no keycode for) returns ok=False."""
        if isinstance(action, dict):
            action = ACTION_ADAPTER.validate_python(action)
        elif not isinstance(action, BaseModel):
            raise TypeError(f"act() takes an Action, not {type(action).__name__}")
        t0 = time.monotonic()
        if action.type == "wait":
            time.sleep(action.seconds)
            self._call("ping")  # a fault during the wait surfaces now, not at the next call
            return ActResult(action, True, time.monotonic() - t0)
        payload = action.model_dump(mode="json")
        budget = self.call_timeout + (0.05 * len(payload.get("text", "")))
        try:
            result = self._call("act", call_timeout=budget, action=payload)
        except AppExited:
            raise
        except SandboxError as exc:
            if self._closed:
                raise
            return ActResult(action, False, time.monotonic() - t0, error=str(exc).removeprefix("act failed: "))
        return ActResult(action, True, time.monotonic() - t0, tuple(result["cursor"]))

    def launch(self, argv: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> App:
        """Start an app inside the sandbox (an argv list, never a shell string)."""
        _check_argv(argv)
        result = self._call("launch", argv=list(argv), env=env, cwd=cwd)
        return App(result["pid"], result["name"])

    def run(self, argv: list[str], timeout: float = 30.0, input: str | None = None,
            env: dict[str, str] | None = None, cwd: str | None = None) -> RunResult:
        """Run a command inside the sandbox and wait for it; ``code`` is None if it timed out."""
        _check_argv(argv)
        r = self._call("run", call_timeout=timeout + self.call_timeout, argv=list(argv), timeout=timeout,
                       input=input, env=env, cwd=cwd)
        stderr = r["stderr"] + (f"\n[timed out after {timeout:g} s]" if r["timed_out"] else "")
        return RunResult(r["code"], r["stdout"], stderr)

    def read_file(self, path: str) -> bytes:
        """The bytes of a file inside the sandbox."""
        return bytes.fromhex(self._call("read_file", path=path)["hex"])

    def write_file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        """Write a file inside the sandbox atomically (UTF-8 for str), creating folders."""
        raw = data.encode() if isinstance(data, str) else data
        self._call("write_file", path=path, hex=raw.hex(), mode=mode)

    def windows(self) -> list[Window]:
        """Top-level windows the window manager knows, with their screen geometry."""
        return [Window(**w) for w in self._call("windows")["windows"]]

    def wait_window(self, title: str, timeout: float = 10.0) -> Window:
        """Wait until a mapped window whose title contains ``title`` exists, and return it."""
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            for win in self.windows():
                if title in win.title and win.mapped:
                    return win
            if time.monotonic() > deadline:
                titles = [w.title for w in self.windows()]
                raise SandboxError(f"no window titled {title!r} within {timeout:g} s (windows: {titles})")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.1)

    def ping(self) -> None:
        """Check that every part is alive; raises SandboxError naming what died."""
        self._call("ping")

    @property
    def io_dir(self) -> Path:
        """Host folder shared with the worker (frame buffer, logs of the apps)."""
        return Path(self._io_host)

    def close(self) -> None:
        """Stop every process of the desktop and remove its files. Safe to call twice."""
        if self._closed:
            return
        self._teardown(force=False)

    def _teardown(self, force: bool) -> None:
        self._closed = True
        if not force and self._proc.poll() is None:
            try:
                self._chan.send({"op": "close"})
                self._chan.receive(5.0)
            except (ChannelClosed, ChannelTimeout, ValueError):
                pass
        try:
            self._proc.wait(timeout=0 if force else 3)
        except subprocess.TimeoutExpired:
            pass
        frame_map = getattr(self, "_frame_map", None)
        if frame_map is not None:
            frame_map.close()
        self._finalizer()  # kills what is left and removes the shared folder

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else self.display if hasattr(self, "display") else "starting"
        return f"<Sandbox {self.width}x{self.height} {state} isolated={self.isolated}>"


def _check_argv(argv: list[str]) -> None:
    if isinstance(argv, (str, bytes)) or not argv or not all(isinstance(a, str) for a in argv):
        raise TypeError(f"argv must be a non-empty list of strings (no shell strings), got {argv!r}")


def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
