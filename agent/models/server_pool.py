"""Several model servers serving one model, used as one (``--base-url`` repeated, or comma-separated).

:class:`ServerPool` is the run's set of servers and what is known about each: which are down and why
(each reported once, on stderr), and how many episodes each serves now. It is shared by every client
of a run, across threads (``run`` gives each task its own thread and event loop), so its state sits
behind a lock and it never waits on the network itself.

:class:`PooledModel` is the ``ModelClient`` (and ``TokenCounter``) the grounder and the agent talk to:

- **spread** (``screenact ground``): each request goes to the live server with the fewest of this
  client's requests outstanding, at most ``per_server`` on each (a request waits for a free slot);
- **sticky** (one episode of ``screenact run``): the episode is given the live server with the fewest
  episodes when it starts and keeps it, so the server's prefix cache holds its conversation.

A server that cannot be reached (after the client's retries), or that cuts a reply off or never answers
and then does not answer its model list either, is dropped from the pool: reported once, and the
request that found it down is sent to another server, so no request is lost or answered twice. When the
last server goes, :class:`AllServersDown` names every server and why (with one server, its own
``ServerUnreachable``, exactly as without a pool): the run stops and ``--resume`` asks again for what is
unfinished.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from agent.models.base import BadResponse, ModelError, ModelTimeout, Reply, ServerUnreachable
from agent.models.openai_backend import OpenAIModel, RetryPolicy, ServedModel, default_base_url

T = TypeVar("T")

POOL_RETRY = RetryPolicy(max_retries=2)
"""Retries against one server of several: ~1.5 s to call it down, since another can take the request."""


class AllServersDown(ServerUnreachable):
    """Every server of the pool is down; the message names each and why."""

    def __init__(self, reasons: dict[str, str]) -> None:
        self.reasons = dict(reasons)
        self.url, self.detail, self.attempts = ", ".join(reasons), "", 1
        listed = "; ".join(f"{url}: {why}" for url, why in reasons.items())
        ModelError.__init__(self, f"every model server is down ({listed}). Start them again (`screenact serve`), "
                            "then continue with --resume")


@dataclass
class Server:
    """One server of the pool: its base URL, the episodes on it now, and why it was dropped (None: live)."""

    url: str
    episodes: int = 0
    down: str | None = None


def why_down(exc: BaseException) -> str:
    """Why a server counts as down, short: ``connection refused after 3 attempts``."""
    if isinstance(exc, ServerUnreachable) and exc.detail:
        return exc.detail + (f" after {exc.attempts} attempts" if exc.attempts > 1 else "")
    return " ".join(str(exc).split())[:200]


class ServerPool:
    """The model servers of one run (see the module docstring). ``model`` and ``max_model_len`` are what the
    up-front check found (``agent.commands._common.check_servers``), or what the caller already knows."""

    def __init__(self, urls: Sequence[str | None], *, model: str | None = None, max_model_len: int | None = None,
                 request_timeout: float = 300.0, api_key: str | None = None,
                 report: Callable[[str], None] | None = None) -> None:
        if not urls:
            raise ValueError("a server pool needs at least one base URL")
        self.servers = [Server((url or default_base_url()).rstrip("/")) for url in urls]
        self.model = model
        self.max_model_len = max_model_len
        self.request_timeout = request_timeout
        self.api_key = api_key
        self.retry = RetryPolicy() if len(urls) == 1 else POOL_RETRY
        self.report = report or (lambda line: print(line, file=sys.stderr, flush=True))
        self._lock = threading.Lock()

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    def client(self, url: str) -> OpenAIModel:
        """A client of one server of the pool (bound to the event loop that first uses it)."""
        return OpenAIModel(model=self.model, base_url=url, api_key=self.api_key, read_timeout=self.request_timeout,
                           retry=self.retry)

    def live(self) -> list[Server]:
        with self._lock:
            return [s for s in self.servers if s.down is None]

    def drop(self, url: str, reason: str) -> bool:
        """Take a server that is down out of the pool, telling the user once. True when live servers remain to
        send its requests to; False when it was the last (with a single server, it stays: nothing to switch to)."""
        with self._lock:
            server = next(s for s in self.servers if s.url == url)
            others = [s for s in self.servers if s.down is None and s is not server]
            if len(self.servers) == 1:
                return False
            first = server.down is None
            if first:
                server.down = reason
        if first:
            self.report(f"screenact: model server {url} is down and left out from now on ({server.down}); "
                        + (f"its requests go to the {len(others)} other(s)" if others else "no server is left"))
        return bool(others)

    def all_down(self) -> AllServersDown:
        with self._lock:
            return AllServersDown({s.url: s.down or "down" for s in self.servers})

    def assign(self, previous: Server | None = None) -> Server:
        """A live server for one episode: the one with the fewest episodes now (``previous``, a dropped one, is
        given back first). AllServersDown when none is left."""
        with self._lock:
            if previous is not None:
                previous.episodes -= 1
            live = [s for s in self.servers if s.down is None]
            if live:
                server = min(live, key=lambda s: s.episodes)  # the first of equals: see servers_from
                server.episodes += 1
                return server
        raise self.all_down()

    def release(self, server: Server) -> None:
        with self._lock:
            server.episodes -= 1

    def model_client(self, *, per_server: int | None = None, sticky: bool = False) -> "PooledModel":
        """A client over this pool: spread (``per_server`` requests at most on each) or sticky (one episode)."""
        return PooledModel(self, per_server=per_server, sticky=sticky)


class PooledModel:
    """A ``ModelClient`` over a :class:`ServerPool` (see the module docstring); ``aclose()`` when done."""

    backend = "openai"

    def __init__(self, pool: ServerPool, *, per_server: int | None = None, sticky: bool = False) -> None:
        self.pool = pool
        self.per_server = per_server
        self.sticky = sticky
        self._clients: dict[str, OpenAIModel] = {}
        self._inflight = {url: 0 for url in pool.urls}
        self._turn = 0
        self._freed: asyncio.Condition | None = None
        self._home: Server | None = pool.assign() if sticky else None

    # ---------------------------------------------------------------- what callers read
    @property
    def model(self) -> str | None:
        return self.pool.model

    @property
    def max_model_len(self) -> int | None:
        return self.pool.max_model_len

    @property
    def base_url(self) -> str:
        """The server this episode talks to (sticky), else every server of the pool, comma-separated."""
        return self._home.url if self._home is not None else ",".join(self.pool.urls)

    # ---------------------------------------------------------------- the ModelClient protocol
    async def complete(self, messages: list[dict], **sampling: Any) -> Reply:
        return await self._call(lambda client: client.complete(messages, **sampling))

    async def count_tokens(self, messages: list[dict]) -> int | None:
        return await self._call(lambda client: client.count_tokens(messages))

    async def served_model(self) -> ServedModel:
        served = await self._call(lambda client: client.served_model())
        if self.pool.model is None:
            self.pool.model = served.name
        if self.pool.max_model_len is None:
            self.pool.max_model_len = served.max_model_len
        return served

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
        home, self._home = self._home, None
        if home is not None:
            self.pool.release(home)

    async def __aenter__(self) -> "PooledModel":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---------------------------------------------------------------- routing
    def _client(self, url: str) -> OpenAIModel:
        client = self._clients.get(url)
        if client is None:
            client = self._clients[url] = self.pool.client(url)
        return client

    def _condition(self) -> asyncio.Condition:
        if self._freed is None:
            self._freed = asyncio.Condition()
        return self._freed

    async def _acquire(self) -> Server:
        """The server for the next request: the episode's own, or the live one with the fewest outstanding."""
        if self.sticky:
            assert self._home is not None, "a sticky client used after aclose()"
            if self._home.down is not None:
                self._home = self.pool.assign(self._home)
            return self._home
        freed = self._condition()
        async with freed:
            while True:
                live = self.pool.live()
                if not live:
                    raise self.pool.all_down()
                room = [s for s in live if self.per_server is None or self._inflight[s.url] < self.per_server]
                if room:
                    self._turn += 1
                    order = {s.url: i for i, s in enumerate(live)}
                    server = min(room, key=lambda s: (self._inflight[s.url], (order[s.url] - self._turn) % len(live)))
                    self._inflight[server.url] += 1
                    return server
                await freed.wait()

    async def _release(self, server: Server, dropped: bool = False) -> None:
        if self.sticky:
            return
        freed = self._condition()
        async with freed:
            self._inflight[server.url] -= 1
            if dropped:  # every waiter looks again: the live servers changed
                freed.notify_all()
            else:
                freed.notify()

    async def _call(self, request: Callable[[OpenAIModel], Awaitable[T]]) -> T:
        """Send ``request`` to a server; when that server turns out to be down, drop it and send it to another."""
        while True:
            server = await self._acquire()
            down: str | None = None
            try:
                return await request(self._client(server.url))
            except AllServersDown:
                raise
            except ServerUnreachable as exc:
                down = why_down(exc)
                if not self.pool.drop(server.url, down):
                    if len(self.pool.servers) == 1:
                        raise
                    raise self.pool.all_down() from exc
            except (BadResponse, ModelTimeout) as exc:
                if len(self.pool.servers) == 1 or await self._answers(server.url):
                    raise  # the server is there: this reply's own failure
                down = f"{why_down(exc)}; then its model list did not answer either"
                if not self.pool.drop(server.url, down):
                    raise self.pool.all_down() from exc
            finally:
                await self._release(server, dropped=down is not None)

    async def _answers(self, url: str) -> bool:
        """Whether the server still answers (its model list, one attempt): a cut reply from a live server is
        that reply's failure; from a dead one, the server's."""
        problem, _ = await probe_server(url, self.pool.model, timeout=5.0)
        return problem is None


