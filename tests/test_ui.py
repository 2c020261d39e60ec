"""The browser front end (``screenact ui``).

The helpers are tested on their own (thinking split, history within the budget against the stub's
real ``/tokenize``, uploads, markers, the command line); then the whole app end to end: the real
``screenact ui`` server (Chainlit) against the real HTTP stub of the OpenAI API, driven in Debian's
headless Chromium through Playwright. Page screenshots go to ``test-artifacts/ui-*.png``.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
import time

import pytest
from PIL import Image, ImageDraw

from agent.budget import BudgetSettings, ContextBudget
from agent.models import OpenAIModel
from agent.profiles import get_profile
from agent.ui.chat import (Conversation, ThinkingStream, UploadError, load_image_upload, md_escape)
from agent.ui.drawing import CLICK, mark_actions
from tests.stub_openai import StubOpenAI
from tests.ui_harness import (UIServer, body_text, descendants, launch_browser, new_context, open_chat, paste_image, pick_mode, send,
                              wait_text, wait_uploaded)

KIMI = ("◁think▷", "◁/think▷")


def kimi(thought: str, action: str, code: str) -> str:
    return f"◁think▷{thought}◁/think▷## Action:\n{action}\n## Code:\n```python\n{code}\n```"


def png_bytes(size=(640, 400), box=(200, 120, 440, 280), color="red") -> bytes:
    img = Image.new("RGB", size, "white")
    ImageDraw.Draw(img).rectangle(box, fill=color)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


AGENT_REPLIES = [
    kimi("The terminal is open at the top left; I click into it to focus it.", "Click inside the terminal window.",
         "pyautogui.click(x=0.3125, y=0.3125)"),
    kimi("The terminal has the focus. I type the command that writes the file and press Enter.",
         "Type the echo command and press Enter.",
         "pyautogui.write(\"echo 'hello from the terminal' > ~/hello.txt\")\npyautogui.press('enter')"),
    "◁think▷The command ran; the file holds the line.◁/think▷## Action:\nThe task is complete.\n## Code:\n```\nDONE\n```",
]


# ====================================================================== helpers on their own
@pytest.mark.parametrize("reply", [
    "◁think▷I look at the image.◁/think▷It is red.",
    "  ◁think▷多步 thinking ◁ with a stray ◁ mark◁/think▷\n\nAnswer ◁/ not a marker",
    "No thinking at all, just ◁think an answer.",
    "◁think▷Cut off while thinking",
])
def test_thinking_stream_splits_at_every_chunk_boundary(reply):
    expected_thinking, expected_answer = get_profile("kimi-vl-thinking").split(reply)
    for size in (1, 2, 3, 5, 8, 1000):
        split = ThinkingStream(KIMI)
        pieces = []
        for i in range(0, len(reply), size):
            pieces += split.feed("content", reply[i:i + size])
        pieces += split.finish()
        thinking = "".join(t for k, t in pieces if k == "thinking")
        answer = "".join(t for k, t in pieces if k == "answer")
        assert thinking.strip() == (expected_thinking or "").strip(), size
        assert answer.strip() == expected_answer.strip(), size
        assert "◁think▷" not in thinking + answer and "◁/think▷" not in thinking + answer


def test_thinking_stream_takes_separate_reasoning_and_profiles_without_markers():
    split = ThinkingStream(KIMI)
    out = split.feed("reasoning", "server-separated ") + split.feed("content", "answer")
    out += split.finish()
    assert out == [("thinking", "server-separated "), ("answer", "answer")]
    plain = ThinkingStream(None)
    assert plain.feed("content", "◁think▷x") + plain.finish() == [("answer", "◁think▷x")]


def test_history_is_fitted_to_the_context_with_the_servers_counts():
    """Old images go first (the newest image last), then old turns; the current turn always stays."""
    profile = get_profile("kimi-vl-thinking")
    image = load_upload_bytes(png_bytes((1280, 800)))  # ~1300 tokens by MoonViT's rule
    with StubOpenAI(max_model_len=3000) as stub:
        model = OpenAIModel(base_url=stub.base_url, model="Kimi-VL-A3B-Thinking")
        budget = ContextBudget(profile, BudgetSettings(context_len=3000), counter=model)
        conv = Conversation("You are a helpful assistant.")
        for n in range(3):
            conv.ask(f"question {n} about this image", [image])
            conv.answer(f"answer {n} " + "blah " * 200)
        conv.ask("and now?")

        async def go():
            try:
                return await conv.fit(budget, 2048, floor=256)
            finally:
                await model.aclose()

        fit = asyncio.run(go())
        counted = [r for r in stub.requests if r.path == "/tokenize"]
    assert fit.images_left_out == 2 and fit.prompt_tokens + fit.max_tokens <= 3000 - 16
    assert fit.messages[0]["role"] == "system" and fit.messages[-1] == {"role": "user", "content": "and now?"}
    sent_images = sum(1 for m in fit.messages if isinstance(m["content"], list)
                      for p in m["content"] if p["type"] == "image_url")
    assert sent_images == 1  # only the newest image survives
    kept = json.dumps(fit.messages)
    assert "question 2 about this image" in kept  # the newest image's turn is kept longest
    assert fit.exact and counted  # counted by the server's /tokenize, not estimated
    # Even the current turn alone too large: a readable error, not a crash.
    tiny = Conversation(None)
    tiny.ask("look", [image])
    from agent.budget import BudgetError

    with pytest.raises(BudgetError, match="context length is 1024"):
        asyncio.run(tiny.fit(ContextBudget(profile, BudgetSettings(context_len=1024, use_server_count=False)), 512, 256))


def load_upload_bytes(data: bytes, name: str = "shot.png"):
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".png") as f:
        f.write(data)
        f.flush()
        return load_image_upload(f.name, name)


def test_uploads_are_checked_and_oversized_images_scaled(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(png_bytes()[:60])
    with pytest.raises(UploadError, match="broken.png"):
        load_image_upload(broken)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(UploadError, match="not an image"):
        load_image_upload(text)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(UploadError, match="empty"):
        load_image_upload(empty)
    big = tmp_path / "wide.png"
    Image.new("RGB", (9000, 300), "white").save(big)
    up = load_image_upload(big)
    assert (up.width, up.height) == (7168, 238) and "scaled down" in up.note and up.mime == "image/png"
    bmp = tmp_path / "shot.bmp"
    Image.new("RGB", (50, 40), "blue").save(bmp)
    up = load_image_upload(bmp)
    assert up.mime == "image/png" and up.data_url().startswith("data:image/png;base64,")


def test_markdown_escape_keeps_model_text_literal():
    text = "# not a heading\n1. not a list\n<img src=x onerror=alert(1)> *no* _emphasis_ [link](x) a|b `code`"
    escaped = md_escape(text)
    assert "\\<img" in escaped and "\\# not" in escaped and "1\\. not" in escaped and "\\*no\\*" in escaped
    assert "  \n" in escaped  # line breaks survive
    assert "http://127.0.0.1:8000/v1" in md_escape("see http://127.0.0.1:8000/v1 now")  # URLs untouched


def test_markers_are_drawn_where_the_agent_acted():
    img = Image.new("RGB", (1280, 800), (255, 255, 255))
    actions = [{"type": "click", "x": 400, "y": 250}, {"type": "type", "text": "echo hi\n"}, {"type": "key", "keys": ["enter"]}]
    pointer = mark_actions(img, actions)
    assert pointer == (400, 250)
    # the ring of the click marker passes 16 px * scale (2 at 1280 px) left of the point
    ring = [img.getpixel((400 - r, 250)) for r in range(28, 36)]
    assert CLICK in ring
    assert img.getpixel((400, 250)) != (255, 255, 255)  # the centre dot
    assert img.getpixel((20, 20)) != (255, 255, 255)  # the banner for the key press


class Recorder:
    """A listener that keeps what the run reported."""

    def __init__(self) -> None:
        self.statuses: list[str] = []
        self.steps: list = []
        self.deltas: list[tuple[int, str, str]] = []

    async def status(self, text):
        self.statuses.append(text)

    async def delta(self, index, kind, text):
        self.deltas.append((index, kind, text))

    async def step(self, view):
        self.steps.append(view)


def test_a_desktop_or_setup_failure_comes_back_as_a_readable_error(tmp_path):
    from agent.ui.agent_view import run_agent
    from agent.ui.agent_view import RunSpec
    from sandbox import Sandbox, SandboxError, sandbox_processes
    from tasks import task_from_data

    profile = get_profile("kimi-vl-thinking")
    model = OpenAIModel(base_url="http://127.0.0.1:9/v1", model="x")

    def broken(width, height, isolate):
        raise SandboxError("Xvfb exited at start: no display available")

    spec = RunSpec("t", "do it", 3, 640, 480)
    result = asyncio.run(run_agent(spec, model, profile, tmp_path, Recorder(), sandbox_factory=broken))
    assert result.outcome is None and "could not be started" in result.error and "Xvfb exited" in result.error

    task = task_from_data({"id": "bad-setup", "instruction": "x", "setup": [{"kind": "run", "argv": ["false"]}],
                           "checker": {"kind": "infeasible"}, "screen": {"width": 640, "height": 480}})
    opened = []

    def real(width, height, isolate):
        opened.append(Sandbox(width, height))
        return opened[-1]

    spec = RunSpec(task.id, task.instruction, 3, 640, 480, task=task, setup_task=task)
    rec = Recorder()
    result = asyncio.run(run_agent(spec, model, profile, tmp_path, rec, sandbox_factory=real))
    assert result.outcome is None and "setup failed" in result.error and "setup[0] (run)" in result.error
    assert any("Preparing the desktop" in s for s in rec.statuses)
    assert not sandbox_processes(opened[0].id)  # the desktop was closed


def test_stopping_while_the_desktop_starts_still_closes_it(tmp_path):
    from agent.ui.agent_view import RunSpec, run_agent
    from sandbox import Sandbox, sandbox_processes

    opened = []

    def slow(width, height, isolate):
        time.sleep(0.5)
        opened.append(Sandbox(width, height))
        return opened[-1]

    async def go():
        model = OpenAIModel(base_url="http://127.0.0.1:9/v1", model="x")
        run = asyncio.create_task(run_agent(RunSpec("t", "x", 3, 640, 480), model, get_profile(None), tmp_path,
                                            Recorder(), sandbox_factory=slow))
        await asyncio.sleep(0.1)
        run.cancel()
        result = await run
        deadline = time.monotonic() + 20  # the server's loop keeps running: so does this one, until closed
        while time.monotonic() < deadline and (not opened or sandbox_processes(opened[0].id)):
            await asyncio.sleep(0.05)
        return result

    result = asyncio.run(go())
    assert result.cancelled and opened and not sandbox_processes(opened[0].id)


def test_a_run_streams_thinking_and_reports_each_step_as_recorded(tmp_path):
    """``run_agent`` against the stub and a real sandbox: deltas carry the step index, steps come
    with the marked screenshot, the verdict is merged into result.json."""
    from agent.ui.agent_view import bundled_spec, load_bundled, run_agent

    task = {t.id: t for t in load_bundled()}["xterm-echo-file"]
    with StubOpenAI(AGENT_REPLIES, chunk_chars=5) as stub:
        model = OpenAIModel(base_url=stub.base_url, model="Kimi-VL-A3B-Thinking", stream=True)
        rec = Recorder()

        async def go():
            try:
                return await run_agent(bundled_spec(task), model, get_profile("kimi-vl-thinking"), tmp_path, rec)
            finally:
                await model.aclose()

        result = asyncio.run(go())
    assert result.verdict is not None and result.verdict.passed, (result.error, result.outcome)
    assert [v.index for v in rec.steps] == [1, 2, 3]
    assert {i for i, kind, _ in rec.deltas} == {1, 2, 3} and all(k == "content" for _, k, _ in rec.deltas)
    assert "".join(t for i, _, t in rec.deltas if i == 1).startswith("◁think▷The terminal is open")
    first = rec.steps[0]
    assert first.actions == ["click(400, 250)"] and first.action_text == "Click inside the terminal window."
    img = Image.open(io.BytesIO(first.image_png))
    assert img.size == (1280, 800) and img.getpixel((400, 250)) != Image.open(result.folder / "step-0001.png").convert("RGB").getpixel((400, 250))
    saved = json.loads((result.folder / "result.json").read_text())
    assert saved["verdict"] == {"passed": True, "reason": result.verdict.reason}


# ====================================================================== the command line
def test_ui_command_rejects_bad_input(tmp_path, capsys):
    from agent.cli import main

    assert main(["ui", "--profile", "nope"]) == 2
    assert "unknown model profile 'nope'" in capsys.readouterr().err
    assert main(["ui", "--base-url", "localhost:8000"]) == 2
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["ui", "--port", str(port), "--state-dir", str(tmp_path / "st"), "--episodes",
                     str(tmp_path / "ep")]) == 2
    assert "already in use" in capsys.readouterr().err


def test_ui_command_without_chainlit_says_how_to_install(monkeypatch, capsys):
    from agent.cli import main
    from agent.commands import ui

    monkeypatch.setattr(ui, "chainlit_dir", lambda: None)
    assert main(["ui"]) == 1
    assert "pip install 'screenact[ui]'" in capsys.readouterr().err


# ====================================================================== end to end in Chromium
FALLBACK = kimi("No scripted reply is left for this request.", "Give up.", "FAIL")
HANG = threading.Event()     # set: requests without a scripted reply wait for RELEASE
RELEASE = threading.Event()
LATE: list[str] = []         # replies for requests that waited


def fallback(body: dict) -> str:
    if HANG.is_set():
        RELEASE.wait(60)
    return LATE.pop(0) if LATE else FALLBACK


SECRET_KEY = "sk-screenact-test-secret-key"


@pytest.fixture(scope="module")
def stub():
    with StubOpenAI(responder=fallback, chunk_chars=4) as s:
        yield s
    RELEASE.set()


@pytest.fixture(scope="module")
def ui(stub, tmp_path_factory):
    # CI services set CI=true, which Chainlit's CLI takes as its --ci flag (it then swaps in a fake key)
    env = {"OPENAI_API_KEY": SECRET_KEY, "CI": "true"}
    server = UIServer(stub.base_url, tmp_path_factory.mktemp("ui"), env=env)
    try:
        server.started_in = server.wait_ready()
        yield server
        # every run closed its desktop (the stopped one too): nothing is left below the server but the one
        # idle desktop of its warm pool (no app in it)
        deadline = time.monotonic() + 10
        while not _only_the_warm_desktop(left := descendants(server.proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _only_the_warm_desktop(left), "\n".join(c[:100] for c in left.values())
    finally:
        server.stop()


def _only_the_warm_desktop(procs: dict[int, str]) -> bool:
    """Whether ``procs`` are at most one idle sandbox: its bwrap, worker, Xvfb and window manager, no app."""
    core = ("bwrap ", "Xvfb ", "openbox ")
    workers = [c for c in procs.values() if "-m sandbox.worker" in c and not c.startswith("bwrap ")]
    return len(workers) <= 1 and all(c.startswith(core) or "-m sandbox.worker" in c for c in procs.values())


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch_browser(pw)
        context = new_context(b)
        yield context
        context.close()
        b.close()


@pytest.fixture
def page(browser, ui, stub, artifacts, request):
    with stub._lock:
        stub._replies.clear()
    p = open_chat(browser, ui.url)
    yield p
    p.screenshot(path=str(artifacts / f"ui-{request.node.name}-end.png"), animations="disabled")
    (artifacts / f"ui-{request.node.name}-end.txt").write_text(body_text(p) + "\n\n--- server log ---\n" + ui.log())
    p.close()


def test_chat_upload_streams_the_answer_with_thinking_apart(page, stub, artifacts, tmp_path):
    shot = tmp_path / "red.png"
    shot.write_bytes(png_bytes())
    stub.push({"content": "◁think▷Looking at the picture: one red rectangle in the middle of a white canvas, "
                          "nothing else.◁/think▷The picture shows a **red rectangle** on white. "
                          "<img src=x onerror=\"window.__pwned=1\"> <script>window.__pwned=2</script> "
                          "# not-a-heading ![tracker](http://127.0.0.1:9/leak.png?q=secret)"})
    send(page, "What is in this picture?", files=[shot])
    wait_text(page, "The picture shows a")
    page.locator('[id^="step-Thought for"]').wait_for()
    page.screenshot(path=str(artifacts / "ui-chat-answer.png"), animations="disabled")
    # the thinking is in its own block, collapsed once done, and not in the answer
    page.get_by_text("Looking at the picture").wait_for(state="hidden")
    text = body_text(page)
    assert "red rectangle" in text and "Looking at the picture" not in text
    page.click('[id^="step-Thought for"]')
    wait_text(page, "Looking at the picture: one red rectangle")
    page.screenshot(path=str(artifacts / "ui-chat-thinking-open.png"), animations="disabled")
    # model output is data: the markup shows as text and nothing ran
    assert "<img src=x" in body_text(page) and "# not-a-heading" in body_text(page)
    assert page.evaluate("window.__pwned") is None
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator('img[src*="leak.png"]').count() == 0  # no image fetched from a URL the model chose
    # streamed: the request asked for a stream and many tokens reached the browser one by one
    req = stub.chat_requests[-1]
    assert req.body["stream"] is True
    assert sum('"stream_token"' in f for f in page.ws_frames) >= 10
    # the image went as a base64 data URL, as uploaded
    parts = req.body["messages"][-1]["content"]
    assert parts[0]["type"] == "image_url" and parts[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert req.image_sizes == [(640, 400)] and parts[1] == {"type": "text", "text": "What is in this picture?"}
    assert req.body["temperature"] == pytest.approx(0.6) and req.body["max_tokens"] <= 4096  # the profile's own


def test_chat_paste_then_follow_up_keeps_the_history(page, stub, artifacts):
    stub.push("◁think▷A green box.◁/think▷It is a green box.", "◁think▷Same image as before.◁/think▷Still green.")
    paste_image(page, png_bytes(color="green"))
    wait_uploaded(page)
    send(page, "Colour?")
    wait_text(page, "It is a green box.")
    send(page, "Are you sure?")
    wait_text(page, "Still green.")
    page.screenshot(path=str(artifacts / "ui-chat-history.png"), animations="disabled")
    second = stub.chat_requests[-1].body["messages"]
    roles = [m["role"] for m in second]
    assert roles == ["system", "user", "assistant", "user"]
    assert second[2]["content"] == "It is a green box."  # the answer only: earlier thinking is not sent back
    assert stub.chat_requests[-1].image_sizes == [(640, 400)]  # the pasted image is still in context


def test_a_bad_upload_is_a_readable_message(page, stub, artifacts, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    before = len(stub.chat_requests)
    send(page, "What is this?", files=[broken])
    wait_text(page, "The upload cannot be used")
    page.screenshot(path=str(artifacts / "ui-bad-upload.png"), animations="disabled")
    assert "broken.png" in body_text(page)
    assert len(stub.chat_requests) == before  # nothing was sent to the model
    stub.push("◁think▷ok◁/think▷Fine again.")
    send(page, "hello")  # the chat goes on
    wait_text(page, "Fine again.")


def test_grounding_draws_the_predicted_point(page, stub, artifacts, tmp_path):
    shot = tmp_path / "screen.png"
    shot.write_bytes(png_bytes((1280, 800), (560, 160, 720, 240), "blue"))
    pick_mode(page, "Grounding")
    stub.push(kimi("The blue button is centred at about half the width and a quarter of the height.",
                   "Click the blue button.", "pyautogui.click(x=0.5, y=0.25)"))
    send(page, "the blue button", files=[shot])
    wait_text(page, "point (640, 200)")
    page.locator('img[alt="grounding-screen.png"]').wait_for()
    page.locator('img[alt="grounding-screen.png"]').scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "ui-grounding.png"), animations="disabled")
    req = stub.chat_requests[-1]
    assert req.body["temperature"] == 0 and req.image_sizes == [(1280, 800)]
    assert "## Task Instruction:\nthe blue button" in json.dumps(req.body["messages"], ensure_ascii=False).replace("\\n", "\n")




def test_agent_runs_a_bundled_task_step_by_step_to_a_verdict(page, stub, ui, artifacts):
    pick_mode(page, "Agent")
    stub.push(AGENT_REPLIES[0])
    LATE[:] = AGENT_REPLIES[1:]
    HANG.set()  # the second request waits: step 1 must be on screen while the run goes on
    RELEASE.clear()
    try:
        started = time.monotonic()
        send(page, "xterm-echo-file")
        wait_text(page, "Agent · bundled task")
        wait_text(page, "Step 1 · click(400, 250)", timeout=60)
        live = time.monotonic() - started
        page.locator('[id^="step-Step 1 · thought for"]').wait_for()
        page.locator('img[alt="step-0001.png"]').wait_for()
        page.locator('img[alt="step-0001.png"]').scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "ui-agent-live-step.png"), animations="disabled")
        assert "Checker verdict" not in body_text(page) and page.locator("#stop-button").is_visible()
    finally:
        HANG.clear()
        RELEASE.set()
    wait_text(page, "Checker verdict", timeout=90)
    page.screenshot(path=str(artifacts / "ui-agent-verdict.png"), animations="disabled")
    text = body_text(page)
    assert "PASSED" in text and "/tmp/home/hello.txt" in text
    assert "Step 3 · done" in text
    assert "type(\"echo 'hello from the terminal' > ~/hello.txt\"), key(enter)" in text
    assert "Action: Type the echo command and press Enter." in text
    for n in (1, 2, 3):
        assert page.locator(f'img[alt="step-{n:04d}.png"]').count() == 1
    page.click('[id^="step-Step 2 · thought for"]')
    wait_text(page, "The terminal has the focus.")
    folders = sorted(ui.episodes.glob("*-xterm-echo-file"))
    assert folders, list(ui.episodes.iterdir())
    result = json.loads((folders[-1] / "result.json").read_text())
    assert result["status"] == "done" and result["verdict"]["passed"] is True
    assert result["reset"]["from_pool"] is True  # the UI's warm pool had the desktop started ahead
    assert str(folders[-1]) in text
    print(f"step 1 on screen after {live:.1f} s")


def test_a_task_button_runs_a_bundled_task(page, stub, ui, artifacts):
    """The buttons under the welcome message run a task without typing (an infeasible one: only FAIL passes)."""
    stub.push("◁think▷xterm has no tab bar at all; this cannot be done.◁/think▷## Action:\n"
              "xterm has no tabs, so the task is infeasible.\n## Code:\n```\nFAIL\n```")
    button = page.get_by_role("button", name="xterm-infeasible-gui", exact=True)
    button.focus()  # by keyboard: the composer may cover the last row of buttons, whatever the suite's size
    page.keyboard.press("Enter")
    wait_text(page, "Agent · bundled task")
    assert page.locator("#stop-button").is_visible() or "Checker verdict" in body_text(page)
    wait_text(page, "Checker verdict", timeout=90)
    # no scrolling to the verdict: the message re-renders as it updates (the element can detach mid-scroll),
    # and the page scrolls to new messages itself
    page.screenshot(path=str(artifacts / "ui-agent-task-button.png"), animations="disabled")
    text = body_text(page)
    assert "Agent finished: fail" in text and "PASSED" in text
    assert page.locator("#stop-button").count() == 0  # the composer is free again


def test_the_stop_button_ends_a_run_and_keeps_the_episode(page, stub, ui, artifacts):
    pick_mode(page, "Agent")
    stub.push(AGENT_REPLIES[0])
    HANG.set()  # the second request hangs until the run is stopped
    RELEASE.clear()
    try:
        send(page, "xterm-echo-file")
        _stop_run(page, ui, artifacts)
    finally:
        HANG.clear()
        RELEASE.set()


def _stop_run(page, ui, artifacts):
    page.locator('[id^="step-Step 1 · thought for"]').wait_for(timeout=60_000)
    wait_text(page, "Step 1 · click(400, 250)")
    page.click("#stop-button")  # the composer's stop button
    wait_text(page, "Stopped", timeout=30)
    page.screenshot(path=str(artifacts / "ui-agent-stopped.png"), animations="disabled")
    folder = sorted(ui.episodes.glob("*-xterm-echo-file"))[-1]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (folder / "result.json").exists():
        time.sleep(0.1)
    assert json.loads((folder / "result.json").read_text())["status"] == "cancelled"
    assert "Checker verdict" not in body_text(page).split("Stopped")[-1]


def test_the_settings_panel_changes_the_request(page, stub, artifacts):
    page.click("#chat-settings-open-modal")
    page.locator("#chat-settings").wait_for()
    page.screenshot(path=str(artifacts / "ui-settings.png"), animations="disabled")
    page.fill("#max_tokens", "300")
    page.click("#stream")  # streaming off
    page.fill("#system_prompt", "You answer in one word.")
    page.click("#confirm")
    page.locator("#chat-settings").wait_for(state="hidden")
    stub.push("◁think▷One word.◁/think▷Blue.")
    send(page, "Sky colour?")
    wait_text(page, "Blue.")
    body = stub.chat_requests[-1].body
    assert body["max_tokens"] == 300 and body.get("stream") in (False, None)
    assert body["messages"][0] == {"role": "system", "content": "You answer in one word."}
    page.locator('[id^="step-Thought for"]').wait_for()  # thinking apart without streaming too


def _set_server(page, base_url: str, key: str | None = None) -> None:
    """Change the server in the settings panel; ``key`` None leaves the key field as the panel shows it."""
    page.click("#chat-settings-open-modal")
    page.locator("#chat-settings").wait_for()
    page.fill("#base_url", base_url)
    if key is not None:
        page.fill("#api_key", key)
    page.click("#confirm")
    page.locator("#chat-settings").wait_for(state="hidden")


def test_the_api_key_goes_only_to_the_server_it_was_given_for(page, stub, artifacts):
    """A page that changes the base URL (to its own server) must not receive the key from the environment."""
    keys = lambda s: {r.headers.get("authorization") for r in s.requests}  # noqa: E731
    assert f"Bearer {SECRET_KEY}" in keys(stub)  # the configured server gets the key
    with StubOpenAI(responder=lambda body: "◁think▷ok◁/think▷Hello from elsewhere.") as other:
        _set_server(page, other.base_url)
        wait_text(page, f"Connected to {other.base_url}")
        send(page, "Hello?")
        wait_text(page, "Hello from elsewhere.")
        assert other.chat_requests and keys(other) == {"Bearer EMPTY"}
        _set_server(page, other.base_url, "sk-typed-for-the-other-server")  # a new key, given for it
        page.wait_for_function("t => document.body.innerText.split(t).length > 2", arg=f"Connected to {other.base_url}")
        send(page, "Again?")
        page.wait_for_function("() => document.body.innerText.split('Hello from elsewhere.').length > 2")
        assert other.chat_requests[-1].headers["authorization"] == "Bearer sk-typed-for-the-other-server"
        before = len(stub.requests)
        # back, without touching the key field (the panel shows it empty again, so the typed key cannot
        # ride along): that key stays with the other server, and the first one is gone
        _set_server(page, stub.base_url)
        wait_text(page, f"Connected to {stub.base_url}")
        assert keys(other) <= {"Bearer EMPTY", "Bearer sk-typed-for-the-other-server"}
        assert {r.headers.get("authorization") for r in stub.requests[before:]} == {"Bearer EMPTY"}
    page.screenshot(path=str(artifacts / "ui-key-stays.png"), animations="disabled")


def test_a_dead_server_is_a_readable_message(page, stub, artifacts):
    stub.refuse_for(10)
    try:
        send(page, "Anyone there?")
        wait_text(page, "Cannot reach the model server", timeout=30)
        page.screenshot(path=str(artifacts / "ui-server-down.png"), animations="disabled")
        assert stub.base_url in body_text(page)
        pick_mode(page, "Agent")
        send(page, "Open the terminal and list the files.")
        wait_text(page, "Agent finished", timeout=60)
        text = body_text(page)
        assert "error" in text and "cannot reach the model server" in text.lower()
        assert "a typed instruction has no checker" in text
        page.screenshot(path=str(artifacts / "ui-server-down-agent.png"), animations="disabled")
    finally:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # listening again before the next test
            try:
                socket.create_connection(("127.0.0.1", stub.port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
