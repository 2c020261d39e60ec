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


# ---------------------------------------------------------------------- on real apps in a sandbox
import asyncio  # noqa: E402

from sandbox import Sandbox  # noqa: E402
from tasks.grounding.generate import Scene, WindowSpec, open_scene  # noqa: E402

pytest.importorskip("rapidocr_onnxruntime")

SCENE = Scene(0, 1920, 1080, (
    WindowSpec("form", "en", (0, 0), ("--plan", "basic")),
    WindowSpec("settings", "en", (620, 0), prepare=("tab_sound",)),
    WindowSpec("calc", "en", (1300, 0)),
    WindowSpec("xterm", "en", (0, 560), seed=7),
    WindowSpec("todo", "en", (850, 520), ("--item", "Buy milk", "--item", "Pay rent", "--item", "Call Bob")),
))


class Screen:
    """One frame of the bundled apps (form, settings on its Sound tab, calculator, xterm, to-do) and the true
    box of every element, as the apps and the terminal published them."""

    def __init__(self) -> None:
        from agent.grounders.ocr import OCRGrounder

        with Sandbox(SCENE.width, SCENE.height) as sb:
            opened = open_scene(sb, SCENE)
            self.frame = sb.screenshot()
            self.elements = opened.elements()
        self.grounder = OCRGrounder()

    def element(self, role: str, label: str):
        return next(e for e in self.elements if e.role == role and e.label.strip().rstrip(":") == label)

    def words(self, kind: str) -> list:
        return [e for e in self.elements if e.app == "xterm" and e.extra.get("kind") == kind]

    def locate(self, description: str):
        return asyncio.run(self.grounder.locate(self.frame, description))


@pytest.fixture(scope="module")
def screen() -> Screen:
    return Screen()


def inside(point, box) -> bool:
    return point is not None and box[0] <= point.x <= box[2] and box[1] <= point.y <= box[3]


@pytest.mark.parametrize("description,role,label,rule", [
    ("check box Subscribe to newsletter", "checkbox", "Subscribe to newsletter", "checkbox-mark"),
    ("tick the Mute box", "checkbox", "Mute", "checkbox-mark"),
    ("the Pro radio button", "radio", "Pro", "radio-mark"),
    ("choose the Enterprise radio option", "radio", "Enterprise", "radio-mark"),
    ("drag the knob of the Volume slider", "slider", "Volume", "slider-handle"),
    ("the Volume slider handle", "slider", "Volume", "slider-handle"),
])
def test_controls_land_on_their_mark(screen, description, role, label, rule):
    g = screen.locate(description)
    box = screen.element(role, label).bbox
    assert inside(g.point, box), (description, g.point, box, g.details)
    assert g.details["rule"] == rule
    if rule != "slider-handle":  # the mark, not the label's text: at the widget's left end
        assert g.point.x - box[0] <= box[3] - box[1], (g.point, box)


def test_icon_key_lands_on_its_key(screen):
    g = screen.locate("the divide key (÷)")
    assert inside(g.point, screen.element("button", "÷").bbox), g.details


@pytest.mark.parametrize("description,app,role", [
    ("the scroll bar of the task list", "todo", "scrollbar"),   # an icon: no text at all
    ("the vertical scrollbar next to the list of tasks", "todo", "scrollbar"),
    ("the list of tasks", "todo", "list"),
    ("the calculator's display", "calc", "display"),
])
def test_areas_found_by_shape(screen, description, app, role):
    g = screen.locate(description)
    element = next(e for e in screen.elements if e.app == app and (e.role == role or e.widget_id == role))
    assert inside(g.point, element.bbox), (description, g.point, element.bbox, g.details)
    assert g.details["rule"] == f"{role}-shape"


def test_terminal_words_by_line_structure(screen):
    listing = screen.words("listing")
    modified = screen.words("modified")
    for description, element in [
        (f"the file {listing[0].label} in the ls output", listing[0]),
        (f"{listing[-1].label} in the terminal listing", listing[-1]),
        (f"click {listing[3].label} in the terminal", listing[3]),
        (f"the modified file {modified[1].label} in the git status output", modified[1]),
    ]:
        g = screen.locate(description)
        assert inside(g.point, element.bbox), (description, g.point, element.bbox, g.details)
        assert g.details["rule"] == "terminal-word"
    command = next(e for e in screen.words("command") if e.label == "git")
    g = screen.locate('the command "git" in the terminal')
    assert inside(g.point, command.bbox) and g.details["rule"] == "terminal-word", g.details


@pytest.mark.parametrize("description,reason", [
    ("the Submit checkbox", "no square checkbox mark beside it"),       # a button, not a checkbox
    ("the Pro checkbox", "no square checkbox mark beside it"),          # a radio button's mark is round
    ("the Mute radio button", "no round radio-button mark beside it"),  # a checkbox's mark is square
    ("the Plan slider", "no slider beside it"),                         # a label with no slider near it
    ("the file missing.txt in the ls output", "no word in the terminal matches"),
])
def test_wrong_role_or_absent_element_is_not_found(screen, description, reason):
    g = screen.locate(description)
    assert g.point is None and reason in g.details["reason"], g.details
