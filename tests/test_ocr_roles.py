"""Elements without text of their own, for the OCR grounder: role words in the instruction, then shapes.

The parsing tests are pure; the grounding tests run on frames of the real bundled apps in a sandbox.
"""

from __future__ import annotations

import pytest

from agent.grounders.ocr import parse_target


@pytest.mark.parametrize("description,text,role,context", [
    # a role phrase before the label, not only after it
    ("check box Remember me", "Remember me", "checkbox", ""),
    ("the checkbox labelled Remember me", "Remember me", "checkbox", ""),
    ("radio button Basic", "Basic", "radio", ""),
    ("text box for the Email", "Email", "entry", ""),
    ("to-do item Email the landlord", "Email the landlord", "listitem", ""),
    ("status text Ready", "Ready", "status", ""),
    ("Register title", "Register", "heading", ""),
    ("Country selector", "Country", "combobox", ""),
    # a trailing "in the <container>" clause is context, not label; labels with prepositions stay whole
    ("choose Save As… from the menu", "Save As…", None, "menu"),
    ("check box Check for updates", "Check for updates", "checkbox", ""),
    ("the Subscribe to newsletter checkbox", "Subscribe to newsletter", "checkbox", ""),
    ("the file notes.txt in the ls output", "notes.txt", "file", "ls output"),
    ("build.sh in the terminal listing", "build.sh", None, "terminal listing"),
    ("the modified file main.py in the git status output", "main.py", "file", "git status output"),
    ('the command "git" in the terminal', "git", "command", "terminal"),
    # parts, owners and roles alone
    ("the Brightness slider handle", "Brightness", "slider", ""),
    ("drag the knob of the Volume slider", "Volume", "slider", "Volume slider"),
    ("the scroll bar of the task list", "task", "scrollbar", "task list"),
    ("the text editing area", "", "textarea", ""),
    ("“启用通知”复选框", "启用通知", "checkbox", ""),
    ("音量滑块", "音量", "slider", ""),
])
def test_parse_roles(description, text, role, context):
    t = parse_target(description)
    assert (t.text, t.role, t.context) == (text, role, context), t


def test_parse_bracketed_symbol_and_part():
    t = parse_target("the plus key (+)")
    assert t.text == "plus" and "+" in t.texts and t.role == "key"
    assert parse_target("the knob of the Volume slider").part == "handle"
    assert parse_target("the file notes.txt in the ls output").in_terminal
    assert not parse_target("the Save button in the toolbar").in_terminal
