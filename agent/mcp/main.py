"""Running the server: over stdio (the client started us) or streamable HTTP behind the door."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio

from agent.mcp.session import Desk, McpConfig

log = logging.getLogger("screenact.mcp")


@contextlib.asynccontextmanager
async def _shared_desk(config: McpConfig, shared: bool) -> AsyncIterator[Desk | None]:
    """The one desk of ``--shared`` (closed when the server stops), or None: each session owns one."""
    desk = Desk(config) if shared else None
    try:
        yield desk
    finally:
        if desk is not None:
            with anyio.CancelScope(shield=True):
                await desk.close()


def protect_stdout() -> None:
    """Keep the protocol's stdout for MCP messages only: ``sys.stdout`` keeps the pipe, file descriptor
    1 becomes stderr, so nothing a library or a child process prints can corrupt the stream."""
    proto = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = open(proto, "w", encoding="utf-8", closefd=True)  # noqa: SIM115 - lives as long as the server


def serve_stdio(config: McpConfig, shared: bool = False) -> None:
    """Serve one session over stdin/stdout until the client closes it."""
    from agent.mcp.server import build_server

    protect_stdout()

    async def main() -> None:
        async with _shared_desk(config, shared) as desk:
            await build_server(config, desk).run_stdio_async()

    anyio.run(main)


def serve_http(config: McpConfig, gate: Any, host: str, port: int, shared: bool = False, max_sessions: int = 4) -> None:
    """Serve streamable HTTP on ``host:port`` (path ``/mcp``) behind :class:`agent.mcp.http.McpGate`
    (``gate``: ``agent.ui.gate.Gate``, its token the bearer token), at most ``max_sessions`` sessions at once."""
    import uvicorn

    from agent.mcp.http import McpGate
    from agent.mcp.server import build_server

    async def main() -> None:
        async with _shared_desk(config, shared) as desk:
            server_app = build_server(config, desk, host=host, port=port, max_sessions=max_sessions).streamable_http_app()
            app = McpGate(server_app, gate)
            server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
            name = f"[{host}]" if ":" in host else host
            print(f"screenact mcp: serving http://{name}:{port}/mcp", file=sys.stderr, flush=True)
            await server.serve()

    anyio.run(main)
