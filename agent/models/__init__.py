"""Model backends behind one protocol: ``await client.complete(messages, **sampling) -> Reply``.

Backends: ``openai`` (any OpenAI-compatible server, vLLM first) and ``replay`` (recorded replies).
"""

from __future__ import annotations

from typing import Any, Callable

from agent.models.base import (
    BadResponse,
    ContextLengthExceeded,
    ModelClient,
    ModelError,
    ModelTimeout,
    ReplayExhausted,
    Reply,
    RequestRejected,
    ServerError,
    ServerUnreachable,
    ThinkingMarkers,
    TokenCounter,
    UnknownModel,
    Usage,
    split_thinking,
)
from agent.models.openai_backend import OpenAIModel, RetryPolicy
from agent.models.replay_backend import ReplayModel

BackendFactory = Callable[..., ModelClient]

_FACTORIES: dict[str, BackendFactory] = {"openai": OpenAIModel, "replay": ReplayModel}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make another backend (e.g. the embedded ``ocr`` grounder) constructible by ``make_model``."""
    if name in _FACTORIES:
        raise ValueError(f"model backend {name!r} is already registered")
    _FACTORIES[name] = factory


def backends() -> tuple[str, ...]:
    """Names ``make_model`` accepts."""
    return tuple(_FACTORIES)


def make_model(backend: str, **settings: Any) -> ModelClient:
    """Construct a backend by name (``openai``, ``replay``, or a registered one) with its keyword settings."""
    try:
        factory = _FACTORIES[backend]
    except KeyError:
        raise ValueError(f"unknown model backend {backend!r}; known: {', '.join(_FACTORIES)}") from None
    return factory(**settings)


__all__ = [
    "BackendFactory", "BadResponse", "ContextLengthExceeded", "ModelClient", "ModelError", "ModelTimeout",
    "OpenAIModel", "ReplayExhausted", "ReplayModel", "Reply", "RequestRejected", "RetryPolicy", "ServerError",
    "ServerUnreachable", "ThinkingMarkers", "TokenCounter", "UnknownModel", "Usage", "backends", "make_model",
    "register_backend", "split_thinking",
]
