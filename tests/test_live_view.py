"""The live view: ``screenact sandbox --view`` served to headless Chromium (Playwright), its door, and
that the VNC server inside listens nowhere an app of this or another sandbox could connect to."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
from PIL import Image

from sandbox import Sandbox
from tests.ui_harness import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parent.parent
SCREEN = (640, 400)

CANVAS_PNG = """() => { const c = document.querySelector('#screen canvas');
  return c && c.width ? c.toDataURL('image/png') : null; }"""


class ViewCli:
    """``screenact sandbox --view --interactive`` in a subprocess: actions go in on stdin."""

    def __init__(self, out: Path) -> None:
        argv = [sys.executable, "-m", "agent.cli", "sandbox", "--screen", "x".join(map(str, SCREEN)), "--view",
                "--interactive", "--out", str(out), "--launch", "xterm -geometry 50x8+20+20", "--wait-window", "xterm"]
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        line = self.proc.stdout.readline()
        assert line.startswith("view: "), (line, self.proc.stderr.read() if self.proc.poll() is not None else "")
        self.url = line.split(" ", 1)[1].strip()
        self.port = urllib.parse.urlsplit(self.url).port
        self.readline()  # "saved …/step-0000.png"

    def readline(self) -> str:
        line = self.proc.stdout.readline()
        assert line, f"screenact sandbox ended: {self.proc.stderr.read()}"
        return line

    def act(self, action: dict) -> Path:
        """Send one action; the path of the settled screenshot the command saved after it."""
        self.proc.stdin.write(json.dumps(action) + "\n")
        self.proc.stdin.flush()
        line = self.readline()
        assert " ok " in line, line
        return Path(line.rsplit("-> ", 1)[1].strip())

    def close(self) -> None:
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0, self.proc.stderr.read()


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory):
    view = ViewCli(tmp_path_factory.mktemp("live-view"))
    yield view
    view.close()


def _canvas(page) -> Image.Image | None:
    data = page.evaluate(CANVAS_PNG)
    if data is None:
        return None
    return Image.open(io.BytesIO(base64.b64decode(data.split(",", 1)[1]))).convert("RGB")


def _far_pixels(a: Image.Image, b: Image.Image) -> int:
    """Pixels that differ by more than lossy encoding does (noVNC asks for JPEG in the tight encoding,
    which moves a channel by up to ~70 on gradients; text on a background moves it by ~255)."""
    import numpy as np

    diff = np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b.convert("RGB"), dtype=np.int16)).max(axis=2)
    return int((diff > 120).sum())


def _wait_canvas_equals(page, shot: Path, timeout: float = 30.0) -> None:
    want = Image.open(shot).convert("RGB")
    deadline = time.monotonic() + timeout
    while True:
        got = _canvas(page)
        if got is not None and got.size == want.size and _far_pixels(got, want) == 0:
            return
        if time.monotonic() > deadline:
            if got is not None:
                got.save(shot.with_name(f"canvas-{shot.name}"))
            raise AssertionError(f"the live canvas never showed {shot.name} (last canvas: "
                                 f"{None if got is None else got.size}, saved beside it)")
        page.wait_for_timeout(100)


def test_live_canvas_follows_the_desktop(cli: ViewCli) -> None:
    """The browser shows exactly the desktop, and shows the change an action makes."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 700})
            page.set_default_timeout(30_000)
            page.goto(cli.url)
            assert "/novnc/vnc_lite.html" in page.url and "view_only=true" in page.url
            # unscaled, so the canvas is pixel for pixel the screen
            page.goto(f"http://127.0.0.1:{cli.port}/novnc/vnc_lite.html?path=websockify&view_only=true")
            before = cli.act({"type": "click", "x": 120, "y": 60})
            _wait_canvas_equals(page, before)
            after = cli.act({"type": "type", "text": "echo watched live"})
            assert _far_pixels(Image.open(after), Image.open(before)) > 50  # the typed text
            _wait_canvas_equals(page, after)
        finally:
            browser.close()


def _handshake(port: int, origin: str) -> bytes:
    """A websocket upgrade to the RFB bridge with ``origin``; what the server answered first."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET /websockify HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               f"Sec-WebSocket-Protocol: binary\r\nOrigin: {origin}\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        s.sendall(request.encode())
        data = b""
        while b"RFB 003" not in data and (not data.startswith(b"HTTP/1.1 101") or b"\r\n\r\n" not in data):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        if data.startswith(b"HTTP/1.1 101"):
            while b"RFB 003" not in data and (chunk := s.recv(4096)):
                data += chunk
        return data


def test_foreign_origin_is_refused(cli: ViewCli) -> None:
    """A page of another site can neither open the desktop's websocket nor fetch the viewer."""
    own = _handshake(cli.port, f"http://127.0.0.1:{cli.port}")
    assert own.startswith(b"HTTP/1.1 101") and b"RFB 003.008" in own
    foreign = _handshake(cli.port, "http://evil.example")
    assert foreign.startswith(b"HTTP/1.1 403") and b"RFB" not in foreign
    other_port = _handshake(cli.port, f"http://127.0.0.1:{cli.port + 1}")
    assert other_port.startswith(b"HTTP/1.1 403")


