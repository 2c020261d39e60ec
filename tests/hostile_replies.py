"""Every reader of model text, and replies built to make a backtracking reader blow up.

Shared by the linear-time property test (``tests/test_parse_linear.py``) and the parse benchmark
(``bench/bench_parse.py``). A hostile reply is ``prefix + unit * k + suffix`` built from the markers the
readers look for (thinking markers, ``## Action:``, fences, tool-call tags, point tags, calls, quotes,
brackets) and whitespace runs: the shapes where a pattern such as ``\\s*`*\\s*`` or a lookahead run at
every line start turns quadratic or cubic.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

from agent.profiles import get_profile
from agent.prompts import HistoryStep
from agent.prompts import action_line as prompt_action_line
from agent.prompts import clip as prompt_clip
from agent.ui.chat import ThinkingStream, code_block, code_span, md_escape, no_remote_images
from tools.parse import FORMATS, MAX_REPLY_CHARS, ParseError, action_line, parse, parse_point, split_thinking
from tools.parse._text import code_blocks, outside_blocks, point_in_text, sections


def _parse(fmt: str) -> Callable[[str], object]:
    def run(text: str) -> object:
        try:
            return parse(text, fmt)
        except ParseError as exc:  # a refusal is an answer; only the time it took matters here
            return exc

    return run


def _stream(text: str) -> str:
    """The UI's streaming split, fed the reply in 16-character deltas (about four tokens) as a server streams it."""
    stream = ThinkingStream(("◁think▷", "◁/think▷"))
    for i in range(0, len(text), 16):
        stream.feed("content", text[i:i + 16])
    stream.finish()
    return stream.answer


READERS: dict[str, Callable[[str], object]] = {
    **{f"parse {fmt}": _parse(fmt) for fmt in FORMATS},
    **{f"parse_point {fmt}": (lambda text, fmt=fmt: parse_point(text, fmt)) for fmt in FORMATS},
    "Profile.read kimi-vl-thinking": get_profile("kimi-vl-thinking").read,
    "split_thinking": split_thinking,
    "action_line": action_line,
    "sections": sections,
    "code_blocks": lambda text: outside_blocks(text, code_blocks(text)),
    "point_in_text": point_in_text,
    "prompts.action_line": lambda text: prompt_action_line(HistoryStep(1, text)),
    "prompts.clip": lambda text: prompt_clip(text, 300),
    "ui md_escape": md_escape,
    "ui code_span": code_span,
    "ui code_block": code_block,
    "ui no_remote_images": no_remote_images,
    "ui ThinkingStream": _stream,
}
"""Every parser, prompt helper and UI text helper that reads a model reply, by name."""

ATOMS: tuple[str, ...] = (
    " ", "  ", "\t", "\n", "\n\n", " \n", "\r\n", "x", "y", "=", ":", "'", '"', "(", ")", "[", "]", "{", "}",
    ",", ", ", "-", "*", "**", "#", "##", "`", "```", "```python\n", "\\", ".", "!", ";", "_", "a", "1", "0.5",
    "12", "1,", "x=", "y=", "x=1", ", y=1", "<point>", "</point>", "<|box_start|>", "<|box_end|>", "<bbox>",
    "## Action:", "## Code:", "## Thought:", "Action:", "Thought:", "◁think▷", "◁/think▷", "<think>",
    "</think>", "<tool_call>", "</tool_call>", "WAIT", "DONE", "FAIL", "CLICK", "TYPE [", "done", "import pyautogui",
    "pyautogui.", "click(", "pyautogui.click(", "type(content='", "start_box='(", ")\n\n", "(3,4)", "[1, 2, 3, 4]",
    '{"action_type": "CLICK"', '"action_type": ', "www.", "https://", "- ", "1. ", "![", "computer.wait(",
)
"""The pieces hostile replies are made of: every marker some reader looks for, and whitespace."""


def hostile(prefix: str, unit: str, suffix: str, size: int) -> str:
    """``prefix + unit * k + suffix`` with ``k`` chosen so the reply is about ``size`` characters long."""
    k = max(1, (size - len(prefix) - len(suffix)) // max(1, len(unit)))
    return prefix + unit * k + suffix


_PIECE = st.lists(st.sampled_from(ATOMS), min_size=0, max_size=3).map("".join)


def hostile_replies(size: int) -> st.SearchStrategy[tuple[str, str, str]]:
    """(prefix, unit, suffix) of hostile replies (build them with :func:`hostile` at any size)."""
    unit = st.lists(st.sampled_from(ATOMS), min_size=1, max_size=3).map("".join)
    return st.tuples(_PIECE, unit, _PIECE)


NAMED: dict[str, tuple[str, str, str]] = {
    # the shapes of issue 11 and what the audit of every pattern found
    "WAIT + spaces (kimi-vl, pyautogui: cubic)": ("WAIT", " ", "x"),
    "done + tabs (computer_13: cubic)": ("done", "\t", "x"),
    "spaces in a line (ui-tars Action line)": ("Action", " ", "x"),
    "blank lines (UI line starts)": ("x", "\n", "#"),
    "point tag + spaces": ("<point>", " ", "x"),
    "box tag + spaces": ("<|box_start|>(1,2)", " ", "x"),
    "x= + spaces": ("x=1,", " ", "x"),
    "## Action + blank lines": ("## Action:", "\n", "x"),
    "unclosed fences": ("", "```", ""),
    "unclosed fence + spaces": ("```", " ", ""),
    "nested parentheses": ("pyautogui.click(x=", "(", ""),
    "nested brackets": ("", "[", ""),
    "open calls": ("", "click(", ""),
    "bare names on lines": ("", "_ \n", "DONE"),
    "tool tags": ("", "<tool_call>", ""),
    "empty tool calls": ("", "<tool_call>{}</tool_call>", ""),
    "Action labels": ("", "Action: ", ""),
    "UI-TARS calls": ("Action: ", "click()\n\n", ""),
    "list lines": ("", "- \n", ""),
    "numbered lines": ("", "1.\n", ""),
    "URLs": ("", "www.x ", ""),
    "markdown specials": ("", "\\`*_[]<>|~&$", ""),
    "thinking markers": ("", "◁think▷", ""),
    "streamed blanks": ("", " ", "◁think▷x◁/think▷a"),
    "operator chain": ("```python\npyautogui.click(x=", "1+", ""),
    "quotes": ("", "'", ""),
    "half points": ("", "(1,", ""),
    "x= pairs": ("", "x=1, ", ""),
    "many arguments": ("Action: click(", "a='1',", ")"),
    "quote content": ("Action: type(content='", "'", "')"),
    "box tokens": ("", "<|box_start|>(1,2)", ""),
    "open code lines": ("", "pyautogui.click(\n", ""),
    "section headers": ("", "## Action:\n", ""),
}
"""Named hostile shapes (prefix, unit, suffix) for the regression tests and the benchmark."""

__all__ = ["ATOMS", "MAX_REPLY_CHARS", "NAMED", "READERS", "hostile", "hostile_replies"]
