"""A real HTTP server that speaks the OpenAI chat API the way vLLM does, answering from a script.

Tests start it in-process (``with StubOpenAI(["reply"]) as stub: ... stub.base_url``) or as a
subprocess for CLI tests::

    python -m tests.stub_openai --port 8011 --script replies.json [--record requests.jsonl]

Endpoints: ``POST /v1/chat/completions`` (plain and SSE streaming, usage included),
``GET /v1/models``, ``POST /tokenize``, ``GET /health``.

Replies come from a queue (``push``) or from a ``responder(request_json) -> str | dict`` callable;
a dict may carry ``content``, ``reasoning_content`` and ``finish_reason``. Every request is recorded
(``stub.requests``, ``stub.chat_requests``) with the sizes of the images it carried.

Faults, one per upcoming request (``stub.fail_next(kind, ...)``): ``"500"``, ``"429"`` (with a
Retry-After header), ``"slow"`` (answer after ``delay`` seconds), ``"truncate"`` (close the socket in
the middle of the body or SSE stream), ``"end_early"`` (end a stream cleanly but half-way, with no
finish_reason and no ``[DONE]``), ``"invalid_json"``, ``"drop"`` (close without answering),
``"refuse"`` (drop it and stop listening for ``delay`` seconds).
``stub.refuse_for(seconds)`` stops listening altogether, so clients see a refused connection.
``stub.go_down()`` is a server that dies: it stops listening and every request it has not answered yet,
or gets on a connection still open, is dropped unanswered. ``stub.answered`` holds the body of every
chat request it did answer (200, not streamed), in order.
A model name the stub does not serve gets vLLM's 404 body; a prompt that does not fit
``max_model_len`` gets vLLM's 400 "maximum context length" error (in the current wording), and a
request with more images than ``limit_images`` (vLLM's ``--limit-mm-per-prompt``) gets vLLM's 400
"At most N image(s) may be provided in one prompt." ``/v1/models`` and ``/tokenize`` publish
``max_model_len`` as vLLM does.

Token counting is a deterministic stand-in for the model's tokenizer, not the real one:
each text part costs ceil(UTF-8 bytes / 3) tokens, each message 4 tokens of chat-template framing,
the generation prompt 3, and each image its MoonViT token count (patch 14, 2x2 merge, scaled to
``in_token_limit`` patches, padded to 28 px) plus 4 for the media markers around it. The same rule
sizes completions, and a reply longer than ``max_tokens`` is cut there with ``finish_reason="length"``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import io
import json
import math
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import unquote, urlparse

Responder = Callable[[dict], "str | dict"]

TEXT_BYTES_PER_TOKEN = 3
MESSAGE_OVERHEAD = 4
GENERATION_PROMPT = 3
IMAGE_MARKERS = 4


def moonvit_tokens(width: int, height: int, in_token_limit: int = 4096) -> int:
    """MoonViT's image token count (the stub's own copy, so tests cross-check the client's)."""
    patches = (width // 14) * (height // 14)
    if patches > in_token_limit:
        scale = math.sqrt(in_token_limit / patches)
        width, height = int(width * scale), int(height * scale)
    return math.ceil(width / 28) * math.ceil(height / 28)


def text_tokens(text: str) -> int:
    """Stand-in tokenizer: one token per 3 UTF-8 bytes, rounded up."""
    return math.ceil(len(text.encode("utf-8")) / TEXT_BYTES_PER_TOKEN)


@dataclass
class Fault:
    """One injected failure for the next matching request."""

    kind: str
    delay: float = 0.0
    retry_after: float | None = None
    after_bytes: int = 120
    path: str = "/v1/chat/completions"


@dataclass
class RecordedRequest:
    """One request as the stub received it."""

    method: str
    path: str
    body: Any
    headers: dict[str, str]  # names lower-cased
    image_sizes: list[tuple[int, int]] = field(default_factory=list)
    prompt_tokens: int | None = None
    received_at: float = field(default_factory=time.time)


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-reply (a cancelled request) is normal here, not worth a traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class _BadRequest(Exception):
    def __init__(self, message: str, status: int = 400, err_type: str = "BadRequestError") -> None:
        super().__init__(message)
        self.status = status
        self.err_type = err_type


def _image_size(url: str, allowed_local: Path | None) -> tuple[int, int]:
    from PIL import Image

    if url.startswith("data:"):
        header, _, payload = url.partition(",")
        if ";base64" not in header:
            raise _BadRequest("only base64 data URLs are supported")
        try:
            raw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as e:
            raise _BadRequest(f"invalid base64 image data: {e}") from e
    elif url.startswith("file://"):
        path = Path(unquote(urlparse(url).path))
        if allowed_local is None:
            raise _BadRequest("Cannot load local files without `--allowed-local-media-path`.")
        if not path.resolve().is_relative_to(allowed_local.resolve()):
            raise _BadRequest(f"The file path {path} must be a subpath of `--allowed-local-media-path` {allowed_local}.")
        if not path.is_file():
            raise _BadRequest(f"no such file: {path}")
        raw = path.read_bytes()
    else:
        raise _BadRequest(f"unsupported image URL scheme: {url[:30]!r}")
    try:
        with Image.open(io.BytesIO(raw)) as img:
            return img.size
    except Exception as e:  # pillow raises several types for junk
        raise _BadRequest(f"cannot decode image: {e}") from e


class StubOpenAI:
    """The scripted OpenAI-compatible server. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        replies: Iterable[str | dict] = (),
        *,
        responder: Responder | None = None,
        models: Iterable[str] = ("Kimi-VL-A3B-Thinking",),
        max_model_len: int = 8192,
        in_token_limit: int = 4096,
        image_tokens: Callable[[int, int], int] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tokenize: bool | str = True,
        enforce_context: bool = True,
        allowed_local_media_path: str | Path | None = None,
        chunk_chars: int = 12,
        loop_replies: bool = False,
        record_path: str | Path | None = None,
        latency: float = 0.0,
        limit_images: int | None = None,
    ) -> None:
        self._replies: deque[str | dict] = deque(replies)
        self.responder = responder
        self.latency = latency  # seconds from a chat request's arrival to its answer (a server's fixed latency)
        self.models = list(models)
        self.max_model_len = max_model_len
        self.limit_images = limit_images
        self.image_tokens = image_tokens or (lambda w, h: moonvit_tokens(w, h, in_token_limit))
        self.host = host
        self.port = port
        self.tokenize_enabled = tokenize
        self.enforce_context = enforce_context
        self.allowed_local_media_path = Path(allowed_local_media_path) if allowed_local_media_path else None
        self.chunk_chars = chunk_chars
        self.loop_replies = loop_replies
        self.record_path = Path(record_path) if record_path else None
        self.healthy = True
        self.down = False
        self.requests: list[RecordedRequest] = []
        self.answered: list[dict] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._last_reply: str | dict | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, ending in /v1."""
        return f"{self.root_url}/v1"

    def start(self) -> "StubOpenAI":
        self._stopping.clear()
        self._listen()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._close_listener()

    def __enter__(self) -> "StubOpenAI":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _listen(self) -> None:
        stub = self

        class Handler(_Handler):
            pass

        Handler.stub = stub
        server = _QuietServer((self.host, self.port), Handler)
        server.daemon_threads = True
        server.block_on_close = False  # type: ignore[attr-defined]
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def refuse_for(self, seconds: float) -> None:
        """Stop listening now (connections are refused) and listen again after ``seconds``."""
        self._close_listener()

        def reopen() -> None:
            if not self._stopping.wait(seconds):
                self._listen()

        threading.Thread(target=reopen, daemon=True).start()

    def go_down(self) -> None:
        """Die: stop listening for good, and drop unanswered every request not answered yet (see the docstring)."""
        self.down = True
        threading.Thread(target=self._close_listener, daemon=True).start()  # may be called from a handler

    # ------------------------------------------------------------------ scripting
    def push(self, *replies: str | dict) -> None:
        """Queue replies for upcoming chat requests."""
        with self._lock:
            self._replies.extend(replies)

    def fail_next(self, kind: str, times: int = 1, **options: Any) -> None:
        """Make the next ``times`` matching requests fail with ``kind`` (see the module docstring)."""
        with self._lock:
            for _ in range(times):
                self._faults.append(Fault(kind, **options))

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def pending_replies(self) -> int:
        with self._lock:
            return len(self._replies)

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            if self._faults and self._faults[0].path == path:
                return self._faults.popleft()
        return None

    def _next_reply(self, body: dict) -> str | dict:
        with self._lock:
            if self._replies:
                reply = self._replies.popleft()
                self._last_reply = reply
                return reply
            if self.loop_replies and self._last_reply is not None:
                return self._last_reply
        if self.responder is not None:
            return self.responder(body)
        raise _BadRequest("the stub server has no scripted reply left", status=500, err_type="InternalServerError")

    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(req)
            if self.record_path is not None:
                with self.record_path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps({"method": req.method, "path": req.path, "body": req.body,
                                        "image_sizes": req.image_sizes, "prompt_tokens": req.prompt_tokens},
                                       ensure_ascii=False) + "\n")

    # ------------------------------------------------------------------ counting
    def count_messages(self, messages: list[dict], add_generation_prompt: bool = True) -> tuple[int, list[tuple[int, int]]]:
        """Stand-in token count of chat messages, and the (width, height) of every image in them."""
        total = GENERATION_PROMPT if add_generation_prompt else 0
        sizes: list[tuple[int, int]] = []
        if not isinstance(messages, list):
            raise _BadRequest("'messages' must be a list")
        for msg in messages:
            if not isinstance(msg, dict) or "role" not in msg:
                raise _BadRequest("each message needs a 'role'")
            total += MESSAGE_OVERHEAD
            content = msg.get("content")
            if content is None:
                continue
            if isinstance(content, str):
                total += text_tokens(content)
                continue
            for part in content:
                kind = part.get("type")
                if kind == "text":
                    total += text_tokens(part.get("text", ""))
                elif kind == "image_url":
                    url = part.get("image_url", {}).get("url", "")
                    w, h = _image_size(url, self.allowed_local_media_path)
                    sizes.append((w, h))
                    total += self.image_tokens(w, h) + IMAGE_MARKERS
                else:
                    raise _BadRequest(f"unsupported content part type {kind!r}")
        return total, sizes


