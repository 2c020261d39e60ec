"""Agent mode's person in the loop, end to end: the real ``screenact ui`` (with a token) against the real
stub model server, driven in Debian's Chromium through Playwright.

- the live desktop beside the steps follows the agent's action;
- Take over: clicks in the live canvas reach the bundled To-Do app (its checker reads the app's state);
  Resume: the agent goes on, its next prompt (as the stub received it) says a person acted, and the
  episode records the takeover with a frame before and after;
- Approve / Reject of actions the default approval rules mark (``sudo``);
- the view's websocket refuses a foreign Origin, a missing token, and input while nobody took over.

One UI server, one stub and one browser for the module. Page screenshots go to test-artifacts/.
"""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import threading
import time
import urllib.parse
from collections import deque

import pytest
from PIL import Image

from tests.stub_openai import StubOpenAI
from tests.ui_harness import UIServer, body_text, chromium_context, open_chat, pick_mode, send, wait_text

TOKEN = "takeover-test-token-0123456789"
TODO = "todo-mark-done"
CANVAS = "#screen canvas"


def kimi(action: str, code: str) -> str:
    return f"◁think▷Looking at the screen.◁/think▷## Action:\n{action}\n## Code:\n```python\n{code}\n```"


DONE = kimi("The task is complete.", "DONE")


class Script:
    """The stub's replies in order; a reply with a gate waits until the test opens it."""

    def __init__(self) -> None:
        self.items: deque[tuple[str, threading.Event | None]] = deque()

    def add(self, reply: str, gate: threading.Event | None = None) -> None:
        self.items.append((reply, gate))

    def __call__(self, body: dict) -> str:
        reply, gate = self.items.popleft() if self.items else (kimi("Nothing is scripted.", "FAIL"), None)
        if gate is not None:
            gate.wait(60)
        return reply


SCRIPT = Script()


@pytest.fixture(scope="module")
def stub():
    with StubOpenAI(responder=SCRIPT, chunk_chars=40) as s:
        yield s


def todo_widgets() -> tuple[tuple[int, int], dict[str, list[int]]]:
    """The screen size of ``todo-mark-done`` and where its To-Do app draws each widget (the apps have
    fixed geometry and fonts, so a desktop of our own shows the same places)."""
    from sandbox import Sandbox
    from tasks import SUITE_DIR, load_task, run_setup
    from tasks.setup import read_state

    task = load_task(f"{SUITE_DIR}/{TODO}.yaml")
    with Sandbox(task.screen.width, task.screen.height) as sb:
        run_setup(task, sb)
        doc = read_state(sb, task.apps()["todo"])
    return (task.screen.width, task.screen.height), {w["id"]: w["bbox"] for w in doc["widgets"]}


@pytest.fixture(scope="module")
def ui(stub, tmp_path_factory):
    server = UIServer(stub.base_url, tmp_path_factory.mktemp("ui-takeover"), token=TOKEN)
    try:
        server.todo = todo_widgets()  # while the server starts
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def context():
    with chromium_context(1500, 1000) as ctx:
        yield ctx


@pytest.fixture
def page(context, ui, artifacts, request):
    p = open_chat(context, f"{ui.url}/?token={TOKEN}")
    yield p
    p.screenshot(path=str(artifacts / f"ui-{request.node.name}-end.png"), animations="disabled")
    (artifacts / f"ui-{request.node.name}-end.txt").write_text(body_text(p) + "\n\n--- server log ---\n" + ui.log())
    p.close()


# ---------------------------------------------------------------------- page helpers
def live_frame(page, control: bool):
    """The live view's iframe once it shows the wanted mode and its canvas has a picture."""
    page.locator(f'#live-view[data-control="{"yes" if control else "no"}"] #live-view-frame').wait_for(timeout=60_000)
    frame = page.frame_locator("#live-view-frame")
    frame.locator(CANVAS).wait_for(timeout=30_000)
    handle = page.locator("#live-view-frame").element_handle().content_frame()
    handle.wait_for_function("s => { const c = document.querySelector(s); return c && c.width > 0 && "
                             "document.getElementById('status').textContent.startsWith('Connected'); }",
                             arg=CANVAS, timeout=30_000)
    return handle


