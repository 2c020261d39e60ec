"""Several model servers serving one model, used as one.

Placeholder for the pool; ``probe_server`` answers whether one server is there.
"""

from __future__ import annotations

from agent.models.base import ModelError
from agent.models.openai_backend import OpenAIModel, RetryPolicy


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
