"""The words instructions use to name a kind of UI element, mapped to one canonical role each.

One vocabulary for the whole grounder: :mod:`.targets` uses it to split an instruction into a label
and a role, the locators use the role sets below to decide how to find the element.
"""

from __future__ import annotations

# English role phrases (lower case, words split by single spaces) → canonical role. Longest phrases are
# tried first, so "check box" wins over "box" and "radio button" over "button".
EN_ROLES: dict[str, str] = {
    "button": "button", "btn": "button", "push button": "button", "key": "key", "tab": "tab",
    "menu": "menu", "menu item": "menuitem", "menu entry": "menuitem", "menu option": "menuitem", "item": "item",
    "list item": "listitem", "to-do item": "listitem", "todo item": "listitem", "row": "listitem",
    "checkbox": "checkbox", "check box": "checkbox", "tick box": "checkbox", "checkbutton": "checkbox",
    "radio": "radio", "radio button": "radio", "radiobutton": "radio", "option button": "radio",
    "link": "link", "icon": "icon", "label": "label", "option": "option", "toggle": "checkbox", "switch": "checkbox",
    "heading": "heading", "title": "heading", "text": "text", "status text": "status", "status message": "status",
    "status bar": "status", "entry": "entry", "field": "entry", "box": "entry", "input": "entry",
    "input field": "entry", "input box": "entry", "text box": "entry", "textbox": "entry", "text field": "entry",
    "textfield": "entry", "edit box": "entry", "editbox": "entry", "search box": "entry", "search field": "entry",
    "spinbox": "entry", "spin box": "entry", "dropdown": "combobox", "drop-down": "combobox", "drop down": "combobox",
    "combobox": "combobox", "combo box": "combobox", "selector": "combobox", "picker": "combobox",
    "select box": "combobox", "slider": "slider", "scale": "slider", "trackbar": "slider", "track bar": "slider",
    "scroll bar": "scrollbar", "scrollbar": "scrollbar", "list": "list", "list box": "list", "listbox": "list",
    "text area": "textarea", "textarea": "textarea", "editing area": "textarea", "edit area": "textarea",
    "text editing area": "textarea", "document area": "textarea", "document text area": "textarea",
    "text editor area": "textarea", "display": "display", "readout": "display", "read-out": "display",
}

# parts of an element an instruction may name ("the knob of the Volume slider", "the Volume slider handle")
EN_PARTS: dict[str, str] = {"handle": "handle", "knob": "handle", "thumb": "handle", "grip": "handle"}

# Chinese role suffixes, longest first (matched at the end of the text).
ZH_ROLES: list[tuple[str, str]] = [
    ("单选按钮", "radio"), ("复选框", "checkbox"), ("勾选框", "checkbox"), ("下拉菜单", "combobox"),
    ("文本编辑区", "textarea"), ("编辑区", "textarea"), ("输入框", "entry"), ("文本框", "entry"), ("编辑框", "entry"),
    ("下拉框", "combobox"), ("组合框", "combobox"), ("搜索框", "entry"), ("选项卡", "tab"), ("标签页", "tab"),
    ("菜单项", "menuitem"), ("滚动条", "scrollbar"), ("显示屏", "display"), ("滑块", "slider"), ("按钮", "button"),
    ("按键", "key"), ("菜单", "menu"), ("链接", "link"), ("图标", "icon"), ("标签", "label"), ("选项", "option"),
    ("列表", "list"), ("字段", "entry"), ("键", "key"), ("框", "entry"), ("栏", "entry"),
]

ENTRY_ROLES = frozenset({"entry", "combobox"})
"""Roles whose click goes into the box beside the label, not onto the label."""

INDICATOR_ROLES = frozenset({"checkbox", "radio"})
"""Roles drawn as a small mark left of their label."""

AREA_ROLES = frozenset({"scrollbar", "list", "textarea", "display"})
"""Roles found by their shape alone: they show no label of their own."""

# words that say the element is in a terminal ("the file X in the ls output", "the word Y in the terminal")
TERMINAL_WORDS = frozenset({"terminal", "shell", "console", "xterm", "output", "listing", "prompt", "终端"})


def en_role(phrase: str) -> str | None:
    """The canonical role an English phrase names ("check box" → checkbox), or None."""
    return EN_ROLES.get(" ".join(phrase.casefold().split()))


__all__ = ["AREA_ROLES", "EN_PARTS", "EN_ROLES", "ENTRY_ROLES", "INDICATOR_ROLES", "TERMINAL_WORDS", "ZH_ROLES",
           "en_role"]
