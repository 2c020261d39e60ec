"""What every model backend returns and raises, and the protocol the loop codes against."""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from tools.parse import ThinkingMarkers, split_thinking

__all__ = ["ThinkingMarkers"]  # re-exported: the type lives with the one thinking split, in tools.parse

# Here, not in openai_backend: the CLI checks --base-url against it without importing the openai package (~1 s).
DEFAULT_BASE_URL = "http://localhost:8000/v1"


class Usage(BaseModel):
    """Token counts the server reported for one request (zero when it reported none)."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Reply(BaseModel):
    """One completion: the full text plus its split into thinking and answer.

    ``text`` is ``message.content`` exactly as received. When the server has a reasoning parser
    it sends the reasoning separately as ``reasoning_content``; otherwise (Kimi-VL on vLLM) the
    reasoning sits inside ``text`` between the profile's markers and ``split`` pulls it out.
    ``thinking_complete`` is False when the reply stopped inside the thinking block.
    """

    model_config = ConfigDict(frozen=True)

    text: str
    reasoning_content: str | None = None
    thinking: str | None = None
    answer: str = ""
    thinking_complete: bool = True
    usage: Usage = Field(default_factory=Usage)
    latency_s: float = 0.0
    model: str = ""
    finish_reason: str | None = None

    @classmethod
    def build(cls, text: str, markers: ThinkingMarkers | None = None, **fields: Any) -> "Reply":
        """A reply whose thinking/answer are split from ``text`` (and ``reasoning_content``) by ``markers``."""
        return cls(text=text, **fields).split(markers)

    def split(self, markers: ThinkingMarkers | None) -> "Reply":
        """A copy with ``thinking``/``answer`` recomputed for the given markers (``tools.parse.split_thinking``;
        None: the reply has no thinking part)."""
        parts = split_thinking(self.text, (markers,) if markers else ())
        thinking, answer, complete = parts.thought, (parts.answer or "").strip(), not parts.unclosed
        if self.reasoning_content:
            # The server already separated the reasoning; the content is the answer (it may still
            # carry stray markers if the template leaked them, so strip those too).
            thinking = self.reasoning_content.strip() if thinking is None else f"{self.reasoning_content.strip()}\n{thinking}"
        return self.model_copy(update={"thinking": thinking, "answer": answer, "thinking_complete": complete})

    @property
    def truncated(self) -> bool:
        """True when the server stopped for the length limit."""
        return self.finish_reason == "length"


class ModelError(Exception):
    """Base of every error a model backend raises; the message is meant for a human."""


class ServerUnreachable(ModelError):
    """Nothing answers at the base URL (connection refused, DNS failure, connect timeout)."""

    def __init__(self, url: str, detail: str = "", attempts: int = 1) -> None:
        self.url = url
        self.detail = detail
        self.attempts = attempts
        msg = (
            f"cannot reach the model server at {url}"
            + (f" ({detail})" if detail else "")
            + (f" after {attempts} attempts" if attempts > 1 else "")
            + ". Start one with `screenact serve`, or point OPENAI_BASE_URL at a running"
            " OpenAI-compatible server."
        )
        super().__init__(msg)


class UnknownModel(ModelError):
    """The server does not serve the requested model name."""

    def __init__(self, name: str | None, available: Sequence[str], url: str = "") -> None:
        self.name = name
        self.available = list(available)
        where = f" at {url}" if url else ""
        offers = ", ".join(self.available) if self.available else "no models"
        if name is None:
            msg = f"the server{where} offers {offers}; pass a model name to choose one"
        else:
            msg = f"the server{where} has no model named {name!r}; it offers: {offers}"
        super().__init__(msg)


class ModelTimeout(ModelError):
    """The server accepted the request but did not answer within the read timeout."""


class BadResponse(ModelError):
    """The server answered with something that is not a valid completion (bad JSON, cut stream)."""


class ServerError(ModelError):
    """The server kept failing (5xx or 429) after all retries."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class RequestRejected(ModelError):
    """The server refused the request as invalid (4xx other than 404/429)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class ContextLengthExceeded(RequestRejected):
    """The prompt plus max_tokens does not fit the server's context length."""


class ReplayExhausted(ModelError):
    """A replay backend was asked for more replies than it recorded."""


@runtime_checkable
class ModelClient(Protocol):
    """Anything that turns OpenAI chat messages into a ``Reply``.

    ``sampling`` holds the request's sampling parameters and, when someone watches the episode,
    ``on_delta(kind, text)``: a callback for streamed text ("reasoning" or "content") that a backend
    calls as the reply arrives, or ignores when it does not stream.
    """

    async def complete(self, messages: list[dict], **sampling: Any) -> Reply: ...


@runtime_checkable
class TokenCounter(Protocol):
    """Exact prompt token counting (vLLM ``/tokenize``); None when the server cannot count."""

    async def count_tokens(self, messages: list[dict]) -> int | None: ...
