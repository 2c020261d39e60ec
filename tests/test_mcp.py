"""``screenact mcp``: the official SDK's client drives real sandboxed desktops over stdio and HTTP."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.mcp_client import (ROOT, SERVER, assert_no_processes_left, call, desktops, free_port, http_server, http_session,
                              image_size, solve, stdio_session, text)
from tasks import SUITE_DIR, load_task
from tests.test_cli_checks import screenact
from tools.actions import Click

TOOLS = {"screenshot", "click", "move", "drag", "scroll", "type", "key", "wait", "windows", "launch", "list_tasks",
         "start_task", "check_task"}
TOKEN = "test-token-0123456789abcdef"


def test_stdio_tools_screenshots_and_refusals(tmp_path):
    log = tmp_path / "server.log"

    async def session() -> None:
        async with stdio_session(log) as s:
            assert {t.name for t in (await s.list_tools()).tools} == TOOLS
            full = await call(s, "screenshot")
            assert image_size(full) == (1280, 800) and "screenshot 1280x800" in text(full)
            small = await call(s, "screenshot", max_side=640)
            assert image_size(small) == (640, 400) and "(screen 1280x800, scaled)" in text(small)
            off = await s.call_tool("click", {"x": 700, "y": 10})  # pixels of the 640x400 image: off it
            assert off.isError and "outside the screenshot" in text(off) and "640x400" in text(off)
            banned = await s.call_tool("launch", {"argv": ["firefox"]})
            assert banned.isError and "'firefox' is not an app this server may launch" in text(banned)
            for bad in ({"x": 1, "y": 1, "clicks": 9}, {"x": "left", "y": 1}, {}):
                assert (await s.call_tool("click", bad)).isError
            assert (await s.call_tool("key", {"keys": ["ctrl", "alt", "delete"]})).isError
            assert (await s.call_tool("check_task", {})).isError  # no task started
            launched = await call(s, "launch", argv=["xterm", "-title", "mcp-term"])
            assert "mcp-term" in text(launched) and image_size(launched) == (640, 400)
            wins = json.loads(text(await call(s, "windows")))
            (win,) = [w for w in wins if w["title"] == "mcp-term"]
            assert 0 <= win["x"] < 640 and 0 < win["width"] <= 640  # boxes in the scaled image's pixels
            moved = await call(s, "move", x=win["x"] + 5, y=win["y"] + 5, screenshot=False)
            assert not [c for c in moved.content if c.type == "image"]
            assert image_size(await call(s, "screenshot")) == (1280, 800)  # the server still answers; native again

    asyncio.run(session())
    assert_no_processes_left(log)


def test_a_desktop_killed_from_inside_is_replaced_and_the_server_goes_on(tmp_path):
    log = tmp_path / "server.log"

    async def session() -> None:
        async with stdio_session(log, "--allow-app", "xterm", "--allow-app", "no-such-program") as s:
            missing = await s.call_tool("launch", {"argv": ["no-such-program"]})
            assert missing.isError and "No such file" in text(missing)
            assert len(desktops(log)) == 1  # a failed request: the desktop goes on
            results = [await s.call_tool("launch", {"argv": ["xterm", "-e", "sh", "-c", "kill -9 -1"]})]
            while not any("the desktop failed and was closed" in text(r) for r in results):  # a hostile app
                assert len(results) < 500, [text(r) for r in results[-3:]]
                results.append(await s.call_tool("screenshot", {}))
            assert image_size(await call(s, "screenshot")) == (1280, 800)  # a fresh desktop
            assert len(desktops(log)) == 2

    asyncio.run(session())
    assert_no_processes_left(log)


def test_a_bundled_task_solved_through_the_tools_passes_and_doing_nothing_fails(tmp_path):
    """Typing "héllo wörld 你好" into xterm through the tools is read back exactly (the checker reads the file
    the shell wrote, inside the sandbox)."""
    log = tmp_path / "server.log"
    task = load_task(SUITE_DIR / "xterm-unicode.yaml")  # types "héllo wörld 你好" into xterm; read back by the checker

    async def session() -> None:
        async with stdio_session(log) as s:
            listed = json.loads(text(await call(s, "list_tasks")))
            assert task.id in {t["id"] for t in listed}
            started = await call(s, "start_task", id=task.id)
            assert task.instruction in text(started) and image_size(started) == (1280, 800)
            await solve(s, task)
            verdict = json.loads(text(await call(s, "check_task")))
            assert verdict["passed"] is True, verdict
            await call(s, "start_task", id=task.id)  # a fresh desktop: the file is gone
            verdict = json.loads(text(await call(s, "check_task")))
            assert verdict["passed"] is False and "unicode.txt" in verdict["reason"]
            await call(s, "start_task", id="xterm-infeasible-gui")  # passes only by giving up
            assert json.loads(text(await call(s, "check_task")))["passed"] is False
            assert json.loads(text(await call(s, "check_task", gave_up=True, answer="xterm has no tabs")))["passed"]
            unknown = await s.call_tool("start_task", {"id": "no-such-task"})
            assert unknown.isError and "no task 'no-such-task'" in text(unknown)

    asyncio.run(session())
    assert_no_processes_left(log)


def test_a_recorded_session_reports_and_replays(tmp_path):
    from agent.episode import load_episode
    from agent.report import render_report

    log, record = tmp_path / "server.log", tmp_path / "episodes"
    task = load_task(SUITE_DIR / "xterm-echo-file.yaml")

    async def session() -> None:
        async with stdio_session(log, "--record", str(record), "--record-video") as s:
            await call(s, "launch", argv=["xterm", "-title", "before-the-task"])  # the session's own episode
            await call(s, "type", text="echo héllo\n", screenshot=False)
            await call(s, "start_task", id=task.id)  # a fresh desktop, a new episode
            assert (await s.call_tool("click", {"x": -5, "y": 3})).isError  # refused: recorded, not executed
            await solve(s, task)
            assert json.loads(text(await call(s, "check_task")))["passed"] is True

    asyncio.run(session())
    (folder,) = [p for p in record.iterdir() if p.name.endswith(task.id)]
    ep = load_episode(folder)
    assert ep.complete, ep.problems
    assert ep.result["verdict"]["passed"] is True and ep.task["mode"] == "mcp"
    assert ep.result["video"]["file"] == "episode.webm" and ep.result["video"]["finalised"] is True
    assert (folder / "episode.webm").stat().st_size == ep.result["video"]["bytes"] > 0  # each desktop: its video
    assert [s.action_text for s in ep.steps][0] == "click(-5, 3)" and ep.steps[0].rejections
    assert [e.action.type for s in ep.steps for e in s.executed] == ["click", "type"]
    page = render_report(folder).read_text()
    assert task.id in page and "click(400, 250)" in page and "outside the screenshot" in page
    offline = subprocess.run([*SERVER[:-2], "replay", str(folder), "--offline"], cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
    assert offline.returncode == 0 and "2 steps checked, identical" in offline.stdout, offline.stdout + offline.stderr
    replay = subprocess.run([*SERVER[:-2], "replay", str(folder), "--out", str(tmp_path / "again")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "identical" in replay.stdout and "verdict: passed" in replay.stdout
    assert load_episode(tmp_path / "again").result["verdict"]["passed"] is True
    (session,) = [p for p in record.iterdir() if p != folder]
    first = load_episode(session)
    assert first.result["video"]["finalised"] is True and (session / "episode.webm").is_file()
    assert first.complete and first.task["launches"] == [{"after_step": 0, "argv": ["xterm", "-title", "before-the-task"]}]
    assert [e.action.model_dump() for s in first.steps for e in s.executed] == [{"type": "type", "text": "echo héllo\n"}]
    replay = subprocess.run([*SERVER[:-2], "replay", str(session), "--out", str(tmp_path / "again2")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert replay.returncode == 0 and "1 steps replayed, identical" in replay.stdout, replay.stdout + replay.stderr


def test_http_needs_the_token_refuses_foreign_origins_and_closes_each_session(tmp_path):
    log, port = tmp_path / "server.log", free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
             "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
    accept = {"Accept": "application/json, text/event-stream"}
    with http_server(log, port, "--max-sessions", "1", env={"SCREENACT_MCP_TOKEN": TOKEN}):
        assert httpx.post(url, json=hello, headers=accept).status_code == 401
        wrong = httpx.post(url, json=hello, headers={**accept, "Authorization": "Bearer not-the-token-at-all"})
        assert wrong.status_code == 401
        foreign = httpx.post(url, json=hello, headers={**accept, "Authorization": f"Bearer {TOKEN}",
                                                       "Origin": "http://evil.example"})
        assert foreign.status_code == 403
        rebound = httpx.post(url, json=hello, headers={**accept, "Authorization": f"Bearer {TOKEN}",
                                                       "Host": f"evil.example:{port}"})
        assert rebound.status_code == 403

        async def session() -> None:
            async with http_session(url, TOKEN) as s:
                assert {t.name for t in (await s.list_tools()).tools} == TOOLS
                assert image_size(await call(s, "screenshot", max_side=1000)) == (1000, 625)
                off = await s.call_tool("click", {"x": 1001, "y": 1})
                assert off.isError and "outside" in text(off)
                banned = await s.call_tool("launch", {"argv": ["sh", "-c", "id"]})
                assert banned.isError and "not an app this server may launch" in text(banned)
                async with httpx.AsyncClient() as other:  # a second session while one is open: no room
                    crowded = await other.post(url, json=hello, headers={**accept, "Authorization": f"Bearer {TOKEN}"})
                    assert crowded.status_code == 503

        asyncio.run(session())
        assert_no_processes_left(log)  # the client's DELETE ended the session and its desktop


def test_a_shared_desktop_serves_every_session_and_dies_with_a_killed_server(tmp_path):
    from sandbox import sandbox_processes

    log, port = tmp_path / "server.log", free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    with http_server(log, port, "--shared") as server:  # loopback: no token needed

        async def two_sessions() -> None:
            async with http_session(url, None) as first:
                await call(first, "launch", argv=["xterm", "-title", "shared-term"])
            async with http_session(url, None) as second:
                assert "shared-term" in {w["title"] for w in json.loads(text(await call(second, "windows")))}

        asyncio.run(two_sessions())
        (desktop,) = desktops(log)  # one desktop for both sessions, still there after they ended
        assert sandbox_processes(desktop)
        server.kill()  # SIGKILL: nothing can clean up, and still nothing may survive
        server.wait()
        assert_no_processes_left(log)


@given(st.integers(64, 7680), st.integers(64, 4320), st.one_of(st.none(), st.integers(64, 8192)))
def test_a_scaled_screenshot_fits_and_its_pixels_map_onto_the_screen(width, height, max_side):
    from agent.mcp.view import fit, transform

    w, h = fit(width, height, max_side)
    if max_side is None or max_side >= max(width, height):
        assert (w, h) == (width, height)  # never scaled up
    else:  # down to exactly max_side, the aspect kept to a pixel
        scale = max_side / max(width, height)
        assert max(w, h) == max_side and abs(w - width * scale) <= 1 and abs(h - height * scale) <= 1
    t = transform(width, height, max_side)
    assert t.to_screen(0, 0) == (0, 0) and t.to_screen(w, h) == (width - 1, height - 1)
    assert t.action_to_screen(Click(x=w + 1, y=0)).message.startswith("click at")  # off the image: refused
    x, y = t.to_screen(w / 2, h / 2)
    assert abs(x - width / 2) <= width / w + 1 and abs(y - height / 2) <= height / h + 1


@pytest.mark.parametrize("flags, message", [
    (["--http", "8765", "--host", "0.0.0.0"], "needs a token"),
    (["--http", "8765", "--token", "short"], "at least 16 characters"),
    (["--tasks", "/nonexistent"], "--tasks"),
    (["--allow-app", "/bin/sh"], "--allow-app"),
    (["--max-wait", "0"], "--max-wait"),
    (["--http", "70000"], "--http"),
    (["--record", "/proc/version"], "--record"),
    (["--record-video"], "needs --record DIR"),
])
def test_bad_flags_exit_2_naming_the_flag(flags, message):
    if "--host" in flags:  # once through the real command, the rest through its main
        done = subprocess.run([sys.executable, "-m", "agent.cli", "mcp", *flags], cwd=ROOT, capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin"})
    else:
        done = screenact("mcp", *flags, env={"PATH": "/usr/bin:/bin"}, in_process=True)
    assert done.returncode == 2 and message in done.stderr, done.stderr
