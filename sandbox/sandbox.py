"""The host side of a sandboxed desktop: start it, talk to its worker, tear it down."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import mmap
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from pydantic import BaseModel

from sandbox.errors import AppExited, IsolationUnavailable, ResourceLimitExceeded, SandboxError
from sandbox.isolation import bwrap_argv, bwrap_problem
from sandbox.limits import Cgroup, Limits, cgroup_name, set_rlimits
from sandbox.procs import ENV_TAG
from sandbox.protocol import Channel, ChannelClosed, ChannelTimeout
from sandbox.view import PROJECT_ROOT, SANDBOX_HOME, SANDBOX_USER, SHIMS_DIR, passwd
from tools.actions import ACTION_ADAPTER, Action
from tools.frame import SCREEN_SIDE, Frame

if TYPE_CHECKING:
    from sandbox.video import Recording

log = logging.getLogger("screenact.sandbox")
LOG_DIR_INSIDE = "/tmp/.screenact/logs"  # the apps' logs: inside only, the host reads them through the worker
LOG_TAIL = 600


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


@dataclass
class _Resources:
    """What a sandbox holds on the host; released at close, at garbage collection or at interpreter exit."""

    proc: subprocess.Popen
    fds: list[int]
    cgroup: Cgroup | None
    io_dir: str | None

    def release(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.kill()
            self.proc.wait()
        if self.cgroup is not None:
            self.cgroup.remove()  # the PID namespace dies with bwrap; its last processes may take a moment
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds.clear()
        if self.io_dir is not None:
            shutil.rmtree(self.io_dir, ignore_errors=True)


def _frame_memory(size: int) -> int:
    """A memfd of exactly ``size`` bytes, sealed so that nobody can shrink, grow or unseal it:
    a truncated frame buffer would kill the host with SIGBUS at the next read."""
    fd = os.memfd_create("screenact-frame", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, size)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
    return fd


def _child_setup(procs_files: list[str], limits: Limits, memory_rlimit: bool, nproc: bool,
                 die_with_parent: bool) -> Callable[[], None]:
    """preexec_fn of the worker (or bwrap): join the cgroup, set rlimits, die with the host if unisolated."""

    def setup() -> None:
        for path in procs_files:
            fd = os.open(path, os.O_WRONLY)
            os.write(fd, b"0")
            os.close(fd)
        set_rlimits(limits, memory=memory_rlimit, processes=nproc)
        if die_with_parent:
            _die_with_parent()

    return setup


class Sandbox:
    """A private X desktop of exactly ``width`` × ``height`` pixels with a window manager and a worker.

    Use as a context manager. With ``isolate=True`` (the default) everything runs under bubblewrap as an
    unprivileged user without capabilities, with no network, an allow-listed read-only view of the host
    (see docs/sandbox.md) and private size-capped /tmp, home and /run. ``limits`` caps memory, processes,
    tmpfs and file sizes; hitting the memory or process limit ends the sandbox with
    :class:`ResourceLimitExceeded` where the host offers cgroups. ``share`` lists extra host paths the
    sandbox may read. When bubblewrap cannot be used, :class:`IsolationUnavailable` is raised unless
    ``allow_unisolated=True``, in which case a warning says so and the desktop runs in plain child processes.
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
        limits: Limits | None = None,
        share: Sequence[str | os.PathLike[str]] = (),
    ) -> None:
        low, high = SCREEN_SIDE
        if not (low <= width <= high and low <= height <= high):
            raise ValueError(f"screen size {width}x{height} is outside {low}..{high} pixels")
        self.width, self.height = width, height
        self.call_timeout = call_timeout
        self.limits = limits or Limits()
        shares = tuple(_check_share(p) for p in share)
        self.id = uuid.uuid4().hex[:12]
        self._closed = False
        self._lock = threading.RLock()  # one request at a time: a live view asks from its own thread
        self._fatal: str | None = None
        self._fatal_type: type[SandboxError] = SandboxError
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
        t0 = time.monotonic()
        self._start(wm, env, shares, start_timeout)
        self.start_seconds = time.monotonic() - t0

    def _start(self, wm: list[str] | None, env: dict[str, str] | None, shares: tuple[str, ...],
               start_timeout: float) -> None:
        home = (env or {}).get("HOME", SANDBOX_HOME)
        if self.isolated:
            passwd(home)  # a HOME that cannot be written into /etc/passwd is refused before anything starts
        io_host = None if self.isolated else tempfile.mkdtemp(prefix=f"screenact-{self.id}-")
        self._io_host = io_host
        frame_fd = _frame_memory(self.width * self.height * 4)
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        # The worker's log: a memfd, so there is no path to swap for a symlink, and what the sandbox writes
        # into it (bwrap's init holds it as stdout) is memory charged to the sandbox, not the host's disk.
        self._log_fd = os.memfd_create("screenact-worker-log", os.MFD_CLOEXEC)
        self._start_id = secrets.token_hex(8)
        # Live-view connections reach the worker as descriptors over this pair (see open_view): nothing
        # listens anywhere, so no process inside or in another sandbox has an address to connect to.
        view_host, view_worker = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._view_fd = view_host.detach()
        view_worker_fd = view_worker.detach()
        config = {"width": self.width, "height": self.height, "wm": wm, "id": self._start_id,
                  "log_dir": LOG_DIR_INSIDE if self.isolated else os.path.join(io_host, "logs"),
                  "fds": {"requests": req_r, "replies": rep_w, "frame": frame_fd, "view": view_worker_fd}}
        argv = [sys.executable, "-m", "sandbox.worker", json.dumps(config)]
        view = None
        if self.isolated:
            # /etc/passwd names the HOME the processes get: ~user, getpwuid and $HOME agree
            prefix, view = bwrap_argv(self.limits.tmpfs_bytes, shares, home)
            argv = prefix + argv
        self._cgroup = Cgroup.create(cgroup_name(self.id), self.limits)
        setup = _child_setup(self._cgroup.procs_files() if self._cgroup else [], self.limits,
                             memory_rlimit=self._cgroup is None, nproc=self.isolated,
                             die_with_parent=not self.isolated)
        try:
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=self._log_fd, stderr=self._log_fd,
                env=self._worker_env(env), cwd="/", start_new_session=True,
                pass_fds=(req_r, rep_w, frame_fd, view_worker_fd, *(view.fds if view else ())), preexec_fn=setup,
            )
        except BaseException:
            for fd in (req_r, req_w, rep_r, rep_w, frame_fd, self._log_fd, self._view_fd, view_worker_fd):
                os.close(fd)
            if self._cgroup is not None:
                self._cgroup.remove()
            raise
        finally:
            if view is not None:
                view.close()
        os.close(req_r)
        os.close(rep_w)
        os.close(view_worker_fd)
        self._resources = _Resources(self._proc, [rep_r, req_w, frame_fd, self._log_fd, self._view_fd],
                                     self._cgroup, io_host)
        self._finalizer = weakref.finalize(self, self._resources.release)
        self._chan = Channel(rep_r, req_w)
        self._frame_map = mmap.mmap(frame_fd, self.width * self.height * 4, prot=mmap.PROT_READ)
        try:
            info = self._reply("start", self._receive("start", start_timeout), self._start_id)
        except BaseException:
            self.close()
            raise
        self.display: str = info["display"]
        self.worker_pid: int = info["pid"]
        self.first_frame = self._frame_from(info["first_frame"])

    def _worker_env(self, extra: dict[str, str] | None) -> dict[str, str]:
        path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
        env = {
            "PATH": f"{SHIMS_DIR}:{path}" if self.isolated else path,
            "HOME": SANDBOX_HOME,
            "USER": SANDBOX_USER,
            "LOGNAME": SANDBOX_USER,
            "TMPDIR": "/tmp",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONPATH": str(PROJECT_ROOT),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            ENV_TAG: self.id,
        }
        if not self.isolated:
            assert self._io_host is not None
            env["HOME"] = os.path.join(self._io_host, "home")
            env["TMPDIR"] = self._io_host
            del env["USER"], env["LOGNAME"]
        env.update(extra or {})
        return env

    # -- plumbing -------------------------------------------------------------------------
    def _receive(self, op: str, timeout: float) -> dict[str, Any]:
        try:
            reply = self._chan.receive(timeout)
            if isinstance(reply, dict):
                return reply
            self._fatal = f"sandbox worker sent a reply to {op!r} that is not an object"
        except ChannelTimeout:
            self._fatal = f"sandbox worker did not answer {op!r} within {timeout:.1f} s"
        except ChannelClosed:
            try:
                code: int | None = self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            self._fatal = f"sandbox worker died (exit code {code}){self._log_hint()}"
        except ValueError as exc:
            self._fatal = f"sandbox worker sent a malformed reply to {op!r}: {exc}"
        self._end(self._fatal)

    def _end(self, message: str) -> NoReturn:
        """Tear the sandbox down and raise: ResourceLimitExceeded if a limit explains the end."""
        limit = self._cgroup.exceeded() if self._cgroup is not None else None
        self._fatal = limit or message
        self._fatal_type = ResourceLimitExceeded if limit else SandboxError
        self._teardown(force=True)
        raise self._fatal_type(self._fatal)

    def _check_limits(self) -> None:
        if self._cgroup is not None and self._cgroup.exceeded():
            self._end("limit")

    def _reply(self, op: str, reply: dict[str, Any], request_id: str) -> dict[str, Any]:
        if reply.get("id") != request_id:
            # Only the worker holds the reply pipe; anything else on it is forged or stale.
            self._end(f"sandbox worker sent a reply to another request than {op!r} (forged or stale)")
        if reply.get("ok"):
            result = reply.get("result")
            if not isinstance(result, dict):
                self._end(f"sandbox worker sent a malformed reply to {op!r}")
            return result
        message = reply.get("error", "unknown error")
        if reply.get("fatal"):
            self._end(message)
        if reply.get("kind") == "died":
            raise AppExited(message)
        raise SandboxError(f"{op} failed: {message}")

    def _call(self, op: str, call_timeout: float | None = None, **args: Any) -> dict[str, Any]:
        with self._lock:
            if self._closed:
                raise self._fatal_type(self._fatal or "sandbox is closed")
            request_id = secrets.token_hex(8)
            try:
                self._chan.send({"op": op, "id": request_id, **args})
            except ChannelClosed:
                self._receive(op, 0.1)  # reports how the worker died
            reply = self._receive(op, call_timeout or self.call_timeout)
            self._check_limits()  # a process the kernel killed at a limit ends the sandbox, whatever the reply
            return self._reply(op, reply, request_id)

    def _log_hint(self) -> str:
        """The end of the worker's log (a memfd, never a path), capped."""
        try:
            size = os.fstat(self._log_fd).st_size
            tail = os.pread(self._log_fd, LOG_TAIL, max(0, size - LOG_TAIL)).decode(errors="replace").strip()
        except OSError:
            return ""
        return f": {tail}" if tail else ""

    def _frame_from(self, meta: dict[str, Any]) -> Frame:
        if (meta.get("width"), meta.get("height")) != (self.width, self.height):
            self._end(f"sandbox worker reported a frame of {meta.get('width')}x{meta.get('height')} "
                      f"for a {self.width}x{self.height} screen")
        cursor = tuple(meta["cursor"]) if meta.get("cursor") else None
        return Frame(self.width, self.height, self._frame_map[:], meta["captured_at"], cursor)

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

    def read_file(self, path: str, *, follow: bool = True, limit: int = 16 << 20) -> bytes:
        """The bytes of a file inside the sandbox (at most ``limit``; a larger file is an error).
        ``follow=False``: only a regular file, not a symbolic link (for files a checker judges)."""
        return bytes.fromhex(self._call("read_file", path=path, follow=follow, limit=limit)["hex"])

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
                titles = ", ".join(repr(w.title) for w in self.windows()) or "none"
                raise SandboxError(f"no window titled {title!r} within {timeout:g} s (open windows: {titles})")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.1)

    def open_view(self, control: bool = False) -> socket.socket:
        """A new RFB (VNC) connection to this desktop, served by an ``x11vnc -inetd`` the worker starts on
        the other end of a fresh socket pair; read-only unless ``control``. The caller owns the socket."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._call_with_fd("view", theirs.fileno(), control=control)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return ours

    def record_video(self, fps: int = 5) -> "Recording":
        """Start recording the screen (ffmpeg's x11grab inside, WebM into memory the host owns);
        ``Recording.save(folder)`` stops it and writes ``episode.webm``. See sandbox/video.py."""
        from sandbox.video import Recording

        return Recording(self, fps)

    def _call_with_fd(self, op: str, fd: int, **args: Any) -> dict[str, Any]:
        """Send ``fd`` to the worker over the descriptor carrier, then ask it to take it for ``op``."""
        with self._lock:
            if self._closed:
                raise self._fatal_type(self._fatal or "sandbox is closed")
            nonce = secrets.token_hex(8)  # pairs the descriptor with this request, not a stale one
            with socket.socket(fileno=os.dup(self._view_fd)) as carrier:
                socket.send_fds(carrier, [nonce.encode()], [fd])
            return self._call(op, nonce=nonce, **args)

    def ping(self) -> None:
        """Check that every part is alive; raises SandboxError naming what died."""
        self._call("ping")

    def app_log_tail(self, limit: int = 800) -> str:
        """The end of the newest app log inside the sandbox ("" if there is none), to explain a failed start."""
        return str(self._call("log_tail", limit=limit)["text"])

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
        self._finalizer()  # kills what is left, closes the channel, frame memory and log, removes the cgroup

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


def _check_share(path: str | os.PathLike[str]) -> str:
    text = os.fspath(path)
    if not os.path.isabs(text) or not os.path.exists(text):
        raise ValueError(f"share: {text!r} is not an absolute path that exists")
    return text


def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