def servers_from(base_url: str | None, turn: int) -> str | None:
    """The run's comma-separated servers in the order task ``turn`` prefers them (round robin). A process that
    runs one task of a run at a time (a Ray node's worker) cannot count the episodes on each server; with the
    list rotated, the task starts on its turn's server (a fresh pool takes the first of equals) and moves on
    to the others only when that one goes down."""
    if not base_url or "," not in base_url:
        return base_url
    urls = base_url.split(",")
    k = turn % len(urls)
    return ",".join(urls[k:] + urls[:k])


async def probe_server(url: str, model: str | None = None, timeout: float = 5.0) -> tuple[str | None, str]:
    """(None, what it serves) when the server at ``url`` answers its model list (and serves ``model`` when
    given), else (why not, ""). One attempt, ``timeout`` seconds at most: a question, not a run."""
    client = OpenAIModel(model=model, base_url=url, connect_timeout=timeout, read_timeout=timeout,
                         retry=RetryPolicy(max_retries=0))
    try:
        served = await client.served_models()
    except ModelError as exc:
        return str(exc), ""
    finally:
        await client.aclose()
    names = [m.name for m in served]
    if model is not None and model not in names:
        return f"serves no model named {model!r}; it offers: {', '.join(names) or 'no models'}", ""
    if not served:
        return "serves no model", ""
    shown = [m for m in served if model is None or m.name == model]
    return None, "serves " + ", ".join(
        m.name + (f" (context length {m.max_model_len})" if m.max_model_len else "") for m in shown)