def canvas(frame) -> Image.Image:
    data = frame.evaluate("s => document.querySelector(s).toDataURL('image/png')", CANVAS)
    return Image.open(io.BytesIO(base64.b64decode(data.split(",", 1)[1]))).convert("RGB")


def differs(a: Image.Image, b: Image.Image) -> int:
    """Pixels that differ by more than the view's lossy encoding does."""
    import numpy as np

    if a.size != b.size:
        return a.size[0] * a.size[1]
    diff = np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).max(axis=2)
    return int((diff > 120).sum())


def wait_canvas_change(frame, before: Image.Image, timeout: float = 30.0) -> Image.Image:
    deadline = time.monotonic() + timeout
    while differs(now := canvas(frame), before) < 200:
        assert time.monotonic() < deadline, "the live canvas did not change"
        time.sleep(0.1)
    return now


def click_canvas(frame, point: tuple[float, float], screen: tuple[int, int]) -> None:
    """Click the remote screen's ``point`` through the (scaled) canvas, as a person would."""
    box = frame.locator(CANVAS).bounding_box()
    frame.locator(CANVAS).click(position={"x": point[0] * box["width"] / screen[0],
                                          "y": point[1] * box["height"] / screen[1]})


def centre(box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def label(page) -> str:
    return page.locator("#live-view-label").inner_text()


def latest_episode(ui, task_id: str):
    folders = sorted(ui.episodes.glob(f"*-{task_id}*"))
    assert folders, list(ui.episodes.iterdir())
    return folders[-1]


def steps(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / "steps.jsonl").read_text().splitlines() if line.strip()]


def prompt_text(request) -> str:
    return json.dumps(request.body["messages"], ensure_ascii=False)


# ---------------------------------------------------------------------- the tests
def test_live_view_take_over_and_resume(page, stub, ui, artifacts):
    screen, boxes = ui.todo
    milk = centre(boxes["item_1"])
    first, second = threading.Event(), threading.Event()
    SCRIPT.add(kimi("Click 'Buy milk'.", f"pyautogui.click(x={milk[0] / screen[0]:.4f}, y={milk[1] / screen[1]:.4f})"),
               first)
    SCRIPT.add(kimi("Move the pointer aside.", "pyautogui.moveTo(x=0.9, y=0.9)"), second)
    SCRIPT.add(DONE)
    try:
        pick_mode(page, "Agent")
        send(page, TODO)
        view = live_frame(page, control=False)
        before = canvas(view)
        first.set()  # the model clicks 'Buy milk': the read-only view shows the selection
        wait_canvas_change(view, before)
        wait_text(page, "Step 1 · click(")
        page.screenshot(path=str(artifacts / "ui-live-view.png"), animations="disabled")
        canvas(view).save(artifacts / "ui-live-canvas.png")
        page.click("#live-takeover")  # the next step is still with the model: the pause waits for it
        page.locator('#live-view[data-state="pausing"]').wait_for()
        second.set()
        control = live_frame(page, control=True)
        assert "You have the desktop" in label(page)
        page.screenshot(path=str(artifacts / "ui-takeover-control.png"), animations="disabled")
        held = canvas(control)
        click_canvas(control, centre(boxes["done_button"]), screen)  # a person marks it done
        wait_canvas_change(control, held)
        asked = len(stub.chat_requests)
        page.click("#live-resume")
        wait_text(page, "Checker verdict", timeout=60)
    finally:
        first.set()
        second.set()
    text = body_text(page)
    assert "PASSED" in text, text[-2000:]  # the checker read the app's state: the person's click arrived
    resumed = stub.chat_requests[asked]
    assert "A person took over the desktop for" in prompt_text(resumed)
    folder = latest_episode(ui, TODO)
    recorded = steps(folder)
    assert [s["interventions"] for s in recorded[:2]] == [[], []]
    (took,) = recorded[2]["interventions"]
    assert took["kind"] == "takeover" and took["by"] and took["seconds"] > 0
    after = Image.open(folder / took["frame_after"]).convert("RGB")
    assert differs(Image.open(folder / took["frame_before"]).convert("RGB"), after) > 0
    assert recorded[2]["frame"] == "step-0003.png"
    assert differs(Image.open(folder / "step-0003.png").convert("RGB"), after) == 0  # the model saw the fresh screen
    page.locator('#live-view[data-state="ended"]').wait_for()
    from agent.report import write_episode_report

    html = write_episode_report(folder).read_text()  # the report shows the takeover on the timeline
    assert 'href="#held-3-1"' in html and 'id="held-3-1"' in html and "taken over by" in html
    assert f'alt="{took["frame_before"]}"' in html and f'alt="{took["frame_after"]}"' in html