def test_view_off_loopback_needs_a_token() -> None:
    done = subprocess.run([sys.executable, "-m", "agent.cli", "sandbox", "--view", "--view-host", "0.0.0.0"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != "SCREENACT_VIEW_TOKEN"})
    assert done.returncode == 2 and "token" in done.stderr and "the live view" in done.stderr


# Run inside a sandbox: every listening socket this process can see (unix, abstract or path, and TCP),
# connected to, and whether it speaks RFB; plus whether an x11vnc is running here.
PROBE = r"""
import json, os, socket
found, tried = [], []
for line in open("/proc/net/unix").read().splitlines()[1:]:
    f = line.split()
    if len(f) >= 8 and int(f[3], 16) & 0x10000:
        path = f[7]
        tried.append(path)
        addr = "\0" + path[1:] if path.startswith("@") else path
        s = socket.socket(socket.AF_UNIX); s.settimeout(1)
        try:
            s.connect(addr); found.append([path, s.recv(12).decode("latin-1")])
        except OSError:
            pass
        s.close()
for name in ("tcp", "tcp6"):
    for line in open(f"/proc/net/{name}").read().splitlines()[1:]:
        f = line.split()
        if f[3] == "0A":
            port = int(f[1].rsplit(":", 1)[1], 16)
            tried.append(f"{name}:{port}")
            fam, host = (socket.AF_INET6, "::1") if name == "tcp6" else (socket.AF_INET, "127.0.0.1")
            s = socket.socket(fam); s.settimeout(1)
            try:
                s.connect((host, port)); found.append([port, s.recv(12).decode("latin-1")])
            except OSError:
                pass
            s.close()
vnc = [p for p in os.listdir("/proc") if p.isdigit() and p != str(os.getpid())
       and open(f"/proc/{p}/cmdline", "rb").read().startswith(b"x11vnc")]
print(json.dumps({"tried": tried, "rfb": [x for x in found if x[1].startswith("RFB")], "x11vnc": vnc}))
"""


def _probe(sb: Sandbox) -> dict:
    done = sb.run(["python3", "-c", PROBE], timeout=60)
    assert done.code == 0, done.stderr
    return json.loads(done.stdout)


def test_vnc_server_listens_nowhere() -> None:
    """While a viewer is connected to sandbox A, no socket an app of A or of sandbox B can reach speaks RFB."""
    with Sandbox(*SCREEN) as a, Sandbox(*SCREEN) as b:
        conn = a.open_view()
        try:
            conn.settimeout(15)
            assert conn.recv(12) == b"RFB 003.008\n"  # the viewer is live while the apps look
            inside, beside = _probe(a), _probe(b)
        finally:
            conn.close()
    assert inside["x11vnc"], "the probe ran without a VNC server inside"
    assert inside["tried"], "the probe found no socket at all (the X server's should be there)"
    assert inside["rfb"] == [] and beside["rfb"] == [], (inside, beside)
    assert beside["x11vnc"] == []


def _rfb_pointer(conn: socket.socket, x: int, y: int) -> None:
    """An RFB 3.8 client with no authentication that moves the pointer to (x, y) and waits for the
    server to have read it (a framebuffer update request is answered after the event before it)."""
    conn.settimeout(15)

    def read(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            assert chunk, "x11vnc closed the connection"
            data += chunk
        return data

    assert read(12) == b"RFB 003.008\n"
    conn.sendall(b"RFB 003.008\n")
    types = read(read(1)[0])
    assert 1 in types, types  # None
    conn.sendall(b"\x01")
    assert read(4) == b"\0\0\0\0"
    conn.sendall(b"\x01")  # shared
    init = read(24)
    read(int.from_bytes(init[20:24], "big"))  # the desktop's name
    conn.sendall(bytes([5, 0]) + x.to_bytes(2, "big") + y.to_bytes(2, "big"))
    conn.sendall(bytes([3, 0]) + (0).to_bytes(2, "big") * 2 + (8).to_bytes(2, "big") * 2)
    read(1)  # the first byte of the update: the pointer event before it was handled


def test_view_only_drops_input_and_control_passes_it() -> None:
    """A viewer's pointer moves the desktop's pointer only when control was handed over."""
    with Sandbox(*SCREEN) as sb:
        sb.act({"type": "move", "x": 10, "y": 10})
        sb.launch(["sh", "-c", "echo app-says-hello >&2; exec sleep 60"])
        deadline = time.monotonic() + 15
        while "app-says-hello" not in sb.app_log_tail():
            assert time.monotonic() < deadline, "the app's log stayed empty"
            time.sleep(0.05)
        with sb.open_view() as conn:
            _rfb_pointer(conn, 300, 200)
            assert sb.screenshot().cursor == (10, 10)
        assert "app-says-hello" in sb.app_log_tail()  # the viewer's log does not hide the newest app's
        with sb.open_view(control=True) as conn:
            _rfb_pointer(conn, 300, 200)
            deadline = time.monotonic() + 15
            while sb.screenshot().cursor != (300, 200):
                assert time.monotonic() < deadline, f"control: the pointer stayed at {sb.screenshot().cursor}"
                time.sleep(0.05)
