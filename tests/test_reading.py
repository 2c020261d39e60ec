"""One way to read a reply: the thinking split with the profile's markers, the action line, the first point."""

from __future__ import annotations

from agent.models import Reply
from agent.profiles import get_profile
from agent.prompts import HistoryStep, action_line as history_line
from tools.actions import Drag, TypeText
from tools.parse import action_line, parse, parse_point, pointer_point, split_thinking

CODE = "## Action:\nClick the Save button.\n## Code:\n```python\npyautogui.click(x=0.5, y=0.25)\n```"


def test_the_thinking_split_uses_the_profiles_markers_everywhere():
    profile = get_profile("kimi-vl-thinking").with_(thinking=("<reasoning>", "</reasoning>"))
    reply = f"<reasoning>The button is at the top.</reasoning>{CODE}"
    read, usable = profile.read(reply)
    assert usable and read.thought == "The button is at the top." and read.action_text == "Click the Save button."
    assert profile.split(reply) == ("The button is at the top.", CODE)
    built = Reply.build(reply, profile.thinking)
    assert (built.thinking, built.answer) == ("The button is at the top.", CODE)
    # Kimi's markers mean nothing to this profile: the reply is all answer.
    assert profile.split("◁think▷x◁/think▷y") == (None, "◁think▷x◁/think▷y")
    # Cut inside the profile's thinking: no action, and the message names the profile's markers.
    cut, usable = profile.read("<reasoning>still thinking")
    assert not usable and cut.thought == "still thinking" and "<reasoning> was never closed" in cut.errors[0]


def test_an_unusable_reply_still_gives_its_thought_and_action_line():
    read, usable = get_profile("kimi-vl-thinking").read("◁think▷Hmm.◁/think▷## Action:\nClick it.\n## Code:\nnothing")
    assert not usable and read.thought == "Hmm." and read.action_text == "Click it." and not read.actions
    assert read.errors and "Nothing was executed" in read.errors[0]


def test_every_format_carries_its_action_line_and_history_uses_it_as_is():
    assert parse(CODE, "kimi-vl").action_text == "Click the Save button."
    assert parse(CODE, "pyautogui").action_text == "Click the Save button."
    tars = parse("Thought: the field.\nAction: type(content='hi')", "ui-tars")
    assert tars.action_text == "type(content='hi')" and tars.actions == [TypeText(text="hi")]
    assert action_line("no header here") is None
    assert action_line("## Action:\nOpen it.\n```python\npyautogui.click(x=1, y=1)\n```") == "Open it."
    step = HistoryStep(index=1, answer="Thought: x\nAction: click(start_box='(1,2)')", action_text=tars.action_text)
    assert history_line(step) == "type(content='hi')"
    assert history_line(HistoryStep(index=2, answer="first line\nsecond")) == "first line"


def test_the_first_pointer_point_is_one_rule_for_grounding():
    assert pointer_point(Drag(x1=1, y1=2, x2=3, y2=4)) == (1.0, 2.0)
    assert pointer_point(TypeText(text="x")) is None
    assert parse_point(CODE, "kimi-vl") == (0.5, 0.25) == parse_point(CODE, "pyautogui")
    assert parse_point("◁think▷x=0.9, y=0.9◁/think▷pyautogui.dragTo(x=0.1, y=0.2)", "kimi-vl") == (0.1, 0.2)
    assert split_thinking("◁think▷only thinking").unclosed
