"""The live view: a browser watches a sandbox's desktop through noVNC, behind the front end's gate.

One HTTP server on the host (uvicorn, in a thread of its own) serves Debian's noVNC files and, on
``/websockify``, bridges each websocket to a fresh RFB connection from :meth:`Sandbox.open_view` (an
``x11vnc -inetd`` inside the sandbox on the far end of a socket pair). Every request passes
:class:`agent.ui.gate.GateMiddleware` first: foreign ``Origin``, foreign ``Host`` and, off loopback,
a missing token are refused. See docs/live-view.md.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from agent.errors import UsageError
from agent.ui.gate import Gate, GateMiddleware

if TYPE_CHECKING:
    from sandbox import Sandbox

NOVNC_DIR = Path("/usr/share/novnc")  # Debian's novnc package
WS_PATH = "/websockify"
PAGE = "/novnc/vnc_lite.html?path=websockify&scale=true&view_only=true"
CHUNK = 1 << 16


def novnc_dir() -> Path:
    """Where noVNC's files are; a UsageError saying how to install what the live view needs when it is missing."""
    import importlib.util
    import shutil

    if not (NOVNC_DIR / "vnc_lite.html").is_file() or shutil.which("x11vnc") is None:
        raise UsageError(f"the live view needs x11vnc and noVNC in {NOVNC_DIR} (Debian: apt-get install x11vnc novnc)")
    if any(importlib.util.find_spec(m) is None for m in ("uvicorn", "starlette", "wsproto")):
        raise UsageError("the live view needs its server: pip install 'screenact[view]'")
    return NOVNC_DIR


def view_app(sandbox: "Sandbox", gate: Gate) -> Any:
    """The ASGI app: ``/`` sends the browser to noVNC's page, ``/novnc/`` its files, ``/websockify`` the desktop."""
    from starlette.applications import Starlette
    from starlette.responses import RedirectResponse
    from starlette.routing import Mount, Route, WebSocketRoute
    from starlette.staticfiles import StaticFiles
    from starlette.websockets import WebSocket

    async def index(_request: Any) -> RedirectResponse:
        return RedirectResponse(PAGE, status_code=303)

    async def view(ws: WebSocket) -> None:
        await bridge(ws, sandbox.open_view)

    app = Starlette(routes=[Route("/", index), WebSocketRoute(WS_PATH, view),
                            Mount("/novnc", StaticFiles(directory=novnc_dir()))])
    return GateMiddleware(app, gate)


async def bridge(ws: Any, open_conn: Callable[[], socket.socket],
                 opened: Callable[[socket.socket], None] | None = None) -> None:
    """Accept the websocket ``ws`` (a Starlette WebSocket), connect it to a fresh RFB connection from
    ``open_conn`` (``Sandbox.open_view``, run off the event loop) and copy bytes until either side
    ends. ``opened`` hears the connection first (whoever may have to cut it short)."""
    offered = ws.scope.get("subprotocols") or []
    await ws.accept(subprotocol="binary" if "binary" in offered else None)
    conn = await asyncio.get_running_loop().run_in_executor(None, open_conn)
    try:
        if opened is not None:
            opened(conn)
        await _pump(ws, conn)
    finally:
        conn.close()


async def _pump(ws: Any, conn: socket.socket) -> None:
    """Copy bytes both ways until either side ends. Nothing is interpreted: the view-only rule is x11vnc's."""
    from starlette.websockets import WebSocketDisconnect

    conn.setblocking(False)
    reader, writer = await asyncio.open_unix_connection(sock=conn)

    async def to_desktop() -> None:
        try:
            while True:
                data = await ws.receive_bytes()
                writer.write(data)
                await writer.drain()
        except (WebSocketDisconnect, KeyError, ConnectionError):  # KeyError: a text frame
            return

    async def to_browser() -> None:
        while data := await reader.read(CHUNK):
            await ws.send_bytes(data)
        await ws.close()

    tasks = [asyncio.create_task(to_desktop()), asyncio.create_task(to_browser())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        writer.close()


@dataclass
class ViewServer:
    """A running live-view server; :meth:`stop` ends it."""

    url: str
    _server: Any
    _thread: threading.Thread

    def stop(self) -> None:
        """Stop serving and wait for the server thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10)


def serve_view(sandbox: "Sandbox", listener: socket.socket, gate: Gate) -> ViewServer:
    """Serve the live view of ``sandbox`` on an already bound ``listener`` in a background thread."""
    import uvicorn

    config = uvicorn.Config(view_app(sandbox, gate), log_level="warning", ws="wsproto", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name="live-view", daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.01)
    if not server.started:
        raise UsageError("the live-view server did not start (see the messages above)")
    host, port = listener.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    query = f"?token={gate.token}" if gate.token else ""
    return ViewServer(f"http://{shown}:{port}/{query}", server, thread)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: any free port); a UsageError when that cannot be."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(16)
    except OSError as exc:
        sock.close()
        raise UsageError(f"--view-port: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock
