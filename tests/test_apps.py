"""The bundled Tk apps in a real sandbox: they start, publish their state with ready=true and widget
boxes inside the screen, and react to clicks at the centres of those boxes."""

from __future__ import annotations

import json
import re

import pytest

from sandbox import Sandbox
from tasks.setup import read_state, wait_ready
from tasks.solution import center, releases_handled, wait_releases, wait_widget
from tasks.task import LaunchStep
from tools.actions import Click, Drag, Scroll, TypeText


ROLES = {"entry", "button", "checkbox", "radio", "combobox", "menu", "menuitem", "tab", "slider", "list", "listitem",
         "label", "text", "scrollbar"}
TEXT_ROLES = {"button", "checkbox", "radio", "menu", "menuitem", "tab", "listitem", "label", "combobox"}


class Driver:
    """One bundled app in a sandbox, driven through its published widget boxes."""

    def __init__(self, sb: Sandbox, app: str, *args: str) -> None:
        self.sb = sb
        step = LaunchStep(kind="launch", app=app, args=list(args))
        self.path = step.state_path
        sb.launch(step.command())
        self.doc = wait_ready(sb, self.path, 15)

    def state(self) -> dict:
        self.doc = read_state(self.sb, self.path)
        return self.doc["state"]

    def ids(self) -> set[str]:
        self.doc = read_state(self.sb, self.path)
        return {w["id"] for w in self.doc["widgets"]}

    def widget(self, wid: str, **kw) -> dict:
        return wait_widget(self.sb, self.path, wid, **kw)

    def act(self, action) -> None:
        expected = releases_handled(self.sb, self.path) + {"click": getattr(action, "clicks", 1), "drag": 1}.get(
            action.type, abs(getattr(action, "dy", 0)))
        assert self.sb.act(action).ok
        wait_releases(self.sb, self.path, expected, 10)

    def click(self, wid: str, clicks: int = 1) -> None:
        x, y = center(self.widget(wid))
        self.act(Click(x=x, y=y, clicks=clicks))


def check_widgets(doc: dict, width: int, height: int) -> None:
    assert doc["ready"] is True
    widgets = doc["widgets"]
    ids = [w["id"] for w in widgets]
    assert len(ids) == len(set(ids)), "widget ids must be unique"
    for w in widgets:
        assert w["role"] in ROLES, w
        x1, y1, x2, y2 = w["bbox"]
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height, w
        if w["role"] in TEXT_ROLES:
            assert w["label"].strip(), f"{w['id']} shows no text"


@pytest.fixture
def sb():
    with Sandbox(1280, 800) as box:
        yield box


def test_form(sb):
    d = Driver(sb, "form")
    check_widgets(d.doc, 1280, 800)
    assert {"name_entry", "email_entry", "country_menu", "plan_basic", "newsletter_check", "submit_button"} <= d.ids()
    labels = {w["id"]: w["label"] for w in d.doc["widgets"]}
    assert labels["submit_button"] == "Submit" and labels["name_label"] == "Name:" and labels["country_menu"] == "France"
    d.click("newsletter_check")
    d.click("plan_pro")
    assert d.state()["fields"] == {"name": "", "email": "", "country": "fr", "plan": "pro", "newsletter": True}
    d.click("country_menu")
    d.widget("country_de")
    ids = d.ids()
    assert {f"country_{c}" for c in ("fr", "de", "jp", "cn", "br", "ca")} <= ids
    assert "plan_basic" not in ids, "a widget under the open menu is not listed"
    d.click("country_de")
    assert d.state()["fields"]["country"] == "de"
    assert "country_de" not in d.ids()
    d.click("name_label")  # a label puts the cursor in its field
    d.widget("name_entry", focused=True)
    sb.act(TypeText(text="Ann"))
    d.click("submit_button")
    assert d.state()["status"] == "Error: invalid email address" and d.state()["submissions"] == []
    assert d.doc["input"]["releases"] == 6


def test_form_in_chinese(sb):
    d = Driver(sb, "form", "--lang", "zh")
    check_widgets(d.doc, 1280, 800)
    labels = {w["id"]: w["label"] for w in d.doc["widgets"]}
    assert labels["submit_button"] == "提交" and labels["country_menu"] == "法国"
    assert d.doc["lang"] == "zh"
    d.click("country_menu")
    d.click("country_cn")
    assert d.state()["fields"]["country"] == "cn"


def test_editor_menu_and_dialog(sb):
    d = Driver(sb, "editor")
    check_widgets(d.doc, 1280, 800)
    assert "file_save_as" not in d.ids(), "menu entries are listed only while the menu is open"
    d.click("file_menu")
    assert d.widget("file_save_as")["label"] == "Save As…"
    d.click("file_save_as")
    d.widget("dialog_name_entry", focused=True)
    assert read_state(sb, d.path)["state"]["dialog_open"] is True
    check_widgets(d.doc, 1280, 800)
    sb.act(TypeText(text="a.txt"))
    d.click("dialog_save_button")
    assert sb.read_file("/tmp/home/a.txt") == b""
    state = d.state()
    assert state["path"] == "/tmp/home/a.txt" and state["dialog_open"] is False and len(state["saves"]) == 1
    assert "dialog_save_button" not in d.ids()