def _handshake(ui, path: str, origin: str, cookie: bool = True) -> bytes:
    """A websocket upgrade to ``path`` of the UI; what the server answered first."""
    key = base64.b64encode(os.urandom(16)).decode()
    headers = {"Host": f"127.0.0.1:{ui.port}", "Upgrade": "websocket", "Connection": "Upgrade",
               "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13", "Sec-WebSocket-Protocol": "binary",
               "Origin": origin, **(ui.cookie_header() if cookie else {})}
    request = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", ui.port), timeout=15) as s:
        s.sendall(request.encode())
        data = b""
        while b"RFB 003" not in data and not (data.startswith(b"HTTP/1.1 4") and b"\r\n\r\n" in data):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


def test_approve_and_reject_and_the_views_door(page, stub, ui, artifacts):
    """``sudo`` typed by the model waits for a person: Reject goes back to the model, Approve runs it.
    While the question is open, the view's websocket is checked from outside the browser."""
    SCRIPT.add(kimi("Type the command.", "pyautogui.write('sudo true')\npyautogui.press('enter')"))
    SCRIPT.add(kimi("Type it again.", "pyautogui.write('sudo echo approved')\npyautogui.press('enter')"))
    SCRIPT.add(DONE)
    pick_mode(page, "Agent")
    send(page, "Run sudo true in the terminal.")
    page.get_by_role("button", name="Reject").wait_for(timeout=60_000)
    wait_text(page, "Approve this action?")
    page.locator('img[alt="needs-approval.png"]').wait_for()
    _check_door(page, ui)
    page.screenshot(path=str(artifacts / "ui-approval-question.png"), animations="disabled")
    asked = len(stub.chat_requests)
    page.get_by_role("button", name="Reject").click()
    # the first question's Approve button can outlive the click for a moment: wait for the model's next
    # request (the one that carries the rejection) before waiting for the second question
    deadline = time.monotonic() + 60
    while len(stub.chat_requests) <= asked and time.monotonic() < deadline:
        time.sleep(0.1)
    rejected_prompt = prompt_text(stub.chat_requests[asked])
    page.get_by_text("sudo echo approved").last.wait_for(timeout=60_000)  # the second question
    page.get_by_role("button", name="Approve").last.click()
    wait_text(page, "Agent finished", timeout=60)
    assert "needs a person's approval" in rejected_prompt and "was rejected" in rejected_prompt
    recorded = steps(latest_episode(ui, "ui-run-sudo-true"))
    no, yes = recorded[0]["approvals"], recorded[1]["approvals"]
    assert [a["approved"] for a in no + yes] == [False, True] and no[0]["by"] and "sudo" in no[0]["rule"]
    assert recorded[0]["executed"] == [] and recorded[1]["executed"][0]["action"]["text"] == "sudo echo approved"


def _check_door(page, ui) -> None:
    src = page.locator("#live-view-frame").get_attribute("src")
    path = "/" + urllib.parse.parse_qs(urllib.parse.urlsplit(src).query)["path"][0]
    own = _handshake(ui, path, ui.url)
    assert own.startswith(b"HTTP/1.1 101") and b"RFB 003.008" in own, own[:200]
    assert _handshake(ui, path, "http://evil.example").startswith(b"HTTP/1.1 403")
    assert _handshake(ui, path, f"http://127.0.0.1:{ui.port + 1}").startswith(b"HTTP/1.1 403")
    assert _handshake(ui, path, ui.url, cookie=False).startswith(b"HTTP/1.1 403")  # no token
    # input only while a person has taken over: the run is waiting for an approval, not held
    assert _handshake(ui, path.replace("/websockify", "/control"), ui.url).startswith(b"HTTP/1.1 403")
