"""The door of ``screenact mcp --http``: who may reach the MCP endpoint at all.

In front of the SDK's Starlette app (pure ASGI), before any MCP message is read:

- ``Host`` and ``Origin`` as for the browser front end (``agent.ui.gate.Gate``): only the server's
  own addresses (DNS rebinding), no page of another site or another localhost port, ``--allow-origin``
  adds an origin. MCP clients that are not browsers send no ``Origin`` and pass that check;
- with a token (required when listening off loopback), ``Authorization: Bearer <token>``, compared in
  constant time. Anything else gets 401 or 403 and never reaches a session or a desktop.
"""

from __future__ import annotations

import hmac
from dataclasses import replace
from typing import Any, Awaitable, Callable

from agent.ui.gate import Gate

TOKEN_ENV = "SCREENACT_MCP_TOKEN"
"""The environment variable that carries the bearer token (better than ``--token``: argv is public)."""

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def bearer_ok(headers: dict[str, str], token: str) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>``."""
    scheme, _, given = headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


class McpGate:
    """ASGI middleware: a request passes when the gate finds nothing against it and, when the gate has a
    token, the request carries it as a bearer token (not the browser front end's query or cookie)."""

    def __init__(self, app: Callable[..., Awaitable[None]], gate: Gate) -> None:
        self.app, self.gate, self.token = app, replace(gate, token=None), gate.token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):  # lifespan: the session manager starts and stops
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refused = self.gate.refusal(scope, headers)
        if refused is None and self.token is not None and not bearer_ok(headers, self.token):
            refused = 401, f"this server needs its token: send 'Authorization: Bearer …' (${TOKEN_ENV})"
        if refused is None:
            await self.app(scope, receive, send)
        else:
            await _refuse(send, *refused)


async def _refuse(send: Send, status: int, reason: str) -> None:
    body = (reason + "\n").encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
