"""Shared pieces of the parsers: the result type, the error type, limits and the action builder."""

from __future__ import annotations

from collections.abc import Callable

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from tools.actions import Action, Click, Drag, Move, Scroll
from tools.parse._text import DEFAULT_THINKING, ThinkingMarkers


class ParseError(Exception):
    """A reply that cannot be turned into actions; ``str(error)`` is written for the model to read.

    ``problems`` lists each problem found; ``parsed`` holds what could be read anyway (the thought,
    the ``## Action:`` text, the raw reply) so the loop can still record it. No action of a reply
    that raised ParseError is ever executed.
    """

    def __init__(self, message: str, problems: list[str] | None = None, parsed: "Parsed | None" = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems if problems is not None else [message]
        self.parsed = parsed

    def __str__(self) -> str:
        return self.message


MAX_REPLY_CHARS = 200_000
"""The reply size cap: the one definition of how long a reply may be (``Limits.max_chars`` defaults to it).
Every reader of model text (parsers, prompt and UI helpers) runs in linear time up to it."""


class ReplyTooLong(ParseError):
    """A reply over the size cap, refused before any work; the message names the cap for the model."""

    def __init__(self, length: int, cap: int, parsed: "Parsed | None" = None) -> None:
        super().__init__(
            f"I could not use your reply: it is {length} characters long and the limit is {cap}. "
            "Nothing was executed. Reply briefly with one step.",
            ["reply too long"], parsed,
        )
        self.length, self.cap = length, cap


@dataclass
class Parsed:
    """What a model reply says: its thought, its answer text and its actions in model coordinates.

    ``answer`` is the text after the thinking part (the whole reply for formats without thinking
    markers). ``action_text`` is the reply's action line (``_text.action_line``: the ``## Action:``
    section; UI-TARS's and 0–1000 replies' ``Action:`` line), so nobody re-finds it later. ``errors`` is empty
    when ``actions`` holds the reply's whole plan; otherwise ``actions`` is empty and ``errors`` says
    why — today only when the reply ended inside its thinking (``thinking_unclosed``).
    """

    raw: str
    fmt: str = ""
    thought: str | None = None
    answer: str = ""
    actions: list[Action] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    action_text: str | None = None
    thinking_unclosed: bool = False

    @property
    def ok(self) -> bool:
        """True when the reply gave actions and no errors."""
        return bool(self.actions) and not self.errors


@dataclass(frozen=True)
class Limits:
    """Bounds that keep parsing cheap and hostile replies harmless, plus format defaults.

    ``max_chars`` bounds a whole reply (thinking included); ``max_code`` bounds all the code of one reply
    handed to Python's parser, whose cost grows faster than linearly on hostile code (a long unclosed
    list costs ~20 ms at 4k characters, ~200 ms at 16k), so it is kept to a few real steps' worth.
    Once ``max_problems`` problems are noted a reply is refused anyway and reading stops.

    ``*_wait`` are the seconds a wait without a duration stands for in each convention: OSWorld's bare
    ``WAIT``, the OSWorld Kimi agent's ``computer.wait()`` ("wait for 20 seconds" in its prompt), and
    UI-TARS's ``wait()`` ("sleep for 5s"). ``ui_tars_scroll`` is the wheel clicks of one UI-TARS scroll.
    ``thinking`` are the marker pairs that open and close the reasoning (the profile's, when it names them).
    """

    max_chars: int = MAX_REPLY_CHARS
    max_code: int = 3_000
    max_blocks: int = 16
    max_nodes: int = 20_000
    max_depth: int = 32
    max_actions: int = 64
    max_items: int = 1_000
    max_number: float = 1e7
    max_problems: int = 5
    bare_wait: float = 2.0
    computer_wait: float = 20.0
    ui_tars_wait: float = 5.0
    ui_tars_scroll: int = 5
    thinking: tuple[ThinkingMarkers, ...] = DEFAULT_THINKING


DEFAULT_LIMITS = Limits()
"""The limits ``parse`` uses unless given others."""


class Problem(Exception):
    """One problem in one part of a reply (internal; collected into a ParseError)."""


def pydantic_problem(what: str, err: ValidationError) -> Problem:
    """A readable problem from a pydantic validation error of one action."""
    first = err.errors()[0] if err.errors() else {"loc": (), "msg": str(err)}
    loc = ".".join(str(p) for p in first.get("loc", ()) if p not in ("function-after",))
    msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    msg = msg[:1].lower() + msg[1:]
    return Problem(f"{what}: {loc + ': ' if loc else ''}{msg}")


def make(cls: type, what: str, **fields: Any) -> Action:
    """Build one action, turning a validation error into a Problem that names ``what``."""
    try:
        return cls(**fields)
    except ValidationError as err:
        raise pydantic_problem(what, err) from None


class Builder:
    """Collects actions in order and follows where the pointer will be, for relative moves and drags.

    ``cursor`` is the pointer position in model coordinates before the first action, when known.
    """

    def __init__(self, limits: Limits, cursor: tuple[float, float] | None = None) -> None:
        self.limits = limits
        self.actions: list[Action] = []
        self.pos: tuple[float, float] | None = cursor
        self.problems: list[str] = []
        self.code_read = 0  # characters handed to Python's parser so far (bounded by ``max_code``)

    @property
    def full(self) -> bool:
        """True once ``max_problems`` problems are noted: the reply is refused, so reading on only costs time."""
        return len(self.problems) >= self.limits.max_problems

    def take_code(self, size: int) -> bool:
        """Count ``size`` characters of code against ``max_code`` (a Problem noted and False when over)."""
        if self.code_read + size > self.limits.max_code:
            self.note(f"the code is {self.code_read + size} characters long; the limit is {self.limits.max_code}. "
                      "Send a few short calls for one step")
            return False
        self.code_read += size
        return True

    def add(self, action: Action) -> None:
        """Append an action (a Problem once there are more than ``max_actions``)."""
        if len(self.actions) >= self.limits.max_actions:
            raise Problem(f"too many actions in one reply (the limit is {self.limits.max_actions}); do fewer per step")
        self.actions.append(action)
        if isinstance(action, (Click, Move)):
            self.pos = (action.x, action.y)
        elif isinstance(action, Drag):
            self.pos = (action.x2, action.y2)
        elif isinstance(action, Scroll) and action.x is not None and action.y is not None:
            self.pos = (action.x, action.y)

    def here(self, what: str, hint: str) -> tuple[float, float]:
        """The pointer position, or a Problem explaining that ``what`` needs one (``hint`` says how)."""
        if self.pos is None:
            raise Problem(f"{what}: the pointer position is unknown here; {hint}")
        return self.pos

    def note(self, problem: str) -> None:
        """Record a problem (only the first few are kept)."""
        if len(self.problems) < self.limits.max_problems:
            self.problems.append(problem)

    def finish(self, parsed: Parsed, hint: str) -> Parsed:
        """``parsed`` with the actions read, or the ParseError when anything was refused or nothing found:
        all or nothing, so a half-refused plan never runs."""
        if self.problems or not self.actions:
            raise fail(self.problems, hint, parsed)
        parsed.actions = self.actions
        return parsed

    def pointer_button(self, cls: type, button: str, at: tuple[float, float] | None, what: str) -> None:
        """A mouse_down/mouse_up, moving to ``at`` first when a position was given."""
        if at is not None:
            self.add(make(Move, what, x=at[0], y=at[1]))
        self.add(make(cls, what, button=button))


def fail(problems: list[str], hint: str, parsed: Parsed) -> ParseError:
    """The ParseError for a reply with problems: every problem, that nothing ran, and how to fix it."""
    body = "; ".join(problems) if problems else "no action found"
    message = f"I could not use your reply: {body}. Nothing was executed. {hint}".strip()
    parsed.errors = list(problems) or ["no action found"]
    parsed.actions = []
    return ParseError(message, list(problems), parsed)



def pointer_point(action: object) -> tuple[float, float] | None:
    """The one definition of "where an action points": (x, y), or a drag's start; None for actions without."""
    for kx, ky in (("x", "y"), ("x1", "y1")):
        x, y = getattr(action, kx, None), getattr(action, ky, None)
        if isinstance(x, (int, float)) and isinstance(y, (int, float)):
            return float(x), float(y)
    return None


def first_point(parser: "Callable[..., Parsed]", text: str, limits: Limits) -> tuple[float, float] | None:
    """A grounding point from a reply: its first pointer action's position, else any point in its answer."""
    from tools.parse._text import point_in_text, split_thinking

    thinking = split_thinking(text, limits.thinking)
    if thinking.unclosed:
        return None
    try:
        for action in parser(text, limits).actions:
            point = pointer_point(action)
            if point is not None:
                return point
    except Exception:  # grounding never raises: an unusable reply is "no point" (wrong_format)
        pass
    return point_in_text(thinking.answer or "")


def begin(text: str, fmt: str, limits: Limits = DEFAULT_LIMITS) -> Parsed:
    """A reply's Parsed with its thought, answer and action line split out (``_text``). A reply that ended
    inside its thinking comes back marked (``thinking_unclosed``), with no actions and one error for the
    model; parsers return it as is."""
    from tools.parse._text import action_line, split_thinking

    thinking = split_thinking(text, limits.thinking)
    answer = (thinking.answer or "").strip()
    parsed = Parsed(raw=text, fmt=fmt, thought=thinking.thought, answer=answer, action_text=action_line(answer))
    if thinking.unclosed:
        open_, close = next((m for m in limits.thinking if m[0] in text), limits.thinking[0])
        parsed.thinking_unclosed = True
        parsed.errors = [
            f"your reply ended inside the thinking part ({open_} was never closed with {close}), so it had no "
            "action; think more briefly, close the thinking, then give ## Action: and ## Code:"
        ]
    return parsed
