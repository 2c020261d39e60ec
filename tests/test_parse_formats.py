"""ui-tars, computer_13 and thousand in detail, and the format registry."""

from __future__ import annotations

import json

import pytest

from tools.actions import Click, Done, Drag, Fail, Key, KeyDown, KeyUp, Move, Scroll, TypeText, Wait
from tools.parse import FORMATS, Limits, ParseError, canonical_format, parse, parse_point


def ui(action: str, **kw: object) -> list:
    return parse(f"Thought: t\nAction: {action}", "ui-tars", **kw).actions  # type: ignore[arg-type]


def c13(doc: object) -> list:
    return parse(json.dumps(doc), "computer_13").actions


def tool(args: dict) -> str:
    return "<tool_call>\n" + json.dumps({"name": "computer_use", "arguments": args}) + "\n</tool_call>"


def refused(text: str, fmt: str) -> str:
    with pytest.raises(ParseError) as info:
        parse(text, fmt)
    return str(info.value)


def test_format_registry() -> None:
    assert FORMATS == ("pyautogui", "kimi-vl", "computer_13", "ui-tars", "thousand", "qwen-tool")
    assert canonical_format("kimi_vl") == "kimi-vl" and canonical_format("UI_TARS") == "ui-tars"
    assert canonical_format("computer13") == "computer_13" and canonical_format("qwen") == "thousand"
    assert canonical_format("cobol") is None


# -- ui-tars ------------------------------------------------------------------------------------------

def test_ui_tars_type_content_escapes_and_submit() -> None:
    assert ui(r"type(content='a\nb')") == [TypeText(text="a\nb")]
    assert ui(r"type(content='a\nb\n')") == [TypeText(text="a\nb"), Key(keys=["enter"])]
    assert ui(r"type(content='\n')") == [Key(keys=["enter"])]
    assert ui(r"type(content='C:\\Users\\me')") == [TypeText(text="C:\\Users\\me")]
    assert ui('type(content="say \\"hi\\"")') == [TypeText(text='say "hi"')]
    assert "type() needs content" in refused("Action: type(content='')", "ui-tars")


def test_ui_tars_keys_and_points() -> None:
    assert ui("hotkey(key='Ctrl+Shift+T')") == [Key(keys=["Ctrl", "Shift", "T"])]
    assert ui("hotkey(key='space')") == [Key(keys=["space"])]
    assert ui("press(key='enter')") == [Key(keys=["enter"])]
    assert ui("keydown(key='shift')\n\nkeyup(key='shift')") == [KeyDown(key="shift"), KeyUp(key="shift")]
    assert ui("click(start_box='<bbox>10 20 30 40</bbox>')") == [Click(x=20, y=30)]
    assert ui("click(start_box=(7,8))") == [Click(x=7, y=8)]
    assert ui("hover(start_box='(7,8)')") == [Move(x=7, y=8)]
    assert ui("select(start_box='(1,2)', end_box='(3,4)')") == [Drag(x1=1, y1=2, x2=3, y2=4)]
    assert ui("wait()", limits=Limits(ui_tars_wait=2)) == [Wait(seconds=2)]
    assert ui("scroll(direction='up')", limits=Limits(ui_tars_scroll=3)) == [Scroll(dy=3)]
    assert "direction" in refused("Action: scroll(direction='sideways')", "ui-tars")
    assert "name='value'" in refused("Action: click(start_box='(1,2)' junk junk)", "ui-tars")


def test_ui_tars_point_and_plain_call() -> None:
    assert parse("click(start_box='(5,6)')", "ui-tars").actions == [Click(x=5, y=6)]
    assert parse_point("Thought: t\nAction: drag(start_box='(1,2)', end_box='(3,4)')", "ui-tars") == (1.0, 2.0)
    assert parse_point("The element is at <point>640 360</point>", "ui-tars") == (640.0, 360.0)


# -- computer_13 ------------------------------------------------------------------------------------

