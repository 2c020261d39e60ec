"""The ``kimi-vl`` format: Kimi-VL's thinking markers plus the ``## Action:`` / ``## Code:`` answer.

Shape (docs/model-interface.md, Kimi-VL's reply)::

    ◁think▷ …reasoning… ◁/think▷## Action:
    Click the "File" menu.
    ## Code:
    ```python
    pyautogui.click(x=0.204, y=0.149)
    ```

- The thinking part becomes ``Parsed.thought``; the rest is ``Parsed.answer``. Without markers (the
  Instruct model) a ``## Thought`` section, if any, is the thought.
- ``## Action:`` — a short instruction — is kept as ``Parsed.action_text`` (``_text.action_line``).
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

from tools.parse._base import Builder, Limits, Parsed, begin, first_point
from tools.parse._text import sections, split_thinking
from tools.parse.pyautogui_code import read_code_in

HINT = (
    "Answer in this shape: ## Action:\n<one short instruction>\n## Code:\n```python\n"
    "pyautogui.click(x=0.5, y=0.3)\n``` with x and y normalized between 0 and 1."
)

# the published ScreenSpot-Pro evaluation of Kimi-VL reads the point with exactly this shape
_SCREENSPOT_PRO = re.compile(r"x=(0(?:\.\d+)?|1(?:\.0+)?), y=(0(?:\.\d+)?|1(?:\.0+)?)")

def parse_kimi(text: str, limits: Limits, cursor: tuple[float, float] | None = None) -> Parsed:
    """Parse a Kimi-VL reply (``fmt="kimi-vl"``) into thought, ``## Action:`` text and actions."""
    parsed = begin(text, "kimi-vl", limits)
    if parsed.thinking_unclosed:
        return parsed
    parts = sections(parsed.answer)
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
    thinking = split_thinking(text, limits.thinking)
    if thinking.unclosed:
        return None
    m = _SCREENSPOT_PRO.search(thinking.answer or "")
    if m:
        return float(m.group(1)), float(m.group(2))
    return first_point(parse_kimi, text, limits)
