"""Helpers for the browser front end's end-to-end tests: the ``screenact ui`` server as a subprocess,
headless Chromium (Debian's, driven by Playwright) and page helpers for Chainlit's composer."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator


ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class UIServer:
    """``screenact ui`` started as a subprocess (it execs Chainlit, so the pid is the server's)."""

    def __init__(self, base_url: str, tmp: Path, *, extra: list[str] | None = None,
                 env: dict[str, str] | None = None, token: str | None = None) -> None:
        self.token = token  # given: the server wants it (sent as the cookie the browser would keep)
        env = {**(env or {}), **({"SCREENACT_UI_TOKEN": token} if token else {})}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.origin = self.url
        self.state = tmp / "state"
        self.episodes = tmp / "episodes"
        self.log_path = tmp / "ui.log"
        argv = [str(ROOT / ".venv" / "bin" / "screenact") if (ROOT / ".venv" / "bin" / "screenact").exists()
                else sys.executable, *([] if (ROOT / ".venv" / "bin" / "screenact").exists() else ["-m", "agent.cli"]),
                "ui", "--port", str(self.port), "--base-url", base_url, "--state-dir", str(self.state),
                "--episodes", str(self.episodes), *(extra or [])]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        env.pop("OPENAI_BASE_URL", None)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, cwd=str(tmp), stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Seconds until the server answers HTTP; raises with its log if it does not."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"screenact ui exited with {self.proc.returncode}:\n{self.log()}")
            try:
                request = urllib.request.Request(self.url + "/", headers=self.cookie_header())
                with urllib.request.urlopen(request, timeout=2) as r:
                    if r.status == 200:
                        return time.monotonic() - t0
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"screenact ui did not answer within {timeout} s:\n{self.log()}")

    def cookie_header(self) -> dict[str, str]:
        """The header a browser that opened the ``/?token=…`` address sends (empty without a token)."""
        return {"Cookie": f"screenact_token_{self.port}={self.token}"} if self.token else {}

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


def polling_handshake(port: int, headers: dict[str, str], query: str = "") -> tuple[int, str]:
    """(status, body) of an engine.io polling handshake (``GET /ws/socket.io/?EIO=4&transport=polling``)."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/ws/socket.io/?EIO=4&transport=polling{query}",
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def websocket_handshake(port: int, headers: dict[str, str], query: str = "") -> tuple[int, socket.socket]:
    """(HTTP status, the open socket) of an engine.io websocket upgrade; 101 means accepted."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    fields = {"Host": f"127.0.0.1:{port}", "Connection": "Upgrade", "Upgrade": "websocket",
              "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", **headers}
    lines = [f"GET /ws/socket.io/?EIO=4&transport=websocket{query} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in fields.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(1024)
        if not chunk:
            break
        head += chunk
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return status, sock


def descendants(pid: int) -> dict[int, str]:
    """PID → command line of every live process below ``pid``."""
    parents: dict[int, int] = {}
    cmds: dict[int, str] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if fields and fields[0] != b"Z":
            parents[int(entry.name)] = int(fields[1])
            cmds[int(entry.name)] = cmd
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        for child, parent in parents.items():
            if parent == current and child not in found:
                found[child] = cmds[child]
                frontier.append(child)
    return found


def launch_browser(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@contextlib.contextmanager
def chromium_context(width: int = 1280, height: int = 1000) -> Iterator[Any]:
    """Playwright, Debian's Chromium and one context of that viewport, closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_browser(pw)
        context = browser.new_context(viewport={"width": width, "height": height})
        try:
            yield context
        finally:
            context.close()
            browser.close()


def new_context(browser: Any) -> Any:
    """One context for a module's pages: they share the HTTP cache (the app's scripts load once)."""
    return browser.new_context(viewport={"width": 1280, "height": 1000})


def open_chat(context: Any, url: str) -> Any:
    """A new page (a fresh chat session) in a browser context, once the welcome message is there. The
    socket.io frames the page receives are collected in ``page.ws_frames`` (to see tokens arrive)."""
    page = context.new_page()
    page.set_default_timeout(30_000)
    frames: list[str] = []
    page.ws_frames = frames
    page.on("websocket", lambda ws: ws.on("framereceived",
                                          lambda f: frames.append(f if isinstance(f, str) else "")))
    page.goto(url)
    page.wait_for_selector("#chat-input")
    page.get_by_text("Pick a mode").wait_for()
    return page


def pick_mode(page: Any, name: str) -> None:
    page.click("#mode-picker-trigger-mode")
    page.locator("#mode-picker-popover-mode").get_by_text(name, exact=True).click()
    page.locator("#mode-picker-trigger-mode", has_text=name).wait_for()


def send(page: Any, text: str, files: list[Path] | None = None) -> None:
    if files:
        page.set_input_files("#upload-button-input", [str(f) for f in files])
        wait_uploaded(page)
    page.fill("#chat-input", text)
    page.keyboard.press("Enter")


def paste_image(page: Any, png: bytes, name: str = "pasted.png") -> None:
    """Paste an image into the composer the way a browser does (a ClipboardEvent carrying a file)."""
    import base64

    page.eval_on_selector("#chat-input", """(el, [b64, name]) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name, {type: 'image/png'}));
        el.focus();
        el.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}));
    }""", [base64.b64encode(png).decode(), name])


def wait_uploaded(page: Any, count: int = 1) -> None:
    """Wait until ``count`` attachments are in the composer and uploaded (the composer is disabled meanwhile)."""
    page.wait_for_function("n => document.querySelectorAll('#attachments > *').length >= n", arg=count,
                           timeout=15_000)
    page.wait_for_selector("#upload-button", timeout=15_000)


def body_text(page: Any) -> str:
    return page.inner_text("body")


def wait_text(page: Any, text: str, timeout: float = 30.0) -> None:
    """Wait until ``text`` is visible anywhere on the page."""
    page.wait_for_function("t => document.body.innerText.includes(t)", arg=text, timeout=timeout * 1000)
