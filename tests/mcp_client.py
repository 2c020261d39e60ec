"""Talking to ``screenact mcp`` the way MCP clients do: the official SDK's client over stdio and HTTP."""

from __future__ import annotations

import base64
import contextlib
import io
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from sandbox import sandbox_processes

ROOT = Path(__file__).resolve().parent.parent
SERVER = [sys.executable, "-m", "agent.cli", "-v", "mcp"]


@contextlib.asynccontextmanager
async def stdio_session(log: Path, *flags: str) -> AsyncIterator[ClientSession]:
    """An initialized client session with a ``screenact mcp`` the client started (its stderr in ``log``)."""
    params = StdioServerParameters(command=SERVER[0], args=[*SERVER[1:], *flags], env=dict(os.environ), cwd=ROOT)
    with open(log, "a") as err:
        async with stdio_client(params, errlog=err) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session


@contextlib.asynccontextmanager
async def http_session(url: str, token: str | None) -> AsyncIterator[ClientSession]:
    """An initialized client session with a running ``screenact mcp --http``."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(60, read=300)) as client:
        async with streamable_http_client(url, http_client=client) as (read, write, _), \
                ClientSession(read, write) as session:
            await session.initialize()
            yield session


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def http_server(log: Path, port: int, *flags: str, env: dict[str, str] | None = None):
    """``screenact mcp --http PORT`` running until the block ends (then stopped with SIGINT and waited for)."""
    with open(log, "a") as err:
        proc = subprocess.Popen([*SERVER, "--http", str(port), *flags], cwd=ROOT, stdin=subprocess.DEVNULL,
                                stdout=err, stderr=err, env={**os.environ, **(env or {})})
    try:
        wait_for(lambda: "serving http" in log.read_text() or proc.poll() is not None, 60, "the server to listen")
        assert proc.poll() is None, log.read_text()
        yield proc
    finally:
        proc.send_signal(2)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        time.sleep(0.05)


def desktops(log: Path) -> list[str]:
    """The ids of the desktops the server opened, from its log."""
    return re.findall(r"desktop (\w+) opened", log.read_text())


def assert_no_processes_left(log: Path) -> None:
    """Every desktop the server opened is gone (its processes, found by their sandbox tag)."""
    ids = desktops(log)
    assert ids, log.read_text()
    for sid in ids:
        wait_for(lambda: not sandbox_processes(sid), 15, f"the processes of desktop {sid} to end")


def text(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


def image_size(result: CallToolResult) -> tuple[int, int]:
    from PIL import Image

    (image,) = [c for c in result.content if c.type == "image"]
    assert image.mimeType == "image/png"
    with Image.open(io.BytesIO(base64.b64decode(image.data))) as img:
        assert img.format == "PNG"
        return img.size


async def call(session: ClientSession, tool: str, **arguments) -> CallToolResult:
    """A tool call that must succeed."""
    result = await session.call_tool(tool, arguments)
    assert not result.isError, text(result)
    return result


async def solve(session: ClientSession, task) -> None:
    """Run a task's reference solution (plain actions in screen pixels) through the tools."""
    for action in task.solution:
        if action.type in ("done", "fail"):
            continue
        await call(session, action.type, **action.model_dump(mode="json", exclude={"type"}, exclude_none=True))