def test_computer13_shapes() -> None:
    assert c13(["WAIT"]) == [Wait(seconds=2.0)]
    assert c13({"action_type": "click", "x": 1, "y": 2}) == [Click(x=1, y=2)]
    assert c13({"action_type": "HOTKEY", "keys": "ctrl+c"}) == [Key(keys=["ctrl", "c"])]
    assert c13({"action_type": "WAIT", "seconds": 4}) == [Wait(seconds=4)]
    assert c13({"action_type": "DONE", "answer": 42}) == [Done(answer="42")]
    assert c13({"action_type": "FAIL", "reason": "infeasible"}) == [Fail(reason="infeasible")]
    assert c13({"action_type": "CLICK", "x": 1, "y": 2, "duration": 0.5}) == [Click(x=1, y=2)]
    text = 'I will scroll.\n{"action_type": "SCROLL", "dx": 0, "dy": 5}\nThat should reveal it.'
    parsed = parse(text, "computer_13")
    assert parsed.actions == [Scroll(dy=5)] and "I will scroll." in parsed.thought


def test_computer13_refusals() -> None:
    assert "must be a number, not True" in refused('{"action_type": "MOVE_TO", "x": true, "y": 1}', "computer_13")
    assert "parameters must be" in refused('{"action_type": "CLICK", "parameters": [1, 2]}', "computer_13")
    assert "non-empty text" in refused('{"action_type": "TYPING", "text": ""}', "computer_13")
    assert "num_clicks" in refused('{"action_type": "CLICK", "x": 1, "y": 2, "num_clicks": 0}', "computer_13")
    assert "JSON object" in refused("[1, 2]", "computer_13")
    assert "no JSON action" in refused("I am not sure.", "computer_13")
    assert "too many actions" in refused(json.dumps([{"action_type": "WAIT"}] * 65), "computer_13")
    assert "nested too deeply" in refused("[" * 5000 + "]" * 5000, "computer_13")


# -- thousand ------------------------------------------------------------------------------------------

def test_qwen3_tool_calls() -> None:
    assert parse(tool({"action": "triple_click", "coordinate": [10, 20]}), "thousand").actions == [Click(x=10, y=20, clicks=3)]
    assert parse(tool({"action": "hscroll", "pixels": 3}), "thousand").actions == [Scroll(dx=3)]
    assert parse(tool({"action": "wait", "time": 2}), "thousand").actions == [Wait(seconds=2)]
    assert parse(tool({"action": "terminate", "status": "failure"}), "thousand").actions == [Fail()]
    assert parse(tool({"action": "key", "keys": "enter"}), "thousand").actions == [Key(keys=["enter"])]
    as_string = '<tool_call>\n{"name": "computer_use", "arguments": "{\\"action\\": \\"mouse_move\\", \\"coordinate\\": [1, 2]}"}\n</tool_call>'
    assert parse(as_string, "thousand").actions == [Move(x=1, y=2)]
    assert parse(tool({"action": "left_click", "coordinate": "[5, 6]"}), "thousand").actions == [Click(x=5, y=6)]
    assert "pointer position is unknown" in refused(tool({"action": "left_click_drag", "coordinate": [5, 6]}), "thousand")
    assert "pixels" in refused(tool({"action": "scroll"}), "thousand")
    assert "not one of" in refused(tool({"action": "screenshot"}), "thousand")
    assert "phone" in refused("actions:\nPRESS_HOME", "thousand")


def test_thousand_thinking_and_points() -> None:
    assert parse("<think>hmm", "thousand").thinking_unclosed
    assert parse_point("<think>(1, 2)</think>" + tool({"action": "left_click", "coordinate": [300, 400]}), "thousand") == (300.0, 400.0)
    assert parse_point("CLICK <point>[[10,20]]</point>", "thousand") == (10.0, 20.0)
    assert parse_point("no point at all", "thousand") is None
