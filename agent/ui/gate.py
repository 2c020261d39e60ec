"""The front end's door: which browser pages may talk to ``screenact ui`` at all.

Chainlit starts its Socket.IO server with ``cors_allowed_origins=[]``, which switches engine.io's
origin check off, so without this gate any web page the user visits could open the websocket (or
the polling transport) and drive the app: start agents, read screenshots, point the model at its
own server. :class:`GateMiddleware` wraps Chainlit's whole ASGI app (HTTP, polling and websocket)
and refuses, before Chainlit sees it:

- a request whose ``Origin`` is not the UI's own (or one added with ``--allow-origin``);
- a request whose ``Host`` is not the address the UI serves (DNS rebinding: a foreign page whose
  name resolves to 127.0.0.1 is same-origin to the browser but carries its own name as ``Host``);
- a subresource request from another site (``Sec-Fetch-Site: cross-site`` or ``same-site``, which
  includes other ports of localhost; following a link is allowed) and engine.io's JSONP polling (a
  ``<script>`` tag sends no ``Origin``);
- when a token is set (required off loopback), anything without it. ``/?token=…`` once sets a
  ``SameSite=Strict`` HttpOnly cookie and redirects to the address without the token.

Pure ASGI, no web framework: it is tested on its own and against the real server.
"""

from __future__ import annotations

import hmac
import urllib.parse
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable

COOKIE = "screenact_token_{port}"  # per port: cookies ignore ports, and two UIs must not share one
SOCKET_PATH = "/ws/socket.io"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARD = ("0.0.0.0", "::", "")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """True for the addresses only this machine can reach."""
    return host in LOOPBACK or host.startswith("127.")


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def normalize_origin(text: str) -> str:
    """``scheme://host[:port]`` as browsers send it (lower case, no path, default ports dropped);
    ValueError naming the value otherwise."""
    parts = urllib.parse.urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.username:
        raise ValueError(f"an origin looks like http://host:port, got {text!r}")
    port = parts.port
    default = {"http": 80, "https": 443}[parts.scheme]
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


@dataclass(frozen=True)
class Gate:
    """Who may come in. ``hosts`` None: any ``Host`` (bound to all interfaces; the token guards)."""

    origins: frozenset[str]
    hosts: frozenset[str] | None
    token: str | None = None
    cookie: str = COOKIE.format(port=0)

    @classmethod
    def for_bind(cls, host: str, port: int, extra_origins: Iterable[str] = (), token: str | None = None) -> "Gate":
        """The gate for a server listening on ``host:port``: its own addresses plus ``extra_origins``."""
        extra = [normalize_origin(o) for o in extra_origins]
        if host in WILDCARD:
            hosts = None
            own: list[str] = []
        else:
            names = [*LOOPBACK] if is_loopback(host) else []
            hosts = [_netloc(n, port) for n in dict.fromkeys([host.lower(), *names])]
            own = [f"http://{h}" for h in hosts]
        if hosts is not None:
            hosts += [urllib.parse.urlsplit(o).netloc for o in extra]
        return cls(frozenset(own + extra), None if hosts is None else frozenset(hosts), token or None,
                   COOKIE.format(port=port))

    def refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        """(HTTP status, reason) when the request must not reach the app; None to let it in."""
        host = headers.get("host", "")
        if self.hosts is not None and host.lower() not in self.hosts:
            return 403, f"this server does not answer to the name {host!r}"
        origin = headers.get("origin")
        if origin is not None and origin.lower() not in self._origins_for(host):
            return 403, f"requests from {origin!r} are not allowed (screenact ui --allow-origin adds an origin)"
        site, mode = headers.get("sec-fetch-site"), headers.get("sec-fetch-mode")
        # same-site too: another port of localhost is the same site as the UI
        if site in ("cross-site", "same-site") and not (mode == "navigate" and scope.get("method") in ("GET", "HEAD")):
            return 403, "requests from other sites are not allowed (only following a link to the UI is)"
        path = scope.get("path", "")
        if path.startswith(SOCKET_PATH) and "j" in urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1")):
            return 403, "JSONP polling is not allowed"
        if self.token is not None and not self._has_token(scope, headers):
            return 401, "this server needs its token: open the address screenact ui printed (…/?token=…)"
        return None

    def _origins_for(self, host: str) -> frozenset[str]:
        if self.hosts is None and host:  # all interfaces: the page's own origin is the name it used
            return self.origins | {f"http://{host.lower()}", f"https://{host.lower()}"}
        return self.origins

    def _has_token(self, scope: Scope, headers: dict[str, str]) -> bool:
        assert self.token is not None
        given = [query_token(scope) or ""]
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == self.cookie:
                given.append(value)
        return any(hmac.compare_digest(g.encode(), self.token.encode()) for g in given if g)


def query_token(scope: Scope) -> str | None:
    """The ``token`` query parameter of a request, if any."""
    values = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return values[0] if values else None


class GateMiddleware:
    """ASGI middleware that lets a request through only when :meth:`Gate.refusal` finds nothing."""

    def __init__(self, app: Callable[..., Awaitable[None]], gate: Gate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refused = self.gate.refusal(scope, headers)
        if refused is not None:
            await _refuse(scope, send, *refused)
        elif (scope["type"] == "http" and scope.get("method") == "GET" and self.gate.token is not None
              and query_token(scope) is not None and not scope.get("path", "").startswith(SOCKET_PATH)):
            await _set_cookie(scope, send, self.gate)
        else:
            await self.app(scope, receive, send)


async def _refuse(scope: Scope, send: Send, status: int, reason: str) -> None:
    body = (reason + "\n").encode()
    if scope["type"] == "websocket":  # closing before accepting makes the server answer 403
        await send({"type": "websocket.close", "code": 1008, "reason": reason[:120]})
        return
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _set_cookie(scope: Scope, send: Send, gate: Gate) -> None:
    """Answer ``…?token=…`` with the cookie and a redirect to the same address without the token."""
    query = [(k, v) for k, v in urllib.parse.parse_qsl(scope.get("query_string", b"").decode("latin-1")) if k != "token"]
    # one leading slash and quoted: "//host" must not become a redirect to another site, CR/LF no header
    path = urllib.parse.quote("/" + scope.get("path", "/").lstrip("/"))
    location = path + (f"?{urllib.parse.urlencode(query)}" if query else "")
    cookie = f"{gate.cookie}={gate.token}; Path=/; HttpOnly; SameSite=Strict"
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode()), (b"set-cookie", cookie.encode()),
                            (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


def install_on_chainlit(gate: Gate) -> None:
    """Put the gate in front of Chainlit's server app (before it starts: Starlette refuses later)."""
    from chainlit.server import app

    app.add_middleware(GateMiddleware, gate=gate)
