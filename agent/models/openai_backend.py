"""Backend "openai": any OpenAI-compatible chat server, vLLM first.

The openai client runs with ``max_retries=0``; retries happen here, explicitly: a refused or dropped
connection, HTTP 429 and HTTP 5xx are retried with exponential backoff and jitter (429 honours
Retry-After); everything else surfaces at once as one of our ``ModelError`` types.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import random
import re
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

import httpx
import openai
from openai.types.chat import ChatCompletion

from agent.images import messages_with_file_urls
from agent.models.base import (
    DEFAULT_BASE_URL,
    BadResponse,
    ContextLengthExceeded,
    ModelError,
    ModelTimeout,
    Reply,
    RequestRejected,
    ServerError,
    ServerUnreachable,
    ThinkingMarkers,
    UnknownModel,
    Usage,
)

log = logging.getLogger(__name__)

DEFAULT_API_KEY = "EMPTY"

# Parameters the chat-completions endpoint takes directly; anything else goes in extra_body
# (vLLM reads top_k, repetition_penalty, min_p, … from there).
_OPENAI_PARAMS = {
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed", "n",
    "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "response_format",
}

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: attempt k waits min(max_delay, base_delay * 2**k) * (1 ± jitter)."""

    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.25
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        backoff = min(self.max_delay, self.base_delay * (2 ** attempt))
        backoff *= 1 + random.uniform(-self.jitter, self.jitter)
        if retry_after is not None:
            backoff = max(backoff, min(retry_after, self.max_retry_after))
        return max(0.0, backoff)


class _Retryable(Exception):
    """Internal: a failure worth another attempt, with the error to raise if none is left."""

    def __init__(self, final: ModelError, retry_after: float | None = None) -> None:
        super().__init__(str(final))
        self.final = final
        self.retry_after = retry_after


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def _names(exc: BaseException) -> set[str]:
    return {type(e).__name__ for e in _chain(exc)}


class NotAnAPI(Exception):
    """A successful answer that is a web page, not the API's JSON: the base URL points at something else."""


async def _refuse_web_pages(response: httpx.Response) -> None:
    """httpx response hook: a 2xx text/html answer (a proxy's or web server's page) stops the request here,
    before the SDK tries to read it as JSON."""
    kind = response.headers.get("content-type", "")
    if response.is_success and kind.startswith("text/html"):
        raise NotAnAPI(f"{response.request.url} answered with a web page ({kind.split(';')[0]}), not the API's JSON: "
                       "is the base URL the OpenAI-compatible API's address (for vLLM http://HOST:PORT/v1)?")


def _retry_after(headers: Any) -> float | None:
    try:
        value = headers.get("retry-after") if headers is not None else None
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class TooManyImages(RequestRejected):
    """The request carried more images than the server's ``--limit-mm-per-prompt``; ``limit`` is its number."""

    def __init__(self, message: str, limit: int, status: int | None = None) -> None:
        super().__init__(message, status)
        self.limit = limit


# vLLM: "At most 4 image(s) may be provided in one prompt." (0.8-0.9: "... in one request."; 0.7: "You set
# image=2 (or defaulted to 1) in `--limit-mm-per-prompt`, but passed 3 image items in the same prompt.")
_IMAGE_LIMIT = re.compile(r"At most (\d{1,6}) image\(s\) may be provided in one (?:prompt|request)"
                          r"|You set image=(\d{1,6}) \(or defaulted to 1\) in `--limit-mm-per-prompt`")


def _image_limit(message: str) -> int | None:
    m = _IMAGE_LIMIT.search(message)
    return int(m.group(1) or m.group(2)) if m else None


def _error_message(err: "openai.APIStatusError") -> str:
    body = err.body
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        msg = inner.get("message") or inner.get("detail")
        if msg:
            return str(msg)
    return err.message


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every client: building one loads the CA bundle (~30 ms), per client otherwise."""
    create = getattr(httpx, "create_ssl_context", None)
    return create() if create is not None else ssl.create_default_context()


def _root_url(base_url: str) -> str:
    """The server root (where vLLM serves /health and /tokenize) for a base URL ending in /v1."""
    base = base_url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def default_base_url() -> str:
    """The server when none is named: ``$OPENAI_BASE_URL``, else ``$OPENAI_API_BASE``, else localhost:8000."""
    return os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE") or DEFAULT_BASE_URL


@dataclass(frozen=True)
class ServedModel:
    """One model a server offers: its name and, when the server publishes it (vLLM does), its context length."""

    name: str
    max_model_len: int | None = None


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _max_model_len(card: Any) -> int | None:
    """``max_model_len`` of a ``/v1/models`` entry (vLLM's ModelCard field; other servers have none)."""
    value = getattr(card, "max_model_len", None)
    if value is None:
        value = (getattr(card, "model_extra", None) or {}).get("max_model_len")
    return _positive_int(value)


class OpenAIModel:
    """A ``ModelClient`` for an OpenAI-compatible server.

    Settings come from the arguments, else ``OPENAI_BASE_URL`` / ``OPENAI_API_BASE`` and
    ``OPENAI_API_KEY``, else ``http://localhost:8000/v1`` and ``EMPTY``. With ``model=None`` the
    single model the server lists is used. ``image_transport="file"`` rewrites data-URL images to
    PNG files in ``media_dir`` and sends ``file://`` URLs (only for a server started with
    ``--allowed-local-media-path`` covering that directory).
    """

    backend = "openai"

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 600.0,
        retry: RetryPolicy | None = None,
        stream: bool = False,
        on_delta: Callable[[str, str], None] | None = None,
        thinking_markers: ThinkingMarkers | None = None,
        image_transport: str = "data",
        media_dir: str | Path | None = None,
        default_sampling: dict[str, Any] | None = None,
    ) -> None:
        self.base_url = (base_url or default_base_url()).rstrip("/")
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or DEFAULT_API_KEY
        self.model = model
        self.retry = retry or RetryPolicy()
        self.stream = stream
        self.on_delta = on_delta
        self.thinking_markers = thinking_markers
        if image_transport not in ("data", "file"):
            raise ValueError(f"image_transport must be 'data' or 'file', not {image_transport!r}")
        if image_transport == "file" and media_dir is None:
            raise ValueError("image_transport='file' needs media_dir (a directory the server may read)")
        self.image_transport = image_transport
        self.media_dir = Path(media_dir) if media_dir is not None else None
        self.default_sampling = dict(default_sampling or {})
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._api: openai.AsyncOpenAI | None = None
        self._http: httpx.AsyncClient | None = None
        self._tokenize_supported: bool | None = None
        self.max_model_len: int | None = None
        """The server's context length for ``model``, once its model list or a /tokenize answer said it."""

    def _bind(self) -> tuple[openai.AsyncOpenAI, httpx.AsyncClient]:
        """Clients for the running event loop (pooled connections cannot cross loops, so a new loop gets new ones)."""
        loop = asyncio.get_running_loop()
        if self._api is None or self._http is None or self._loop is not loop:
            self._loop = loop
            tls = _tls_context()
            self._api = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=self.api_key,
                max_retries=0,
                timeout=openai.Timeout(self.read_timeout, connect=self.connect_timeout),
                http_client=openai.DefaultAsyncHttpxClient(verify=tls, event_hooks={"response": [_refuse_web_pages]}),
            )
            # /health and /tokenize live at the server root, outside the OpenAI API
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=self.connect_timeout), verify=tls,
                                           headers={"Authorization": f"Bearer {self.api_key}"},
                                           event_hooks={"response": [_refuse_web_pages]})
        return self._api, self._http

    @property
    def root_url(self) -> str:
        return _root_url(self.base_url)

    async def aclose(self) -> None:
        """Close pooled connections (the model can be used again afterwards)."""
        api, http = self._api, self._http
        self._api = self._http = None
        self._loop = None
        if api is not None:
            await api.close()
        if http is not None:
            await http.aclose()

    async def __aenter__(self) -> "OpenAIModel":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ retry core
    def _classify(self, exc: BaseException) -> ModelError | _Retryable:
        """Turn any exception from a request into our error type (wrapped when worth retrying)."""
        if isinstance(exc, ModelError):
            return exc
        page = next((e for e in _chain(exc) if isinstance(e, NotAnAPI)), None)
        if page is not None:
            return BadResponse(str(page))
        names = _names(exc)
        if isinstance(exc, _HTTPStatus):
            r = exc.response
            return _Retryable(ServerError(f"server error {r.status_code} from {r.request.url}", r.status_code),
                              _retry_after(r.headers))
        if isinstance(exc, openai.APIStatusError):
            status, msg = exc.status_code, _error_message(exc)
            if status == 429:
                return _Retryable(ServerError(f"rate limited by {self.base_url}: {msg}", status),
                                  _retry_after(exc.response.headers))
            if status >= 500:
                return _Retryable(ServerError(f"server error {status} from {self.base_url}: {msg}", status),
                                  _retry_after(exc.response.headers))
            if status == 404 and "does not exist" in msg:
                return UnknownModel(self.model, [], self.base_url)  # the caller adds what the server offers
            if status == 400 and "maximum context length" in msg:
                return ContextLengthExceeded(msg, status)
            if status == 400 and (limit := _image_limit(msg)) is not None:
                return TooManyImages(f"the server takes at most {limit} image(s) per request ({msg})", limit, status)
            return RequestRejected(f"the server rejected the request ({status}): {msg}", status)
        if names & {"ConnectError", "ConnectTimeout"} or isinstance(exc, ConnectionRefusedError):
            detail = "connect timeout" if "ConnectTimeout" in names else "connection refused"
            return _Retryable(ServerUnreachable(self.base_url, detail))
        if isinstance(exc, openai.APITimeoutError) or names & {"ReadTimeout", "WriteTimeout", "PoolTimeout", "TimeoutException"}:
            return ModelTimeout(f"the model server at {self.base_url} did not answer within {self.read_timeout:g} s")
        if isinstance(exc, (json.JSONDecodeError, openai.APIResponseValidationError)):
            return BadResponse(f"the model server at {self.base_url} sent an invalid response: {exc}")
        text = "; ".join(str(e) for e in _chain(exc) if str(e))
        if "without sending a response" in text:
            # The server took the connection and closed it before answering (e.g. restarting): retry.
            return _Retryable(ServerUnreachable(self.base_url, "connection closed before any response"))
        if names & {"RemoteProtocolError", "ReadError", "APIConnectionError"}:
            return BadResponse(f"the response from {self.base_url} was cut off: {text or type(exc).__name__}")
        return BadResponse(f"unexpected failure talking to {self.base_url}: {type(exc).__name__}: {exc}")

    async def _with_retries(self, call: Callable[[], Awaitable[T]]) -> T:
        attempt = 0
        while True:
            try:
                return await call()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is classified below
                result = self._classify(exc)
                if not isinstance(result, _Retryable):
                    raise result from exc
                if attempt >= self.retry.max_retries:
                    final = result.final
                    if isinstance(final, ServerUnreachable):
                        final = ServerUnreachable(final.url, final.detail, attempts=attempt + 1)
                    raise final from exc
                await asyncio.sleep(self.retry.delay(attempt, result.retry_after))
                attempt += 1

    # ------------------------------------------------------------------ models
    async def served_models(self) -> list[ServedModel]:
        """The models the server offers (``GET /v1/models``), each with its context length if published."""
        async def call() -> list[ServedModel]:
            api, _ = self._bind()
            page = await api.models.list()
            return [ServedModel(m.id, _max_model_len(m)) for m in page.data]
        return await self._with_retries(call)

    async def list_models(self) -> list[str]:
        """Names the server offers (``GET /v1/models``)."""
        return [m.name for m in await self.served_models()]

    async def served_model(self) -> ServedModel:
        """The model this client talks to, as the server lists it (its name checked, its context length read).

        UnknownModel when the configured name is not served, or when no name is configured and the
        server offers other than exactly one model. Sets ``model`` and ``max_model_len``.
        """
        models = await self.served_models()
        names = [m.name for m in models]
        if self.model is None and len(models) != 1:
            raise UnknownModel(None, names, self.base_url)
        chosen = models[0] if self.model is None else next((m for m in models if m.name == self.model), None)
        if chosen is None:
            raise UnknownModel(self.model, names, self.base_url)
        self.model = chosen.name
        if chosen.max_model_len is not None:
            self.max_model_len = chosen.max_model_len
        return chosen

    async def resolve_model(self) -> str:
        """The model name to use: the configured one, else the server's only model."""
        if self.model is not None:
            return self.model
        return (await self.served_model()).name

    async def health(self) -> bool:
        """True when ``GET /health`` answers 200 (False when it answers otherwise or not at all)."""
        try:
            _, http = self._bind()
            r = await http.get(f"{self.root_url}/health", timeout=httpx.Timeout(5.0, connect=self.connect_timeout))
            return r.status_code == 200
        except httpx.HTTPError:
            return False

    async def count_tokens(self, messages: list[dict]) -> int | None:
        """Exact prompt tokens by vLLM's ``POST /tokenize`` (chat form), or None if the server has no such endpoint."""
        if self._tokenize_supported is False:
            return None
        model = await self.resolve_model()
        payload = {"model": model, "messages": messages, "add_generation_prompt": True}

        async def call() -> int | None:
            _, http = self._bind()
            r = await http.post(f"{self.root_url}/tokenize", json=payload)
            if r.status_code == 404 and "does not exist" in r.text:
                raise UnknownModel(model, await self._models_or_empty(), self.base_url)
            if r.status_code in (404, 405, 501):
                return None  # no /tokenize here (not vLLM): the budget falls back to its estimate
            if r.status_code == 429 or r.status_code >= 500:
                raise _HTTPStatus(r)
            if r.status_code >= 400:
                raise RequestRejected(f"/tokenize rejected the request ({r.status_code}): {r.text[:300]}", r.status_code)
            try:
                answer = r.json()
            except ValueError as e:
                raise BadResponse(f"/tokenize at {self.root_url} answered something other than JSON: {r.text[:200]}") from e
            count = _positive_int(answer.get("count")) if isinstance(answer, dict) else None
            if count is None:  # not vLLM's answer (llama.cpp gives only its "tokens"): the budget estimates
                log.warning("/tokenize at %s answers without a count; prompt text is budgeted by the estimate",
                            self.root_url)
                return None
            published = _positive_int(answer.get("max_model_len"))  # vLLM's answer carries the context length
            if published is not None:
                self.max_model_len = published
            return count

        count = await self._with_retries(call)
        self._tokenize_supported = count is not None
        return count

    # ------------------------------------------------------------------ completion
    async def complete(
        self,
        messages: list[dict],
        *,
        stream: bool | None = None,
        on_delta: Callable[[str, str], None] | None = None,
        **sampling: Any,
    ) -> Reply:
        """Send one chat completion and return the assembled ``Reply``.

        ``sampling`` takes the OpenAI parameters (temperature, top_p, max_tokens, stop, seed, …) and
        any vLLM extras (top_k, repetition_penalty, …). With streaming, ``on_delta(kind, text)`` is
        called for every piece as it arrives, kind being "content" or "reasoning".
        """
        model = await self.resolve_model()
        if self.image_transport == "file":
            assert self.media_dir is not None
            messages = messages_with_file_urls(messages, self.media_dir)
        params = {**self.default_sampling, **sampling}
        direct = {k: v for k, v in params.items() if k in _OPENAI_PARAMS and v is not None}
        extra = {k: v for k, v in params.items() if k not in _OPENAI_PARAMS and v is not None}
        use_stream = self.stream if stream is None else stream
        callback = on_delta or self.on_delta

        async def call() -> Reply:
            started = time.monotonic()
            if use_stream:
                return await self._complete_stream(model, messages, direct, extra, callback, started)
            api, _ = self._bind()
            # The SDK's generic POST (its documented way to an endpoint "as is"): our messages are already
            # plain JSON, and the typed create() re-walks every part of them (~3 ms a request with an image),
            # which is what limits many requests in flight. Retries, timeouts and errors are the SDK's still.
            resp = await api.post("/chat/completions", cast_to=ChatCompletion,
                                  body={"model": model, "messages": messages, **direct, **extra})
            if not resp.choices:
                raise BadResponse(f"the completion from {self.base_url} has no choices")
            choice = resp.choices[0]
            msg = choice.message
            usage = Usage(prompt_tokens=resp.usage.prompt_tokens, completion_tokens=resp.usage.completion_tokens) \
                if resp.usage else Usage()
            return Reply.build(
                msg.content or "", self.thinking_markers,
                reasoning_content=_reasoning_of(msg),
                usage=usage, latency_s=time.monotonic() - started,
                model=resp.model or model, finish_reason=choice.finish_reason)

        try:
            return await self._with_retries(call)
        except UnknownModel as e:
            if e.available:
                raise
            available = await self._models_or_empty()
            raise UnknownModel(model, available, self.base_url) from e

    async def _models_or_empty(self) -> list[str]:
        try:
            return await self.list_models()
        except ModelError:
            return []

    async def _complete_stream(self, model: str, messages: list[dict], direct: dict, extra: dict,
                               callback: Callable[[str, str], None] | None, started: float) -> Reply:
        api, _ = self._bind()
        stream = await api.chat.completions.create(
            model=model, messages=messages, stream=True, stream_options={"include_usage": True},
            extra_body=extra or None, **direct)
        content: list[str] = []
        reasoning: list[str] = []
        finish: str | None = None
        usage = Usage()
        served = model
        async for chunk in stream:
            served = chunk.model or served
            if chunk.usage is not None:
                usage = Usage(prompt_tokens=chunk.usage.prompt_tokens, completion_tokens=chunk.usage.completion_tokens)
            for choice in chunk.choices:
                delta = choice.delta
                piece = getattr(delta, "content", None)
                if piece:
                    content.append(piece)
                    if callback:
                        callback("content", piece)
                think = _reasoning_of(delta)
                if think:
                    reasoning.append(think)
                    if callback:
                        callback("reasoning", think)
                if choice.finish_reason:
                    finish = choice.finish_reason
        if finish is None:
            raise BadResponse(f"the stream from {self.base_url} ended before the completion finished "
                              f"({len(''.join(content))} characters received)")
        return Reply.build(
            "".join(content), self.thinking_markers,
            reasoning_content="".join(reasoning) or None,
            usage=usage, latency_s=time.monotonic() - started, model=served, finish_reason=finish)


class _HTTPStatus(Exception):
    """An auxiliary endpoint answered 429/5xx (classified like the chat endpoint's)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def _reasoning_of(obj: Any) -> str | None:
    """The separated reasoning, if the server sent one (vLLM: ``reasoning_content``; newer: ``reasoning``)."""
    for name in ("reasoning_content", "reasoning"):
        value = getattr(obj, name, None)
        if value is None:
            extra = getattr(obj, "model_extra", None) or {}
            value = extra.get(name)
        if isinstance(value, str) and value:
            return value
    return None
