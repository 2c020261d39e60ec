"""The live view inside ``screenact ui``: every running episode's desktop, served by the UI's own server.

No new listener: :class:`ViewMount` sits inside :class:`agent.ui.gate.GateMiddleware` in front of
Chainlit, so every request to ``/screenact/…`` passes the same Origin, Host and token checks as the
chat's own websocket. Under it:

- ``/screenact/novnc/…`` Debian's noVNC files;
- ``/screenact/view/<key>/websockify`` a read-only RFB connection to that run's sandbox
  (``Sandbox.open_view()``: x11vnc with ``-viewonly``);
- ``/screenact/view/<key>/control`` an RFB connection with input (``open_view(control=True)``), only
  while that run's :class:`agent.control.RunControl` holds for a takeover; resume cuts every control
  connection (:meth:`ViewRegistry.revoke`) before the agent goes on.

``<key>`` is random per run (unguessable within the UI's origin); a run's key is dropped when its
desktop closes. The registry is the server process's one list of watched desktops (like
``agent.ui.modes.agent.RUNNING``); each run's pause state is its own ``RunControl``.
"""

from __future__ import annotations

import secrets
import socket
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from agent.control import RunControl


PREFIX = "/screenact/"
VIEW = "/screenact/view"
NOVNC = "/screenact/novnc"


def view_problem() -> str | None:
    """Why the live view cannot be shown here (x11vnc, noVNC or the server stack missing), or None."""
    from agent.errors import UsageError
    from agent.live_view import novnc_dir

    try:
        novnc_dir()
    except UsageError as exc:
        return str(exc)
    return None


def page_url(key: str, control: bool = False) -> str:
    """The noVNC page (same origin as the UI) that shows run ``key``: read-only, or with input."""
    path = f"{VIEW.lstrip('/')}/{key}/{'control' if control else 'websockify'}"
    query = {"path": path, "scale": "true"}
    if not control:  # vnc_lite.html takes any value as true, "false" too
        query["view_only"] = "true"
    return f"{NOVNC}/vnc_lite.html?{urllib.parse.urlencode(query)}"


@dataclass
class Watched:
    """One run's desktop as the view serves it, and its open control connections."""

    sandbox: Any
    control: RunControl
    controlling: set[socket.socket] = field(default_factory=set)


class ViewRegistry:
    """The desktops this UI shows live, each under a random key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, Watched] = {}

    def add(self, sandbox: Any, control: RunControl) -> str:
        """Serve ``sandbox`` (whose run ``control`` pauses); its key."""
        key = secrets.token_urlsafe(18)
        with self._lock:
            self._runs[key] = Watched(sandbox, control)
        return key

    def get(self, key: str) -> Watched | None:
        with self._lock:
            return self._runs.get(key)

    def remove(self, key: str | None) -> None:
        """Stop serving run ``key`` and cut its control connections (its sandbox is closing)."""
        self.revoke(key)
        with self._lock:
            self._runs.pop(key or "", None)

    def revoke(self, key: str | None) -> None:
        """Cut every control connection of run ``key``: the person's input stops reaching the desktop."""
        with self._lock:
            watched = self._runs.get(key or "")
            conns = list(watched.controlling) if watched else []
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def app(self) -> Callable[..., Awaitable[None]]:
        """The ASGI app under ``/screenact/`` (noVNC's files, the read-only and the control bridges)."""
        from starlette.applications import Starlette
        from starlette.routing import Mount, WebSocketRoute
        from starlette.staticfiles import StaticFiles
        from starlette.websockets import WebSocket

        from agent.live_view import bridge, novnc_dir

        async def watch(ws: WebSocket) -> None:
            watched = self.get(ws.path_params["key"])
            if watched is None:
                await ws.close(code=1008)  # before accepting: the server answers 403
                return
            await bridge(ws, watched.sandbox.open_view)

        async def control(ws: WebSocket) -> None:
            watched = self.get(ws.path_params["key"])
            if watched is None or watched.control.holding != "takeover":
                await ws.close(code=1008)  # input only while a person has taken over
                return

            def opened(conn: socket.socket) -> None:
                with self._lock:
                    watched.controlling.add(conn)
                if watched.control.holding != "takeover":  # resumed while this one was opening
                    conn.shutdown(socket.SHUT_RDWR)

            try:
                await bridge(ws, lambda: watched.sandbox.open_view(control=True), opened)
            finally:
                with self._lock:
                    watched.controlling = {c for c in watched.controlling if c.fileno() != -1}

        routes: list[Any] = [WebSocketRoute(VIEW + "/{key}/websockify", watch),
                             WebSocketRoute(VIEW + "/{key}/control", control)]
        if view_problem() is None:
            routes.append(Mount(NOVNC, StaticFiles(directory=novnc_dir())))
        return Starlette(routes=routes)


class ViewMount:
    """ASGI middleware: requests under ``/screenact/`` go to the view, everything else to Chainlit."""

    def __init__(self, app: Callable[..., Awaitable[None]], registry: ViewRegistry) -> None:
        self.app = app
        self.view = registry.app()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and scope.get("path", "").startswith(PREFIX):
            await self.view(scope, receive, send)
        else:
            await self.app(scope, receive, send)


VIEWS = ViewRegistry()
"""This server's watched desktops (the Chainlit handlers add and remove runs; :class:`ViewMount` serves them)."""


def install_on_chainlit(registry: ViewRegistry = VIEWS) -> None:
    """Serve the live view from Chainlit's server; call before the gate is installed (it must wrap this)."""
    from chainlit.server import app

    app.add_middleware(ViewMount, registry=registry)