class _Handler(BaseHTTPRequestHandler):
    stub: StubOpenAI
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one segment, without Nagle: otherwise every answer waits for a
    # delayed ACK and a 40-step test spends seconds idle.
    disable_nagle_algorithm = True
    wbufsize = 1 << 16

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    # ---------------------------------------------------------------- plumbing
    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"null")
        except json.JSONDecodeError as e:
            raise _BadRequest(f"request body is not JSON: {e}") from e

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, err_type: str, headers: dict[str, str] | None = None) -> None:
        # vLLM's ErrorResponse: {"error": {"message", "type", "param", "code"}} with code = HTTP status
        self._send(status, {"error": {"message": message, "type": err_type, "param": None, "code": status}}, headers)

    def _abort(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _apply_fault(self, fault: Fault) -> bool:
        """Apply a fault that happens before any reply; True when the request is finished."""
        if fault.kind == "drop":
            self._abort()
            return True
        if fault.kind == "refuse":
            # Drop this connection and stop listening for ``delay`` seconds (new connections are refused).
            self.stub.refuse_for(fault.delay)
            self._abort()
            return True
        if fault.kind == "500":
            self._error(500, "injected server error", "InternalServerError")
            return True
        if fault.kind == "429":
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
            self._error(429, "injected rate limit", "RateLimitError", headers)
            return True
        if fault.kind == "slow":
            if self.stub._stopping.wait(fault.delay):
                self._abort()
                return True
            return False
        if fault.kind == "web_page":  # a web server or proxy in front: 200 with an HTML page
            page = b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return True
        if fault.kind in ("truncate", "invalid_json", "end_early"):
            return False
        raise ValueError(f"unknown fault kind {fault.kind!r}")

    # ---------------------------------------------------------------- routes
    def do_GET(self) -> None:  # noqa: N802
        stub = self.stub
        if stub.down:
            self._abort()
            return
        stub._record(RecordedRequest("GET", self.path, None, {k.lower(): v for k, v in self.headers.items()}))
        fault = stub._take_fault(self.path)
        if fault and self._apply_fault(fault):
            return
        if self.path == "/health":
            if stub.healthy:
                self._send(200, b"")
            else:
                self._error(503, "engine is starting", "ServiceUnavailable")
        elif self.path == "/v1/models":
            created = int(time.time())
            self._send(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": created, "owned_by": "vllm", "root": m,
                 "parent": None, "max_model_len": stub.max_model_len} for m in stub.models]})
        else:
            self._send(404, {"detail": "Not Found"})

    def do_POST(self) -> None:  # noqa: N802
        stub = self.stub
        if stub.down:
            self._abort()
            return
        self.arrived = time.monotonic()
        try:
            body = self._read_json()
        except _BadRequest as e:
            stub._record(RecordedRequest("POST", self.path, None, {k.lower(): v for k, v in self.headers.items()}))
            self._error(e.status, str(e), e.err_type)
            return
        record = RecordedRequest("POST", self.path, body, {k.lower(): v for k, v in self.headers.items()})
        try:
            if self.path == "/tokenize":
                stub._record(record)
                self._tokenize(body)
            elif self.path == "/v1/chat/completions":
                self._chat(body, record)
            else:
                stub._record(record)
                self._send(404, {"detail": "Not Found"})
        except _BadRequest as e:
            self._error(e.status, str(e), e.err_type)

    def _check_model(self, body: dict) -> str:
        name = body.get("model")
        if name not in self.stub.models:
            raise _BadRequest(f"The model `{name}` does not exist.", status=404, err_type="NotFoundError")
        return name

    def _tokenize(self, body: dict) -> None:
        stub = self.stub
        if not stub.tokenize_enabled:
            self._send(404, {"detail": "Not Found"})
            return
        if body.get("model") is not None:
            self._check_model(body)
        if "messages" in body:
            count, _ = stub.count_messages(body["messages"], body.get("add_generation_prompt", True))
        elif "prompt" in body:
            count = text_tokens(body["prompt"])
        else:
            raise _BadRequest("tokenize needs 'messages' or 'prompt'", status=422, err_type="UnprocessableEntityError")
        tokens = list(range(1000, 1000 + count))
        if stub.tokenize_enabled == "llamacpp":  # llama.cpp's server: the tokens only, no count
            self._send(200, {"tokens": tokens})
            return
        self._send(200, {"count": count, "max_model_len": stub.max_model_len, "tokens": tokens})

    def _chat(self, body: dict, record: RecordedRequest) -> None:
        stub = self.stub
        try:
            prompt_tokens, sizes = stub.count_messages(body.get("messages"))
            record.prompt_tokens, record.image_sizes = prompt_tokens, sizes
        finally:
            stub._record(record)
        fault = stub._take_fault(self.path)
        if fault and self._apply_fault(fault):
            return
        model = self._check_model(body)
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        if stub.limit_images is not None and len(sizes) > stub.limit_images:
            # vLLM checks the count while it reads the messages, before it counts any token
            raise _BadRequest(f"At most {stub.limit_images} image(s) may be provided in one prompt.")
        if stub.enforce_context:
            if prompt_tokens >= stub.max_model_len:
                raise _BadRequest(
                    f"This model's maximum context length is {stub.max_model_len} tokens. However, your request has "
                    f"{prompt_tokens} input tokens. Please reduce the length of the input messages.")
            if max_tokens is not None and prompt_tokens + max_tokens > stub.max_model_len:
                raise _BadRequest(
                    f"'max_tokens' or 'max_completion_tokens' is too large: {max_tokens}. This model's maximum "
                    f"context length is {stub.max_model_len} tokens and your request has {prompt_tokens} input "
                    f"tokens ({max_tokens} > {stub.max_model_len} - {prompt_tokens}).")
        if max_tokens is None:
            max_tokens = stub.max_model_len - prompt_tokens

        reply = stub._next_reply(body)
        if stub.latency:  # answer ``latency`` seconds after the request arrived, whatever parsing it took
            time.sleep(max(0.0, stub.latency - (time.monotonic() - self.arrived)))
        if stub.down:  # it died while this request was inside: no answer
            self._abort()
            return
        if isinstance(reply, str):
            reply = {"content": reply}
        content = reply.get("content") or ""
        reasoning = reply.get("reasoning_content")
        finish = reply.get("finish_reason", "stop")
        limit_bytes = max_tokens * TEXT_BYTES_PER_TOKEN
        if len(content.encode()) > limit_bytes:
            content = content.encode()[:limit_bytes].decode("utf-8", errors="ignore")
            finish = "length"
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": text_tokens(content) + (text_tokens(reasoning) if reasoning else 0)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        ident = f"chatcmpl-{uuid.uuid4().hex[:16]}"
        created = int(time.time())
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._stream(ident, created, model, content, reasoning, finish, usage if include_usage else None, fault)
            return
        message: dict[str, Any] = {"role": "assistant", "content": content, "tool_calls": []}
        if reasoning is not None:
            message["reasoning_content"] = reasoning
        payload = {"id": ident, "object": "chat.completion", "created": created, "model": model,
                   "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish,
                                "stop_reason": None}], "usage": usage}
        raw = json.dumps(payload, ensure_ascii=False).encode()
        if fault and fault.kind == "invalid_json":
            self._send(200, raw[: len(raw) // 2] + b"<<not json")
        elif fault and fault.kind == "truncate":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw[: min(fault.after_bytes, len(raw) // 2)])
            self.wfile.flush()
            self._abort()
        else:
            self._send(200, raw)
            with stub._lock:
                stub.answered.append(body)

    def _stream(self, ident: str, created: int, model: str, content: str, reasoning: str | None,
                finish: str, usage: dict | None, fault: Fault | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0

        def chunk(obj: Any) -> bool:
            nonlocal sent
            data = obj if isinstance(obj, bytes) else json.dumps(obj, ensure_ascii=False).encode()
            event = b"data: " + data + b"\n\n"
            if fault and fault.kind == "truncate" and sent + len(event) > fault.after_bytes and sent > 0:
                cut = event[: max(1, fault.after_bytes - sent)]
                self.wfile.write(f"{len(event):x}\r\n".encode() + cut)  # chunk header promises more than we send
                self.wfile.flush()
                self._abort()
                return False
            self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
            self.wfile.flush()
            sent += len(event)
            return True

        def delta(d: dict, finish_reason: str | None = None) -> dict:
            return {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": d, "logprobs": None, "finish_reason": finish_reason}]}

        if not chunk(delta({"role": "assistant", "content": ""})):
            return
        step = max(1, self.stub.chunk_chars)
        if reasoning:
            for i in range(0, len(reasoning), step):
                if not chunk(delta({"reasoning_content": reasoning[i:i + step]})):
                    return
        for i in range(0, len(content), step):
            if not chunk(delta({"content": content[i:i + step]})):
                return
            if fault and fault.kind == "end_early" and i + step >= len(content) // 2:
                self.wfile.write(b"0\r\n\r\n")  # a well-formed end of body, but no finish_reason, no [DONE]
                self.wfile.flush()
                return
        if fault and fault.kind == "invalid_json":
            chunk(b'{"id": "broken", "choices": [{"delta": {"content": "x"')
        if not chunk(delta({}, finish)):
            return
        if usage is not None and not chunk({"id": ident, "object": "chat.completion.chunk", "created": created,
                                            "model": model, "choices": [], "usage": usage}):
            return
        if not chunk(b"[DONE]"):
            return
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class InFlight:
    """A responder that holds each request ``hold_s`` seconds before ``responder`` answers it, and
    counts the requests inside at once: ``peak`` is the most seen (``take_peak()`` also resets it)."""

    def __init__(self, responder: Responder, hold_s: float) -> None:
        self.responder = responder
        self.hold_s = hold_s
        self.inflight = 0
        self.peak = 0
        self._lock = threading.Lock()

    def __call__(self, body: dict) -> "str | dict":
        with self._lock:
            self.inflight += 1
            self.peak = max(self.peak, self.inflight)
        time.sleep(self.hold_s)
        with self._lock:
            self.inflight -= 1
        return self.responder(body)

    def take_peak(self) -> int:
        """The highest count since the last call."""
        with self._lock:
            peak, self.peak = self.peak, 0
        return peak


def load_script(path: str | Path) -> dict:
    """Read a script: a JSON object (``replies``, ``models``, ``max_model_len``, ``faults``, ``loop``,
    ``in_token_limit``), a .txt file holding one reply, or a directory of .txt replies in name order."""
    path = Path(path)
    if path.is_dir():
        return {"replies": [p.read_text(encoding="utf-8") for p in sorted(path.glob("*.txt"))]}
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, list):
            data = {"replies": data}
        return data
    return {"replies": [path.read_text(encoding="utf-8")]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.stub_openai", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on stdout)")
    parser.add_argument("--script", help="replies: .json object/list, .txt file, or a directory of .txt files")
    parser.add_argument("--record", help="append every request as a JSON line to this file")
    parser.add_argument("--model", action="append", help="served model name (repeatable)")
    parser.add_argument("--max-model-len", type=int)
    parser.add_argument("--limit-images", type=int, help="images per request, like vLLM's --limit-mm-per-prompt")
    args = parser.parse_args(argv)

    script = load_script(args.script) if args.script else {}
    stub = StubOpenAI(
        script.get("replies", []),
        models=args.model or script.get("models", ["Kimi-VL-A3B-Thinking"]),
        max_model_len=args.max_model_len or script.get("max_model_len", 8192),
        in_token_limit=script.get("in_token_limit", 4096),
        host=args.host,
        port=args.port,
        loop_replies=bool(script.get("loop", False)),
        record_path=args.record,
        allowed_local_media_path=script.get("allowed_local_media_path"),
        limit_images=args.limit_images or script.get("limit_images"),
    )
    for f in script.get("faults", []):
        stub.fail_next(**f) if isinstance(f, dict) else stub.fail_next(f)
    stub.start()
    print(json.dumps({"base_url": stub.base_url, "port": stub.port}), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stub.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
