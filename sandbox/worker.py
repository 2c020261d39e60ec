"""The process inside the sandbox: owns Xvfb, the window manager, the apps, and all input and capture.

This is the only module that imports pyautogui and mss, and it does so only after ``DISPLAY``
names the sandbox's own X server (pyautogui binds the display at import time). It talks to the
host over stdin/stdout with ``sandbox.protocol`` messages; module-level state is allowed here
because one worker process serves exactly one sandbox.

Run as ``python -m sandbox.worker CONFIG_JSON``.
"""

from __future__ import annotations

import ctypes
import errno
import json
import mmap
import os
import select
import signal
import socket
import stat
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.protocol import Channel, ChannelClosed

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_worker() -> None:
    """preexec_fn: the child gets SIGKILL when the worker's thread that started it dies."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass
class Child:
    """A process the worker started: Xvfb, the window manager, or an app."""

    name: str
    role: str  # "xvfb" | "wm" | "app"
    proc: subprocess.Popen
    reported: bool = False


class Worker:
    """Serves one sandbox: start the desktop, then answer requests until told to close."""

    def __init__(self, config: dict[str, Any], channel: Channel) -> None:
        self.cfg = config
        self.chan = channel
        self.width, self.height = int(config["width"]), int(config["height"])
        self.log_dir = Path(config["log_dir"])
        self.children: list[Child] = []
        self.env = dict(os.environ)
        self.frame_map: mmap.mmap | None = None
        self.viewers: list[subprocess.Popen] = []  # x11vnc per live-view connection; their exit is no fault
        self.video: tuple[subprocess.Popen, int] | None = None  # ffmpeg recording the screen, and its log

    # -- start-up -------------------------------------------------------------------------
    def _spawn(self, name: str, role: str, argv: list[str], **kw: Any) -> Child:
        log = open(self.log_dir / f"{len(self.children):02d}-{Path(name).name}.log", "ab", buffering=0)
        proc = subprocess.Popen(
            argv,
            env=kw.pop("env", self.env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            preexec_fn=_die_with_worker,
            close_fds=True,
            **kw,
        )
        log.close()
        child = Child(name, role, proc)
        self.children.append(child)
        return child

    def start(self) -> dict[str, Any]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        home = Path(self.env.get("HOME", "/tmp/home"))
        home.mkdir(parents=True, exist_ok=True)
        rfd, wfd = os.pipe()
        xvfb = self._spawn(
            "Xvfb",
            "xvfb",
            ["Xvfb", "-displayfd", str(wfd), "-screen", "0", f"{self.width}x{self.height}x24",
             "-nolisten", "tcp", "-noreset", "-dpi", "96", "+extension", "XTEST"],
            pass_fds=(wfd,),
        )
        os.close(wfd)
        # Heavy imports overlap with the X server's start-up.
        import PIL.Image  # noqa: F401  (pyautogui's dependencies)
        import pymsgbox  # noqa: F401
        import pyscreeze  # noqa: F401
        import pytweening  # noqa: F401

        number = b""
        deadline = time.monotonic() + 15
        while not number.endswith(b"\n"):
            if xvfb.proc.poll() is not None:
                raise RuntimeError(f"Xvfb exited with code {xvfb.proc.returncode} during start-up: {self._log_tail(xvfb)}")
            if time.monotonic() > deadline:
                raise RuntimeError("Xvfb did not start within 15 s")
            if select.select([rfd], [], [], 0.1)[0]:
                part = os.read(rfd, 64)
                if not part:
                    break
                number += part
        os.close(rfd)
        display = ":" + number.decode().strip()
        os.environ["DISPLAY"] = self.env["DISPLAY"] = display

        rc = Path(__file__).resolve().parent / "data" / "openbox-rc.xml"
        wm_argv = self.cfg.get("wm") or ["openbox", "--sm-disable", "--config-file", str(rc)]
        self._spawn(wm_argv[0], "wm", wm_argv)

        from Xlib import X
        from Xlib.display import Display

        self.xd = Display(display)
        self.X = X
        import mss
        import pyautogui

        pyautogui.PAUSE = 0
        pyautogui.FAILSAFE = False  # a screen corner is a legal click target
        pyautogui.MINIMUM_DURATION = 0
        self.pg = pyautogui
        self.grabber = mss.MSS(display=display) if hasattr(mss, "MSS") else mss.mss(display=display)
        from sandbox.keyboard import Keyboard

        self.keyboard = Keyboard(self.xd)
        self._wait_for_wm()
        # The host's sealed memfd: no path, and nobody can shrink it under the host's mapping.
        fd = int(self.cfg["fds"]["frame"])
        self.frame_map = mmap.mmap(fd, self.width * self.height * 4)
        os.close(fd)
        first = self.op_screenshot()
        return {"display": display, "pid": os.getpid(), "first_frame": first,
                "spare_keycodes": self.keyboard.spare_keycodes}

    def _wait_for_wm(self, timeout: float = 10.0) -> None:
        root = self.xd.screen().root
        atom = self.xd.intern_atom("_NET_SUPPORTING_WM_CHECK")
        deadline = time.monotonic() + timeout
        while root.get_full_property(atom, self.X.AnyPropertyType) is None:
            wm = next(c for c in self.children if c.role == "wm")
            if wm.proc.poll() is not None:
                raise RuntimeError(f"window manager {wm.name} exited with code {wm.proc.returncode}: {self._log_tail(wm)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"window manager did not start within {timeout:.0f} s")
            time.sleep(0.005)

    def _log_tail(self, child: Child) -> str:
        logs = sorted(self.log_dir.glob(f"*-{Path(child.name).name}.log"))
        if not logs:
            return ""
        return logs[-1].read_bytes()[-400:].decode(errors="replace").strip()

    # -- health ---------------------------------------------------------------------------
    def check_children(self) -> tuple[str, bool] | None:
        """A message about the first part that died since the last check, and whether it is fatal."""
        for child in self.children:
            code = child.proc.poll()
            if code is None or child.reported:
                continue
            if child.role in ("xvfb", "wm"):
                child.reported = True
                what = "Xvfb" if child.role == "xvfb" else f"window manager {child.name}"
                return f"{what} exited with code {code}", True
            if code != 0:
                child.reported = True
                return f"app {child.name} (pid {child.proc.pid}) exited with code {code}", False
        return None

    # -- operations -------------------------------------------------------------------------
    def op_screenshot(self) -> dict[str, Any]:
        t = time.time()
        shot = self.grabber.grab({"left": 0, "top": 0, "width": self.width, "height": self.height})
        raw = shot.raw
        assert self.frame_map is not None
        self.frame_map[: len(raw)] = raw
        pointer = self.xd.screen().root.query_pointer()
        return {"width": shot.width, "height": shot.height, "captured_at": t,
                "cursor": [pointer.root_x, pointer.root_y]}

    def op_act(self, action: dict[str, Any]) -> dict[str, Any]:
        pg, kind = self.pg, action["type"]
        if kind == "click":
            x, y = round(action["x"]), round(action["y"])
            pg.moveTo(x, y)
            self._focus_under_pointer()
            pg.click(x, y, clicks=int(action.get("clicks", 1)), interval=0.0, button=action.get("button", "left"))
        elif kind == "move":
            pg.moveTo(round(action["x"]), round(action["y"]))
        elif kind == "drag":
            self._drag(action)
        elif kind == "mouse_down":
            self._focus_under_pointer()
            pg.mouseDown(button=action.get("button", "left"))
        elif kind == "mouse_up":
            pg.mouseUp(button=action.get("button", "left"))
        elif kind == "scroll":
            x, y = action.get("x"), action.get("y")
            if x is not None and y is not None:
                pg.moveTo(round(x), round(y))
            if action.get("dy"):
                pg.vscroll(int(action["dy"]))
            if action.get("dx"):
                pg.hscroll(int(action["dx"]))
        elif kind == "type":
            self.keyboard.type_text(action["text"])
        elif kind == "key":
            self._combo(action["keys"])
        elif kind == "key_down":
            self._key(action["key"], down=True)
        elif kind == "key_up":
            self._key(action["key"], down=False)
        elif kind in ("wait", "done", "fail"):
            pass
        else:
            raise ValueError(f"unknown action type {kind!r}")
        self.xd.sync()
        pos = pg.position()
        return {"cursor": [pos.x, pos.y]}

    def _client_under_pointer(self) -> Any:
        """The managed top-level window (one with WM_STATE) under the pointer, or None."""
        wm_state = self.xd.intern_atom("WM_STATE")
        win = self.xd.screen().root.query_pointer().child
        for _ in range(8):  # root -> window-manager frame -> client; a few levels at most
            if not win:
                return None
            if win.get_full_property(wm_state, self.X.AnyPropertyType) is not None:
                return win
            pointer = win.query_pointer()
            win = pointer.child
        return None

    def _focus_under_pointer(self, timeout: float = 0.5) -> None:
        """Click to focus, done here rather than by the window manager (see sandbox/data/openbox-rc.xml):
        ask it to activate the window under the pointer and wait until it has, so that keys typed after
        this click go to that window. Windows that refuse focus are left alone after ``timeout``."""
        from Xlib import X
        from Xlib.protocol import event

        try:
            client = self._client_under_pointer()
        except Exception:  # a window vanished while we walked the tree
            return
        if client is None:
            return
        root = self.xd.screen().root
        active_atom = self.xd.intern_atom("_NET_ACTIVE_WINDOW")

        def active() -> int | None:
            prop = root.get_full_property(active_atom, X.AnyPropertyType)
            return int(prop.value[0]) if prop and len(prop.value) else None

        if active() == client.id:
            return
        message = event.ClientMessage(window=client, client_type=active_atom,
                                      data=(32, [2, X.CurrentTime, 0, 0, 0]))  # 2: a pager/tool asks
        root.send_event(message, event_mask=X.SubstructureRedirectMask | X.SubstructureNotifyMask)
        self.xd.sync()
        deadline = time.monotonic() + timeout
        while active() != client.id and time.monotonic() < deadline:
            time.sleep(0.002)

    def _drag(self, a: dict[str, Any]) -> None:
        pg = self.pg
        x1, y1, x2, y2 = (round(a[k]) for k in ("x1", "y1", "x2", "y2"))
        button = a.get("button", "left")
        pg.moveTo(x1, y1)
        self._focus_under_pointer()
        pg.mouseDown(button=button)
        steps = 8  # intermediate motion events: toolkits start a drag only after movement
        for i in range(1, steps + 1):
            pg.moveTo(x1 + (x2 - x1) * i // steps, y1 + (y2 - y1) * i // steps)
        pg.mouseUp(button=button)

    def _key(self, name: str, down: bool) -> None:
        if len(name) == 1:
            (self.keyboard.char_down if down else self.keyboard.char_up)(name)
            return
        mapping = self.pg._pyautogui_x11.keyboardMapping
        if mapping.get(name) is None:
            raise ValueError(f"key {name!r} has no keycode on this X server")
        (self.pg.keyDown if down else self.pg.keyUp)(name)

    def _combo(self, keys: list[str]) -> None:
        pressed: list[str] = []
        try:
            for k in keys:
                self._key(k, down=True)
                pressed.append(k)
        finally:
            for k in reversed(pressed):
                self._key(k, down=False)

    def op_launch(self, argv: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> dict[str, Any]:
        full_env = {**self.env, **(env or {})}
        child = self._spawn(argv[0], "app", list(argv), env=full_env, cwd=cwd)
        return {"pid": child.proc.pid, "name": Path(argv[0]).name}

    def op_run(self, argv: list[str], timeout: float, input: str | None = None,
               env: dict[str, str] | None = None, cwd: str | None = None) -> dict[str, Any]:
        try:
            done = subprocess.run(argv, env={**self.env, **(env or {})}, cwd=cwd, input=input,
                                  capture_output=True, text=True, errors="replace", timeout=timeout,
                                  preexec_fn=_die_with_worker)
        except subprocess.TimeoutExpired as exc:
            return {"code": None, "stdout": _text(exc.stdout), "stderr": _text(exc.stderr),
                    "timed_out": True}
        except OSError as exc:
            return {"code": 127, "stdout": "", "stderr": f"{argv[0]}: {exc.strerror}", "timed_out": False}
        return {"code": done.returncode, "stdout": done.stdout, "stderr": done.stderr, "timed_out": False}

    def op_read_file(self, path: str, limit: int = 16 << 20, follow: bool = True) -> dict[str, Any]:
        if follow:
            data = Path(path).read_bytes()[: limit + 1]
        else:  # a regular file only: no symlink at the end, no FIFO or device to block on
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise ValueError(f"{path} is a symbolic link") from None
                raise
            with os.fdopen(fd, "rb") as f:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise ValueError(f"{path} is not a regular file")
                data = f.read(limit + 1)
        if len(data) > limit:
            raise ValueError(f"{path} is larger than {limit} bytes")
        return {"hex": data.hex()}

    def op_write_file(self, path: str, hex: str, mode: int = 0o644) -> dict[str, Any]:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.tmp")
        tmp.write_bytes(bytes.fromhex(hex))
        tmp.chmod(mode)
        os.replace(tmp, p)
        return {}

    def op_log_tail(self, limit: int = 800) -> dict[str, Any]:
        logs = sorted(self.log_dir.glob("*.log"))
        if not logs:
            return {"text": ""}
        try:
            with open(logs[-1], "rb") as f:
                size = os.fstat(f.fileno()).st_size
                f.seek(max(0, size - limit))
                tail = f.read(limit).decode(errors="replace").strip()
        except OSError:  # an app replaced or removed its log
            return {"text": ""}
        return {"text": f"log {logs[-1].name}: {tail}" if tail else ""}

    def op_windows(self) -> dict[str, Any]:
        X = self.X
        root = self.xd.screen().root
        net_list = self.xd.intern_atom("_NET_CLIENT_LIST")
        net_name = self.xd.intern_atom("_NET_WM_NAME")
        utf8 = self.xd.intern_atom("UTF8_STRING")
        net_pid = self.xd.intern_atom("_NET_WM_PID")
        prop = root.get_full_property(net_list, X.AnyPropertyType)
        out = []
        for wid in (prop.value if prop else []):
            win = self.xd.create_resource_object("window", wid)
            try:
                name = win.get_full_property(net_name, utf8)
                title = name.value.decode("utf-8", "replace") if name else (win.get_wm_name() or "")
                if isinstance(title, bytes):
                    title = title.decode("latin-1")
                geo = win.get_geometry()
                pos = win.translate_coords(root, 0, 0)
                pid = win.get_full_property(net_pid, X.AnyPropertyType)
                attrs = win.get_attributes()
            except Exception:  # the window vanished between listing and asking
                continue
            out.append({"id": wid, "title": title, "x": -pos.x, "y": -pos.y, "width": geo.width,
                        "height": geo.height, "pid": int(pid.value[0]) if pid else None,
                        "mapped": attrs.map_state == X.IsViewable})
        return {"windows": out}

    def op_kill_app(self, pid: int, sig: int = signal.SIGTERM) -> dict[str, Any]:
        for child in self.children:
            if child.proc.pid == pid:
                child.reported = True  # an exit the caller asked for is not a fault
                child.proc.send_signal(sig)
                return {}
        raise ValueError(f"no app with pid {pid}")

    def op_view(self, nonce: str, control: bool = False) -> dict[str, Any]:
        """Serve one live-view connection: the host sent its socket over the carrier with ``nonce``."""
        conn = socket.socket(fileno=self._received_fd(nonce))
        # beside the apps' logs, not among them: log_tail reports the newest app's
        with conn, open(self.log_dir.parent / "x11vnc.log", "ab", buffering=0) as log:
            proc = subprocess.Popen(viewer_argv(self.env["DISPLAY"], control), env=self.env, stdin=conn,
                                    stdout=conn, stderr=log, preexec_fn=_die_with_worker, close_fds=True)
        self.viewers = [v for v in self.viewers if v.poll() is None] + [proc]
        return {"pid": proc.pid}

    def op_video_start(self, nonce: str, fps: int) -> dict[str, Any]:
        """Record the screen into the memfd the host sent with ``nonce`` (sandbox/video.py)."""
        from sandbox.video import video_argv

        if self.video is not None:
            raise ValueError("a video is already being recorded")
        out = self._received_fd(nonce)
        log = os.memfd_create("ffmpeg-log", os.MFD_CLOEXEC)  # no path an app could swap or fill for us
        try:
            proc = subprocess.Popen(video_argv(self.env["DISPLAY"], self.width, self.height, int(fps), out),
                                    env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    pass_fds=(out,), preexec_fn=_die_with_worker, close_fds=True)
        except BaseException:
            os.close(log)
            raise
        finally:
            os.close(out)
        self.video = (proc, log)
        return {"pid": proc.pid, "started_at": self._first_frame(proc, log)}

    @staticmethod
    def _first_frame(proc: subprocess.Popen, log: int, timeout: float = 5.0) -> float | None:
        """Wait until ffmpeg has grabbed its first frame (its log says when), so that what the episode does
        next is on the video; None if it did not say within ``timeout``."""
        from sandbox.video import first_frame_time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            started = first_frame_time(os.pread(log, 64 << 10, 0))
            if started is not None:
                return started
            time.sleep(0.02)
        return None

    def op_video_stop(self) -> dict[str, Any]:
        """Stop ffmpeg with SIGINT (it writes the WebM trailer) and say when its first frame was taken."""
        from sandbox.video import STOP_TIMEOUT_S, first_frame_time

        if self.video is None:
            raise ValueError("no video is being recorded")
        (proc, log), self.video = self.video, None
        stopped_at = time.time()
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGCONT)  # an app may have stopped it (same user); it must still hear the SIGINT
        try:
            code = proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        text = os.pread(log, 64 << 10, 0)
        os.close(log)
        # 255: ffmpeg's exit after a signal it handled ("Exiting normally, received signal 2")
        finalised = code in (0, 255) and b"Exiting normally" in text
        return {"code": code, "started_at": first_frame_time(text), "stopped_at": stopped_at, "finalised": finalised,
                "problem": None if finalised else f"ffmpeg ended with code {code}: "
                f"{text[-300:].decode(errors='replace').strip()}"}

    def _received_fd(self, nonce: str, timeout: float = 5.0) -> int:
        """The descriptor the host sent over the carrier with ``nonce`` (the caller owns it)."""
        with socket.socket(fileno=os.dup(int(self.cfg["fds"]["view"]))) as carrier:
            carrier.settimeout(timeout)
            while True:  # a descriptor left by a request that failed on the host is closed and skipped
                msg, fds, _, _ = socket.recv_fds(carrier, 64, 4)
                if msg == nonce.encode() and len(fds) == 1:
                    return fds[0]
                for fd in fds:
                    os.close(fd)

    def op_ping(self) -> dict[str, Any]:
        return {"pid": os.getpid()}

    def shutdown(self) -> None:
        for viewer in self.viewers:
            viewer.kill()
        if self.video is not None:
            self.video[0].kill()
        for child in reversed(self.children):
            if child.proc.poll() is None:
                child.proc.terminate()
        deadline = time.monotonic() + 2
        for child in self.children:
            try:
                child.proc.wait(timeout=max(0.01, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()

    def serve(self) -> None:
        while True:
            try:
                request = self.chan.receive()
            except ChannelClosed:
                return
            op = request.pop("op", None)
            rid = request.pop("id", None)  # echoed: the host matches every reply to its request
            if op == "close":
                self.shutdown()
                self.chan.send({"ok": True, "id": rid, "result": {}})
                return
            died = self.check_children()
            if died is not None:
                message, fatal = died
                self.chan.send({"ok": False, "id": rid, "error": message, "fatal": fatal, "kind": "died"})
                continue
            handler = getattr(self, f"op_{op}", None)
            if handler is None:
                self.chan.send({"ok": False, "id": rid, "error": f"unknown operation {op!r}", "fatal": False})
                continue
            try:
                result = handler(**request)
            except Exception as exc:  # reported to the host, which raises SandboxError
                died = self.check_children()
                message = died[0] if died else f"{type(exc).__name__}: {exc}"
                fatal = bool(died and died[1])
                self.chan.send({"ok": False, "id": rid, "error": message, "fatal": fatal,
                                "trace": traceback.format_exc(limit=4)})
                continue
            self.chan.send({"ok": True, "id": rid, "result": result})


def viewer_argv(display: str, control: bool) -> list[str]:
    """x11vnc speaking RFB on its stdin/stdout (``-inetd``): it listens nowhere. ``-noremote`` and
    ``-nocmds``: apps cannot reconfigure it through X properties (say, switch view-only off) nor make it
    run commands; ``-nosel``: no clipboard crosses between the desktop and the viewer."""
    argv = ["x11vnc", "-inetd", "-display", display, "-nopw", "-norc", "-q", "-noremote", "-nocmds",
            "-nosel", "-rfbport", "0", "-nolookup"]
    return argv + ([] if control else ["-viewonly"])


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")


def main() -> None:
    # Not dumpable: processes of the same user (the apps) cannot open /proc/<worker>/fd/* or
    # /proc/<worker>/mem, so they cannot reach the channel or the frame memory.
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    config = json.loads(sys.argv[1])
    fds = config["fds"]  # the channel comes on descriptors bwrap's init closes, not on stdin/stdout
    chan = Channel(int(fds["requests"]), int(fds["replies"]))
    sys.stdout = sys.stderr
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    worker = Worker(config, chan)
    try:
        info = worker.start()
    except Exception as exc:
        chan.send({"ok": False, "id": config["id"], "error": f"sandbox start-up failed: {type(exc).__name__}: {exc}", "fatal": True})
        worker.shutdown()
        sys.exit(1)
    chan.send({"ok": True, "id": config["id"], "result": info})
    try:
        worker.serve()
    finally:
        worker.shutdown()


if __name__ == "__main__":
    main()
