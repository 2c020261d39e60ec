"""What every grounder answers: a :class:`Point` on the screen inside a :class:`Grounding` record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from tools.frame import Frame


@dataclass(frozen=True)
class Point:
    """A point in screen pixels (0,0 at the top-left of the screen)."""

    x: int
    y: int

    def as_tuple(self) -> tuple[int, int]:
        """(x, y)."""
        return (self.x, self.y)


@dataclass
class Grounding:
    """The full answer of a grounder for one description.

    ``point`` is None when the element was not found (``details["reason"]`` says why). ``reply`` is
    the model's raw text (None for grounders without a model). ``details`` holds what explains the
    point: for OCR the matched text, its score and box; for a VLM the model-space point, the usage
    and the budget.
    """

    point: Point | None
    description: str
    grounder: str
    reply: str | None = None
    latency_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        """Whether a point was found."""
        return self.point is not None


@runtime_checkable
class Grounder(Protocol):
    """Turns an element description into a screen point on a frame."""

    name: str

    async def ground(self, frame: "Frame", description: str) -> Point | None:
        """The screen pixel of the described element, or None when it cannot be found."""
        ...

    async def locate(self, frame: "Frame", description: str) -> Grounding:
        """The full record of one grounding (``ground()`` is ``locate().point``)."""
        ...


__all__ = ["Grounder", "Grounding", "Point"]
