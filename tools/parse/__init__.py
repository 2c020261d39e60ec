"""Safe parsers from model text to actions: ``parse(text, fmt) -> Parsed``.

Formats (:data:`FORMATS`), one module each:

- ``"pyautogui"``  — OSWorld pyautogui code (:mod:`tools.parse.pyautogui_code`);
- ``"kimi-vl"``    — Kimi-VL thinking markers + ``## Action:`` / ``## Code:`` (:mod:`tools.parse.kimi_vl`);
- ``"computer_13"`` — OSWorld JSON action dicts (:mod:`tools.parse.computer_13`);
- ``"ui-tars"``    — ``Thought:`` / ``Action: click(start_box=…)`` (:mod:`tools.parse.ui_tars`);
- ``"thousand"``   — 0–1000 grids: Qwen3-VL tool calls, OS-Atlas lines, 0–1000 pyautogui, bare points
  (:mod:`tools.parse.thousand`);
- ``"qwen-tool"``  — Qwen2.5-VL / Qwen3-VL ``computer_use`` tool calls, in the profile's space
  (:mod:`tools.parse.qwen_tool`).

Contract:

- Actions come back in MODEL space, exactly as written; ``tools.coords.Transform`` maps them to the
  screen and ``tools.policy.Policy`` validates them.
- Nothing in a reply is ever executed: code is read with ``ast`` and a closed literal evaluator; JSON
  with ``json``; no eval, exec, compile-to-run or shell anywhere.
- All or nothing: if any part of a reply is refused, ``parse`` raises :class:`ParseError` and no action
  of that reply may run. The error's message is written for the model (what was wrong, that nothing ran,
  how to write it); ``error.parsed`` still carries the thought and ``## Action:`` text for the record.
- One failure is not an exception: a reply that ended inside its thinking (``◁think▷`` without
  ``◁/think▷``) returns a Parsed with the thought, no actions, ``thinking_unclosed=True`` and the message
  for the model in ``errors``. So: ``errors`` empty ⇔ ``actions`` hold the whole plan.
- No other exception ever escapes ``parse``: replies over ``Limits.max_chars`` (``MAX_REPLY_CHARS``,
  200k characters) are refused with :class:`ReplyTooLong` before any work, the code of a reply is
  bounded in size (``max_code``), syntax trees in size and depth, and anything unexpected
  (RecursionError, MemoryError, …) becomes a ParseError.
- Linear time: every reader of a reply runs in time linear in its length (``tests/test_parse_linear.py``);
  ``bench/bench_parse.py`` prints the worst case of each against 50 ms at the cap.
"""

from __future__ import annotations

from collections.abc import Callable

from tools.parse._base import DEFAULT_LIMITS, MAX_REPLY_CHARS, Limits, ParseError, Parsed, ReplyTooLong, pointer_point
from tools.parse._text import DEFAULT_THINKING, ThinkingMarkers, Thinking, action_line, split_thinking
from tools.parse.computer_13 import parse_computer13
from tools.parse.kimi_vl import kimi_point, parse_kimi
from tools.parse.pyautogui_code import parse_pyautogui
from tools.parse.qwen_tool import parse_qwen_tool, qwen_tool_point
from tools.parse.thousand import parse_thousand, thousand_point
from tools.parse.ui_tars import parse_ui_tars, ui_tars_point

FORMATS: tuple[str, ...] = ("pyautogui", "kimi-vl", "computer_13", "ui-tars", "thousand", "qwen-tool")
"""The format names ``parse`` accepts (a few spellings like ``kimi_vl`` or ``uitars`` work too)."""

_PARSERS: dict[str, Callable[..., Parsed]] = {
    "pyautogui": parse_pyautogui,
    "kimi-vl": parse_kimi,
    "computer_13": parse_computer13,
    "ui-tars": parse_ui_tars,
    "thousand": parse_thousand,
    "qwen-tool": parse_qwen_tool,
}

_ALIASES = {
    "kimivl": "kimi-vl", "kimi": "kimi-vl", "computer13": "computer_13", "uitars": "ui-tars",
    "qwen": "thousand", "1000": "thousand", "pyautoguicode": "pyautogui",
}


def canonical_format(fmt: object) -> str | None:
    """The canonical name of a format (``"kimi_vl"`` → ``"kimi-vl"``), or None if unknown."""
    if not isinstance(fmt, str):
        return None
    if fmt in _PARSERS:
        return fmt
    compact = fmt.strip().lower().replace("-", "").replace("_", "")
    for name in FORMATS:
        if compact == name.replace("-", "").replace("_", ""):
            return name
    return _ALIASES.get(compact)


def parse(
    text: str,
    fmt: str,
    *,
    cursor: tuple[float, float] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Parsed:
    """Read a model reply in format ``fmt`` into a :class:`Parsed` (see the module docstring).

    ``cursor`` is the pointer position in model coordinates, when known; it lets a click without a
    position or a relative move in the first action resolve. Raises :class:`ParseError` only.
    """
    name = canonical_format(fmt)
    if name is None:
        raise ParseError(f"unknown reply format {fmt!r}; the formats are {', '.join(FORMATS)}")
    if not isinstance(text, str):
        raise ParseError("the reply is not text")
    if len(text) > limits.max_chars:
        raise ReplyTooLong(len(text), limits.max_chars, Parsed(raw=text[:1000], fmt=name, errors=["reply too long"]))
    try:
        return _PARSERS[name](text, limits, cursor)
    except ParseError:
        raise
    except Exception as exc:  # RecursionError, MemoryError, or a bug: never let it reach the loop
        raise ParseError(
            f"I could not read your reply ({type(exc).__name__}). Nothing was executed. Reply with one short, simple action.",
            parsed=Parsed(raw=text, fmt=name, errors=[type(exc).__name__]),
        ) from exc


def parse_point(text: str, fmt: str, *, limits: Limits = DEFAULT_LIMITS) -> tuple[float, float] | None:
    """The point a grounding reply names, in the format's model space, or None (never raises).

    kimi-vl follows the published ScreenSpot-Pro reading (``x=0.xx, y=0.xx`` in the answer, not the
    thinking); other formats take the first pointer action, then any point written in the answer.
    """
    try:
        name = canonical_format(fmt)
        if name is None or not isinstance(text, str) or len(text) > limits.max_chars:
            return None
        if name == "kimi-vl":
            return kimi_point(text, limits)
        if name == "ui-tars":
            return ui_tars_point(text, limits)
        if name == "thousand":
            return thousand_point(text, limits)
        if name == "qwen-tool":
            return qwen_tool_point(text, limits)
        parsed = parse(text, name, limits=limits)
        return next((p for p in map(pointer_point, parsed.actions) if p is not None), None)
    except Exception:
        return None


__all__ = ["DEFAULT_THINKING", "FORMATS", "MAX_REPLY_CHARS", "Limits", "ParseError", "Parsed", "ReplyTooLong",
           "Thinking", "ThinkingMarkers", "action_line", "canonical_format", "parse", "parse_point", "pointer_point", "split_thinking"]
