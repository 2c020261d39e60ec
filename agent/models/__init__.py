"""Model backends behind one protocol: ``await client.complete(messages, **sampling) -> Reply``.

Backends: ``openai`` (any OpenAI-compatible server, vLLM first) and ``replay`` (recorded replies).

Names are imported on first use, so that ``agent.models.base`` (the protocol and the errors, which
profiles and grounders need) does not pay for the OpenAI SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_BASE = "agent.models.base"
_EXPORTS = {
    **dict.fromkeys(["BadResponse", "ContextLengthExceeded", "ModelClient", "ModelError", "ModelTimeout",
                     "ReplayExhausted", "Reply", "RequestRejected", "ServerError", "ServerUnreachable",
                     "ThinkingMarkers", "TokenCounter", "UnknownModel", "Usage"], _BASE),
    "OpenAIModel": "agent.models.openai_backend", "RetryPolicy": "agent.models.openai_backend",
    "ReplayModel": "agent.models.replay_backend",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from agent.models.base import (BadResponse, ContextLengthExceeded, ModelClient, ModelError, ModelTimeout,
                                   ReplayExhausted, Reply, RequestRejected, ServerError, ServerUnreachable,
                                   ThinkingMarkers, TokenCounter, UnknownModel, Usage)
    from agent.models.openai_backend import OpenAIModel, RetryPolicy
    from agent.models.replay_backend import ReplayModel


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'agent.models' has no attribute {name!r}") from None
    return getattr(importlib.import_module(module), name)
