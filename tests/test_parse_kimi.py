"""The kimi-vl format: thinking markers, ## sections, the unclosed-thinking case, grounding points."""

from __future__ import annotations

import pytest

from tools.actions import Click, Key, TypeText
from tools.coords import Transform
from tools.parse import ParseError, parse, parse_point
from tools.parse._text import split_thinking
from tools.parse.kimi_vl import sections
from tools.policy import Policy

CANONICAL = "◁think▷I should open File.◁/think▷## Action:\nClick File.\n## Code:\n```python\npyautogui.click(x=0.204, y=0.149)\n```"


def test_split_thinking_variants() -> None:
    both = split_thinking("◁think▷a b◁/think▷answer")
    assert (both.thought, both.answer, both.unclosed) == ("a b", "answer", False)
    close_only = split_thinking("prompted thinking◁/think▷answer")
    assert (close_only.thought, close_only.answer) == ("prompted thinking", "answer")
    open_only = split_thinking("◁think▷cut off")
    assert (open_only.thought, open_only.answer, open_only.unclosed) == ("cut off", None, True)
    assert split_thinking("plain").thought is None and split_thinking("plain").answer == "plain"
    assert split_thinking("<think>t</think>a").thought == "t"
    assert split_thinking("◁think▷◁/think▷a").thought is None


def test_sections_tolerate_header_variants() -> None:
    parts = sections("## Thought\nthink\n## Action\nClick it\n### Code:\n```python\nx\n```")
    assert parts["thought"] == "think" and parts["action"] == "Click it" and parts["code"].startswith("```python")


def test_canonical_reply_through_transform_and_policy() -> None:
    parsed = parse(CANONICAL, "kimi-vl")
    assert parsed.ok and parsed.thought == "I should open File." and parsed.action_text == "Click File."
    screen = Transform("normalized", 1920, 1080).action_to_screen(parsed.actions[0])
    assert screen == Click(x=391, y=160)
    assert Policy().check(screen, 1920, 1080) == Click(x=391, y=160)


def test_unclosed_thinking_is_reported_not_raised() -> None:
    parsed = parse("◁think▷The File menu is at the top left, and then I", "kimi-vl")
    assert parsed.thinking_unclosed and not parsed.ok
    assert parsed.actions == [] and parsed.thought == "The File menu is at the top left, and then I"
    assert "ended inside the thinking" in parsed.errors[0] and "◁/think▷" in parsed.errors[0]


def test_parse_error_keeps_the_thought_and_action_text() -> None:
    with pytest.raises(ParseError) as info:
        parse("◁think▷shell is faster◁/think▷## Action:\nList files.\n## Code:\n```python\nos.listdir('/')\n```", "kimi-vl")
    assert info.value.parsed.thought == "shell is faster" and info.value.parsed.action_text == "List files."
    assert "## Action:" in str(info.value)  # the hint shows the expected shape
    assert info.value.problems and "os.listdir" in info.value.problems[0]


def test_code_without_header_and_action_text_before_a_fence() -> None:
    parsed = parse("◁think▷t◁/think▷## Action:\nPress Enter.\n```python\npyautogui.press('enter')\n```", "kimi-vl")
    assert parsed.action_text == "Press Enter." and parsed.actions == [Key(keys=["enter"])]
    bare = parse("◁think▷t◁/think▷## Action:\nType hi.\npyautogui.write('hi')", "kimi-vl")
    assert bare.actions == [TypeText(text="hi")]


def test_instruct_style_thought_section() -> None:
    parsed = parse("## Thought\nThe button is blue.\n## Action:\nClick it.\n## Code:\n```python\npyautogui.click(x=0.3, y=0.4)\n```", "kimi-vl")
    assert parsed.thought == "The button is blue." and parsed.actions == [Click(x=0.3, y=0.4)]


def test_grounding_point_follows_the_screenspot_pro_reading() -> None:
    assert parse_point(CANONICAL, "kimi-vl") == (0.204, 0.149)
    assert parse_point("◁think▷x=0.9, y=0.9◁/think▷The element is at x=0.31, y=0.47.", "kimi-vl") == (0.31, 0.47)
    assert parse_point("◁think▷pyautogui.click(x=0.9, y=0.9)◁/think▷nothing here", "kimi-vl") is None
    assert parse_point("◁think▷x=0.5, y=0.5 and still thinking", "kimi-vl") is None
    assert parse_point("## Code:\n```python\npyautogui.click(0.25, 0.75)\n```", "kimi-vl") == (0.25, 0.75)
    assert parse_point("It is around (0.6, 0.2).", "kimi-vl") == (0.6, 0.2)
    assert parse_point("", "kimi-vl") is None