def test_todo_select_toggle_scroll(sb):
    items = [f"Task number {i}" for i in range(12)]
    d = Driver(sb, "todo", *[a for t in items for a in ("--item", t)])
    check_widgets(d.doc, 1280, 800)
    ids = d.ids()
    assert "item_0" in ids and "item_11" not in ids, "only the rows on screen are listed"
    assert d.widget("item_3")["label"] == "Task number 3"
    d.click("item_3")
    assert d.state()["selected"] == 3
    d.click("done_button")
    assert d.state()["items"][3] == {"text": "Task number 3", "done": True}
    x, y = center(d.widget("list"))
    d.act(Scroll(x=x, y=y, dy=-5))
    ids = d.ids()
    assert "item_11" in ids and "item_0" not in ids
    d.click("item_11", clicks=2)
    assert d.state()["items"][11]["done"] is True


def test_calc(sb):
    d = Driver(sb, "calc")
    check_widgets(d.doc, 1280, 800)
    assert {f"button_{n}" for n in range(10)} <= d.ids()
    for wid in ("button_7", "button_plus", "button_2", "button_equals"):
        d.click(wid)
    assert d.state() == {"display": "9", "history": ["7+2=9"]}
    d.click("button_clear")
    assert d.state()["display"] == "0"


def test_settings_tabs_and_slider(sb):
    d = Driver(sb, "settings")
    check_widgets(d.doc, 1280, 800)
    assert "username_entry" in d.ids() and "brightness_slider" not in d.ids()
    d.click("tab_display")
    assert d.state()["tab"] == "display"
    ids = d.ids()
    assert "brightness_slider" in ids and "username_entry" not in ids
    assert d.widget("brightness_tick_20")["label"] == "20"
    a, b = center(d.widget("brightness_slider")), center(d.widget("brightness_tick_20"))
    d.act(Drag(x1=a[0], y1=a[1], x2=b[0], y2=b[1]))
    state = d.state()
    assert state["pending"]["brightness"] == 20 and state["applied"]["brightness"] == 50
    assert d.widget("brightness_value")["label"] == "20"
    d.click("apply_button")
    assert d.state()["applied"]["brightness"] == 20 and d.state()["apply_count"] == 1
    d.click("brightness_tick_80")  # clicking a number under the slider moves it there
    assert d.state()["pending"]["brightness"] == 80


def test_settings_chinese_labels(sb):
    d = Driver(sb, "settings", "--lang", "zh")
    check_widgets(d.doc, 1280, 800)
    labels = [w["label"] for w in d.doc["widgets"]]
    assert "应用" in labels and "常规" in labels
    assert any(re.search(r"[\u4e00-\u9fff]", label) for label in labels)


def test_apps_on_a_full_hd_screen():
    with Sandbox(1920, 1080) as box:
        d = Driver(box, "todo", "--position", "1200,500", "--item", "far away")
        check_widgets(d.doc, 1920, 1080)
        assert d.widget("item_0")["bbox"][0] > 1200
        d.click("item_0", clicks=2)
        assert d.state()["items"][0]["done"] is True


def test_state_file_is_always_complete(sb):
    d = Driver(sb, "calc")
    x, y = center(d.widget("button_1"))
    for _ in range(5):
        sb.act(Click(x=x, y=y))
        for _ in range(5):  # a reader never sees half a file
            assert json.loads(sb.read_file(d.path))["app"] == "calc"
    wait_releases(sb, d.path, 5, 10)
    assert d.state()["display"] == "11111"


def test_setup_error_names_step_and_cause(sb):
    from tasks.setup import SetupError, run_setup
    from tasks.task import task_from_data

    task = task_from_data({"id": "broken", "instruction": "x", "checker": {"kind": "infeasible"},
                           "setup": [{"kind": "write_file", "path": "/tmp/home/a.txt", "content": "a"},
                                     {"kind": "launch", "app": "settings", "args": ["--set", "colour=red"], "timeout": 5}]})
    with pytest.raises(SetupError) as info:
        run_setup(task, sb)
    message = str(info.value)
    assert message.startswith("task 'broken': setup[1] (launch): ")
    assert "unknown setting 'colour'" in message  # the app's own words, from its log

    waits = task_from_data({"id": "no-window", "instruction": "x", "checker": {"kind": "infeasible"},
                            "setup": [{"kind": "wait_window", "title": "Nothing like this", "timeout": 0.3}]})
    with pytest.raises(SetupError, match=r"setup\[0\] \(wait_window\): no window titled 'Nothing like this'"):
        run_setup(waits, sb)
