"""Backend "replay": answers with the replies of a recorded episode, in order."""

from __future__ import annotations

from typing import Any, Iterable

from agent.models.base import Reply, ReplayExhausted, ThinkingMarkers


class ReplayModel:
    """A ``ModelClient`` that returns recorded replies one per call and records what it was asked.

    Built from reply texts or ``Reply`` objects (the episode module builds it from an episode
    folder). Asking for one more reply than recorded raises ``ReplayExhausted``.
    """

    backend = "replay"

    def __init__(self, replies: Iterable[str | Reply], *, thinking_markers: ThinkingMarkers | None = None,
                 model: str = "replay", source: str = "") -> None:
        self._replies: list[Reply] = [
            r.split(thinking_markers) if isinstance(r, Reply) and thinking_markers else
            r if isinstance(r, Reply) else
            Reply.build(r, thinking_markers, model=model, finish_reason="stop")
            for r in replies
        ]
        self.thinking_markers = thinking_markers
        self.model = model
        self.source = source
        self.requests: list[tuple[list[dict], dict[str, Any]]] = []

    @property
    def remaining(self) -> int:
        return len(self._replies) - len(self.requests)

    async def complete(self, messages: list[dict], **sampling: Any) -> Reply:
        """The next recorded reply (the messages and sampling are kept in ``requests``)."""
        index = len(self.requests)
        if index >= len(self._replies):
            where = f" from {self.source}" if self.source else ""
            raise ReplayExhausted(
                f"the replay{where} holds {len(self._replies)} replies; step {index + 1} asked for another")
        self.requests.append((messages, dict(sampling)))
        return self._replies[index]

    async def count_tokens(self, messages: list[dict]) -> int | None:
        """A replay has no tokenizer; budgets fall back to their estimate."""
        return None

    async def list_models(self) -> list[str]:
        return [self.model]

    async def health(self) -> bool:
        return True
