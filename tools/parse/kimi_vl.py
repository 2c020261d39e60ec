"""The ``kimi-vl`` format: Kimi-VL's thinking markers plus the ``## Action:`` / ``## Code:`` answer.

Shape (FACTS.md §1)::

    ◁think▷ …reasoning… ◁/think▷## Action:
    Click the "File" menu.
    ## Code:
    ```python
    pyautogui.click(x=0.204, y=0.149)
    ```

- The thinking part becomes ``Parsed.thought``; the rest is ``Parsed.answer``. Without markers (the
  Instruct model) a ``## Thought`` section, if any, is the thought.
- ``## Action:`` — a short instruction — is kept as ``Parsed.action_text``.
- ``## Code:`` — pyautogui code with NORMALIZED [0, 1] coordinates, or the OSWorld Kimi agent's
  ``computer.wait()`` / ``computer.terminate(status=…)`` in a ```code block — is read by the pyautogui
  parser (same allow-list, same all-or-nothing rule). Blocks after the ``## Code:`` header are used;
  with no header, every code block of the answer; with no block, bare pyautogui lines.

A reply that ends inside its thinking (``◁think▷`` never closed — usually the max_tokens limit) is not
an exception: :func:`parse_kimi` returns a Parsed with the thought, no actions, ``thinking_unclosed``
set and one message in ``errors`` that tells the model what happened. Every other unusable answer
raises ParseError.
"""

from __future__ import annotations

import re

from tools.parse._base import Builder, Limits, Parsed, begin
from tools.parse._text import point_in_text, split_thinking
from tools.parse.pyautogui_code import read_code_in

HINT = (
    "Answer in this shape: ## Action:\n<one short instruction>\n## Code:\n```python\n"
    "pyautogui.click(x=0.5, y=0.3)\n``` with x and y normalized between 0 and 1."
)

# the published ScreenSpot-Pro evaluation of Kimi-VL reads the point with exactly this shape
_SCREENSPOT_PRO = re.compile(r"x=(0(?:\.\d+)?|1(?:\.0+)?), y=(0(?:\.\d+)?|1(?:\.0+)?)")

_HEADER = re.compile(r"^[ \t]*#{1,6}[ \t]*(thought|action|code)\b[ \t]*:?[ \t]*", re.IGNORECASE | re.MULTILINE)


def sections(answer: str) -> dict[str, str]:
    """The ``## Thought`` / ``## Action`` / ``## Code`` sections of an answer, by lower-case name.

    A section runs to the next of these headers; a header repeated later wins.
    """
    found: dict[str, str] = {}
    matches = list(_HEADER.finditer(answer))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(answer)
        found[m.group(1).lower()] = answer[m.end():end].strip()
    return found


def parse_kimi(text: str, limits: Limits, cursor: tuple[float, float] | None = None) -> Parsed:
    """Parse a Kimi-VL reply (``fmt="kimi-vl"``) into thought, ``## Action:`` text and actions."""
    parsed = begin(text, "kimi-vl")
    if parsed.thinking_unclosed:
        return parsed
    parts = sections(parsed.answer)
    action_text = parts.get("action")
    if action_text is not None:
        # the instruction ends where a code fence starts, when the model forgot the ## Code: header
        parsed.action_text = action_text.split("```", 1)[0].strip() or None
    if parsed.thought is None and parts.get("thought"):
        parsed.thought = parts["thought"]
    code_part = parts.get("code")
    builder = Builder(limits, cursor)
    read_code_in(code_part if code_part is not None else parsed.answer, builder, limits)
    return builder.finish(parsed, HINT)


def kimi_point(text: str, limits: Limits) -> tuple[float, float] | None:
    """The grounding point of a Kimi-VL reply, normalized, read from the answer (never the thinking).

    Follows the ScreenSpot-Pro reading first (``x=0.xx, y=0.xx`` anywhere in the answer), then the
    first pointer action of the code, then any point written in the answer.
    """
    thinking = split_thinking(text)
    if thinking.unclosed:
        return None
    answer = thinking.answer or ""
    m = _SCREENSPOT_PRO.search(answer)
    if m:
        return float(m.group(1)), float(m.group(2))
    try:
        parsed = parse_kimi(text, limits)
        for action in parsed.actions:
            point = _action_point(action)
            if point is not None:
                return point
    except Exception:
        pass
    return point_in_text(answer)


def _action_point(action: object) -> tuple[float, float] | None:
    x, y = getattr(action, "x", None), getattr(action, "y", None)
    if isinstance(x, (int, float)) and isinstance(y, (int, float)):
        return float(x), float(y)
    x1, y1 = getattr(action, "x1", None), getattr(action, "y1", None)
    if isinstance(x1, (int, float)) and isinstance(y1, (int, float)):
        return float(x1), float(y1)
    return None
