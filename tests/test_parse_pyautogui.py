"""The pyautogui parser in detail: signatures, aliases, relative motion, limits, all-or-nothing."""

from __future__ import annotations

import pytest

from tools.actions import Click, Done, Drag, Key, KeyDown, MouseDown, Move, Scroll, TypeText, Wait
from tools.parse import Limits, ParseError, parse


def actions(code: str, **kw: object) -> list:
    return parse(code, "pyautogui", **kw).actions  # type: ignore[arg-type]


def refused(code: str, **kw: object) -> str:
    with pytest.raises(ParseError) as info:
        parse(code, "pyautogui", **kw)  # type: ignore[arg-type]
    assert info.value.parsed is not None and info.value.parsed.actions == []
    return str(info.value)


def test_positional_and_keyword_arguments_follow_pyautogui_signatures() -> None:
    assert actions("pyautogui.click(100, 200, 2, 0.1, 'right')") == [Click(x=100, y=200, clicks=2, button="right")]
    assert actions("pyautogui.click(x=100, y=200, clicks=3, interval=0.2)") == [Click(x=100, y=200, clicks=3)]
    assert actions("pyautogui.click((100, 200))") == [Click(x=100, y=200)]
    assert actions("pyautogui.doubleClick(5, 6, button='right')") == [Click(x=5, y=6, clicks=2, button="right")]
    assert actions("pyautogui.middleClick(5, 6)") == [Click(x=5, y=6, button="middle")]
    assert actions("pyautogui.leftClick(5, 6)") == [Click(x=5, y=6)]
    assert actions("pyautogui.moveTo(1, 2, duration=0.2, tween=pyautogui.easeInQuad)") == [Move(x=1, y=2)]


def test_function_spellings_and_bare_names() -> None:
    assert actions("double_click(1, 2)") == [Click(x=1, y=2, clicks=2)]
    assert actions("pyautogui.rightclick(1, 2)") == [Click(x=1, y=2, button="right")]
    assert actions("type('hello')") == [TypeText(text="hello")]
    assert actions("pyautogui.write(text='hi')\npyautogui.press(key='tab')") == [TypeText(text="hi"), Key(keys=["tab"])]
    assert actions("pyautogui.hotkey(['ctrl', 'c'])") == [Key(keys=["ctrl", "c"])]
    assert actions("pyautogui.vscroll(4)") == [Scroll(dy=4)]


def test_relative_motion_uses_the_pointer_of_this_reply_or_the_cursor() -> None:
    assert actions("pyautogui.click()", cursor=(5.0, 6.0)) == [Click(x=5, y=6)]
    assert actions("pyautogui.moveRel(10, -2)", cursor=(5.0, 6.0)) == [Move(x=15, y=4)]
    assert actions("pyautogui.moveTo(1, 1)\npyautogui.dragRel(4, 0)") == [Move(x=1, y=1), Drag(x1=1, y1=1, x2=5, y2=1)]
    assert actions("pyautogui.moveTo(1, 1)\npyautogui.dragTo(9, 9, button='right')")[1] == Drag(x1=1, y1=1, x2=9, y2=9, button="right")
    assert "pointer position is unknown" in refused("pyautogui.dragRel(4, 0)")


def test_mouse_down_with_position_moves_first() -> None:
    assert actions("pyautogui.mouseDown(3, 4, button='right')") == [Move(x=3, y=4), MouseDown(button="right")]


def test_special_words_mix_with_calls() -> None:
    assert actions("pyautogui.click(1, 2)\nDONE") == [Click(x=1, y=2), Done()]
    assert actions("```\nWAIT\n```", limits=Limits(bare_wait=3.5)) == [Wait(seconds=3.5)]


def test_computer_control_functions() -> None:
    assert actions("computer.wait(time=3)") == [Wait(seconds=3)]
    assert actions("computer.wait()") == [Wait(seconds=20)]
    assert actions("computer.wait()", limits=Limits(computer_wait=5)) == [Wait(seconds=5)]
    assert actions("computer.terminate(status='failure', answer='no such file')")[0].reason == "no such file"
    assert "status='success'" in refused("computer.terminate(status='maybe')")
    assert "not available" in refused("computer.shell('ls')")


def test_numbers_written_as_strings_and_simple_arithmetic() -> None:
    assert actions("pyautogui.click(x='1e3', y=' 20 ')") == [Click(x=1000, y=20)]
    assert actions("pyautogui.click(x=1920 / 2, y=-(-10) * 3)") == [Click(x=960, y=30)]
    assert actions("pyautogui.scroll(3.0)") == [Scroll(dy=3)]
    assert "x must be a number" in refused("pyautogui.click(x='left', y=1)")
    assert "whole number" in refused("pyautogui.scroll(2.5)")
    assert "must be a number, not True" in refused("pyautogui.click(x=True, y=1)")
    assert "division by zero" in refused("pyautogui.click(x=1/0, y=1)")
    assert "only numbers" in refused("pyautogui.click(x='a' * 3, y=1)")


def test_imports_are_limited_to_pyautogui_and_time() -> None:
    assert actions("import pyautogui\nimport time\npyautogui.press('a')") == [Key(keys=["a"])]
    assert "import pyautogui" in refused("import pyautogui as pg\npg.click(1, 2)")
    assert "from" in refused("from pyautogui import click\nclick(1, 2)")


def test_all_or_nothing() -> None:
    message = refused("pyautogui.click(1, 2)\npyautogui.click(x=os.getcwd(), y=1)\npyautogui.press('enter')")
    assert "line 2" in message and "Nothing was executed" in message


def test_arguments_are_checked() -> None:
    assert "no argument 'speed'" in refused("pyautogui.click(1, 2, speed=3)")
    assert "twice" in refused("pyautogui.click(1, 2, x=3)")
    assert "both x and y" in refused("pyautogui.click(x=1)")
    assert "button must be" in refused("pyautogui.click(1, 2, button='side')")
    assert "types nothing" in refused("pyautogui.write('')")
    assert "presses must be" in refused("pyautogui.press('a', presses=0)")
    assert "at least one key" in refused("pyautogui.hotkey()")
    assert "keys must be" in refused("pyautogui.hotkey('ctrl', 1)")
    assert "starred" in refused("pyautogui.hotkey(*keys)")
    assert "not a function I can run" in refused("pyautogui.launchMissiles()")


def test_limits_on_actions_and_reported_problems() -> None:
    assert "too many actions" in refused("pyautogui.press('a')\n" * 65)
    message = refused("\n".join(f"x{i} = {i}" for i in range(12)))
    assert message.count("assignments are not allowed") == 5
    assert "limit" in refused("pyautogui.press('a')\n" * 20, limits=Limits(max_chars=100))


def test_prose_around_code_becomes_the_thought() -> None:
    parsed = parse("I will press Enter to confirm.\n```python\npyautogui.press('enter')\n```\n", "pyautogui")
    assert parsed.thought == "I will press Enter to confirm." and parsed.actions == [Key(keys=["enter"])]


def test_keys_are_kept_as_written_for_the_policy() -> None:
    assert actions("pyautogui.keyDown('Control')") == [KeyDown(key="Control")]


def test_thinking_markers_are_honoured_in_every_format() -> None:
    parsed = parse("◁think▷still thinking", "pyautogui")
    assert parsed.thinking_unclosed and parsed.actions == [] and parsed.errors
