"""The front end's door and lifecycle, against real ``screenact ui`` server processes.

Each attack is a request a foreign web page (or a page whose name was rebound to 127.0.0.1) can make
from the user's browser: a websocket or polling handshake with its own ``Origin``, a ``Host`` that is
not the UI's, a JSONP ``<script>`` poll, a cross-site subresource. The server's own origin must still
get in. Off loopback a token is required. SIGTERM and SIGKILL leave nothing serving on the port.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest

from agent.ui.gate import Gate, normalize_origin
from tests.stub_openai import StubOpenAI
from tests.processes import serves, wait_until
from tests.ui_harness import ROOT, UIServer, polling_handshake, websocket_handshake

TOKEN = "tok-0123456789abcdef-screenact"
FOREIGN = "http://evil.example"


@pytest.fixture(scope="module")
def stub():
    with StubOpenAI() as s:
        yield s


@pytest.fixture(scope="module")
def server(stub, tmp_path_factory):
    ui = UIServer(stub.base_url, tmp_path_factory.mktemp("gate"), extra=["--allow-origin", "https://proxy.example"])
    try:
        ui.wait_ready()
        yield ui
    finally:
        ui.stop()


def test_gate_rules_on_their_own():
    gate = Gate.for_bind("127.0.0.1", 8090, ["https://proxy.example"])
    ws = {"type": "websocket", "path": "/ws/socket.io/", "query_string": b"EIO=4&transport=websocket"}
    own = {"host": "127.0.0.1:8090", "origin": "http://127.0.0.1:8090"}
    assert gate.refusal(ws, own) is None
    assert gate.refusal(ws, {**own, "host": "localhost:8090", "origin": "http://localhost:8090"}) is None
    assert gate.refusal(ws, {**own, "origin": "https://proxy.example"}) is None
    assert gate.refusal(ws, {**own, "host": "proxy.example", "origin": "https://proxy.example"}) is None
    assert gate.refusal(ws, {**own, "origin": FOREIGN})[0] == 403
    assert gate.refusal(ws, {**own, "origin": "http://127.0.0.1:8091"})[0] == 403  # another local port
    assert gate.refusal(ws, {"host": "rebound.example:8090", "origin": "http://rebound.example:8090"})[0] == 403
    assert normalize_origin("HTTPS://Proxy.Example:443/") == "https://proxy.example"
    with pytest.raises(ValueError, match="http://host:port"):
        normalize_origin("proxy.example/path")
    wild = Gate.for_bind("0.0.0.0", 8090, token=TOKEN)
    named = {"host": "box.lan:8090", "origin": "http://box.lan:8090", "cookie": f"screenact_token_8090={TOKEN}"}
    assert wild.refusal(ws, named) is None
    assert wild.refusal(ws, {**named, "origin": FOREIGN})[0] == 403
    assert wild.refusal(ws, {**named, "cookie": "screenact_token_8090=wrong"})[0] == 401
    assert wild.refusal(ws, {**named, "cookie": f"screenact_token_8091={TOKEN}"})[0] == 401  # another UI's


def test_a_foreign_origin_is_refused_and_the_own_origin_accepted(server):
    own = {"Origin": server.origin}
    status, body = polling_handshake(server.port, own)
    assert status == 200 and '"sid"' in body
    status, sock = websocket_handshake(server.port, own)
    sock.close()
    assert status == 101
    status, sock = websocket_handshake(server.port, {"Origin": "https://proxy.example"})  # --allow-origin
    sock.close()
    assert status == 101
    for attack in ({"Origin": FOREIGN}, {"Origin": "null"}, {"Origin": "http://127.0.0.1:1"},
                   {"Host": f"rebound.example:{server.port}", "Origin": f"http://rebound.example:{server.port}"}):
        status, body = polling_handshake(server.port, attack)
        assert status == 403 and '"sid"' not in body, (attack, body)
        status, sock = websocket_handshake(server.port, attack)
        sock.close()
        assert status == 403, attack
    # a <script> tag sends no Origin: JSONP polling and cross-site subresources are refused too
    assert polling_handshake(server.port, {}, "&j=0")[0] == 403
    assert polling_handshake(server.port, {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"})[0] == 403
    assert polling_handshake(server.port, {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors"})[0] == 403
    assert polling_handshake(server.port, {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"})[0] == 200
    assert polling_handshake(server.port, own)[0] == 200


def test_off_loopback_without_a_token_the_ui_refuses_to_start(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SCREENACT_UI_TOKEN"}
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "ui", "--host", "0.0.0.0", "--state-dir",
                           str(tmp_path / "st"), "--episodes", str(tmp_path / "ep")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "--host 0.0.0.0" in proc.stderr and "SCREENACT_UI_TOKEN" in proc.stderr and "--token" in proc.stderr
    short = subprocess.run([sys.executable, "-m", "agent.cli", "ui", "--host", "0.0.0.0", "--token", "short"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert short.returncode == 2 and "at least 16 characters" in short.stderr


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)
    except urllib.error.URLError:
        return 0, {}  # not listening yet


def _token_door(ui: UIServer) -> None:
    """Off loopback with a token: the printed address carries it, a cookie (HttpOnly, SameSite=Strict) replaces it,
    and without it (or with a wrong one, or from a foreign origin) nothing gets in."""
    assert TOKEN in ui.log()  # the address to open is printed with its token, like Jupyter's
    status, headers = _get(ui.url + "/?token=" + TOKEN)
    assert status == 303 and headers["location"] == "/"
    assert _get(ui.url + "//evil.example/%0d%0aX:%20y?token=" + TOKEN)[1]["location"] == "/evil.example/%0D%0AX%3A%20y"
    assert _get(ui.url + "/?token=%ff%fe")[0] == 401  # not a crash on bytes that are not UTF-8
    cookie = headers["set-cookie"].split(";")[0]
    assert "HttpOnly" in headers["set-cookie"] and "SameSite=Strict" in headers["set-cookie"]
    assert _get(ui.url + "/", {"Cookie": cookie})[0] == 200
    own = {"Origin": ui.origin, "Cookie": cookie}
    assert polling_handshake(ui.port, own)[0] == 200
    assert polling_handshake(ui.port, {"Origin": ui.origin})[0] == 401
    assert polling_handshake(ui.port, {"Origin": ui.origin, "Cookie": f"screenact_token_{ui.port}=" + "x" * 30})[0] == 401
    assert polling_handshake(ui.port, {"Origin": FOREIGN, "Cookie": cookie})[0] == 403
    status, sock = websocket_handshake(ui.port, own)
    sock.close()
    assert status == 101


def test_sigterm_ends_the_running_episode_as_cancelled_then_the_ui(tmp_path):
    """A supervisor's stop with a browser connected and an agent run waiting for the model: the run is
    cancelled and waited for (its desktop closed, its episode ended as cancelled), then the server exits."""
    from playwright.sync_api import sync_playwright

    from tests.processes import alive
    from tests.ui_harness import descendants, launch_browser, new_context, open_chat, pick_mode, send

    release = threading.Event()

    def hang(body: dict) -> str:
        release.wait(60)
        return "◁think▷Late.◁/think▷## Action:\nGive up.\n## Code:\n```\nFAIL\n```"

    with StubOpenAI(responder=hang) as model, sync_playwright() as pw:
        ui = UIServer(model.base_url, tmp_path)
        browser = launch_browser(pw)
        try:
            ui.wait_ready()
            page = open_chat(new_context(browser), ui.url)
            pick_mode(page, "Agent")
            send(page, "xterm-echo-file")
            wait_until(lambda: model.chat_requests, 90, "the agent's first request (its desktop is up)")
            started = descendants(ui.proc.pid)
            ui.proc.send_signal(signal.SIGTERM)
            wait_until(lambda: ui.proc.poll() is not None, 60, "screenact ui exiting after SIGTERM")
            assert not serves(ui.port) and not any(alive(pid) for pid in started)
            [folder] = ui.episodes.glob("*-xterm-echo-file")
            assert json.loads((folder / "result.json").read_text())["status"] == "cancelled"
        finally:
            release.set()
            browser.close()
            ui.stop()


def test_with_a_token_on_all_interfaces_a_browser_gets_in_and_sigkill_leaves_nothing_behind(tmp_path):
    """The printed …/?token=… address in a real browser: the cookie carries the page and its websocket from
    then on (a browser without the token sees only the refusal). An agent run started there has its desktop
    (bwrap, Xvfb, window manager, worker, apps) end with the server when the server is SIGKILLed."""
    from playwright.sync_api import sync_playwright

    from tests.processes import alive
    from tests.ui_harness import descendants, launch_browser, new_context, open_chat, pick_mode, send, wait_text

    release = threading.Event()

    def reply(body: dict) -> str:
        if "Hello?" in json.dumps(body["messages"][-1]):
            return "◁think▷A greeting.◁/think▷Hello through the token."
        release.wait(60)  # the agent's first step waits here while the server is killed
        return "◁think▷Stopped.◁/think▷## Action:\nGive up.\n## Code:\n```\nFAIL\n```"

    with StubOpenAI(responder=reply) as model, sync_playwright() as pw:
        ui = UIServer(model.base_url, tmp_path, extra=["--host", "0.0.0.0"], env={"SCREENACT_UI_TOKEN": TOKEN})
        browser = launch_browser(pw)
        try:
            wait_until(lambda: ui.proc.poll() is not None or _get(ui.url + "/")[0] == 401, 60, "the server answering")
            _token_door(ui)
            stranger = new_context(browser).new_page()
            stranger.goto(ui.url + "/")
            assert "needs its token" in stranger.inner_text("body")
            page = open_chat(new_context(browser), f"{ui.url}/?token={TOKEN}")
            assert "token" not in page.url  # the redirect took it out of the address bar and history
            send(page, "Hello?")
            wait_text(page, "Hello through the token.", timeout=90)  # the first chat imports much; CI is busy
            pick_mode(page, "Agent")
            send(page, "xterm-echo-file")
            wait_until(lambda: len(model.chat_requests) > 1, 90, "the agent's first request (its desktop is up)")
            started = descendants(ui.proc.pid)
            assert any("Xvfb" in cmd for cmd in started.values()), started
            ui.proc.send_signal(signal.SIGKILL)
            wait_until(lambda: not any(alive(pid) for pid in started), 30, "the desktop ending with the UI")
            wait_until(lambda: not serves(ui.port), 30, "the port closing after SIGKILL")
        finally:
            release.set()
            browser.close()
            ui.stop()
