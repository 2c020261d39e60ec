"""Target wording: a step description ("type 'Alice' into the Email field", "点击 保存 按钮") → the
on-screen text to look for, and whether it names an entry beside its label (see :mod:`agent.grounders.ocr`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

_QUOTES = re.compile(
    r"(?<!\w)'([^'\n]+)'(?!\w)|\"([^\"\n]+)\"|“([^”\n]+)”|‘([^’\n]+)’|「([^」\n]+)」|『([^』\n]+)』|«([^»\n]+)»"
)
# "type 'Alice' into the Email field" → "the Email field"; "在 邮箱 输入框 中输入 'x'" → "邮箱 输入框"
_TYPE_INTO = re.compile(
    r"^\s*(?:type|enter|write|input|put|fill\s+in|paste)\b.*?\s(?:into|in|to|inside)\s+(.+)$",
    re.IGNORECASE | re.DOTALL)
_ZH_TYPE_INTO = re.compile(r"^\s*在\s*(.+?)\s*(?:中|里|内)?\s*(?:输入|填写|键入)(?!框)")

_ROLE_WORDS = {
    # role noun → whether it names an entry (the click then goes into the box beside the label)
    "button": False, "btn": False, "key": False, "tab": False, "menu": False, "item": False, "checkbox": False,
    "radio": False, "link": False, "icon": False, "label": False, "option": False, "toggle": False,
    "switch": False, "heading": False, "text": False, "entry": True, "field": True, "box": True, "input": True,
    "textbox": True, "textfield": True, "textarea": True, "area": True, "dropdown": True, "drop-down": True,
    "combobox": True, "spinbox": True, "editbox": True,
}
_NOT_ENTRY = {"check", "checkbox", "tick", "radio"}  # "check box" is a checkbox, not an entry
_ROLE_MODIFIERS = {"text", "input", "check", "tick", "radio", "combo", "drop", "drop-down", "menu", "edit",
                   "entry", "search", "spin"}
_ARTICLES = {"the", "a", "an", "on", "onto", "in", "into", "at", "to", "please"}
_VERBS = {
    "click", "double-click", "doubleclick", "right-click", "rightclick", "left-click", "press", "tap", "hit",
    "select", "choose", "pick", "open", "activate", "focus", "check", "uncheck", "toggle", "hover", "find",
    "locate", "double", "right", "left", "once", "twice", "go",
}
_PREPOSITIONS = {"in", "on", "at", "of", "from", "near", "under", "above", "below", "next", "to", "inside",
                 "within", "beside", "by", "for", "that", "which", "labeled", "labelled", "named", "called",
                 "titled", "with"}
_NAMED = re.compile(r"\b(?:labeled|labelled|named|called|titled|saying|that\s+says|with\s+the\s+(?:text|label))"
                    r"\s+(.+)$", re.IGNORECASE)
_PUNCT = ",.;:!?。，；：！？"

# Chinese role suffixes, longest first, and whether they name an entry.
_ZH_ROLES = [
    ("单选按钮", False), ("复选框", False), ("勾选框", False), ("下拉菜单", True), ("输入框", True), ("文本框", True),
    ("编辑框", True), ("下拉框", True), ("组合框", True), ("搜索框", True), ("选项卡", False), ("标签页", False),
    ("菜单项", False), ("按钮", False), ("按键", False), ("菜单", False), ("链接", False), ("图标", False),
    ("标签", False), ("选项", False), ("字段", True), ("框", True), ("栏", True),
]
_ZH_LEADING = ["右键点击", "右键单击", "双击", "单击", "点击", "点按", "按下", "选择", "选中", "勾选", "打开", "请", "在", "把", "将"]


# an operator named in words ("the divide button", "点击 除 按钮") is also looked for as its symbol
_SYMBOL_NAMES = {
    "divide": "÷", "division": "÷", "divided": "÷", "divide by": "÷", "multiply": "×", "multiplication": "×",
    "times": "×", "plus": "+", "minus": "−", "subtract": "−", "equals": "=", "equal": "=", "equal sign": "=",
    "equals sign": "=", "percent": "%", "percentage": "%", "degree": "°", "degrees": "°",
    "除": "÷", "除以": "÷", "乘": "×", "乘以": "×", "加": "+", "减": "−", "等于": "=", "等号": "=", "百分号": "%",
}


@dataclass(frozen=True)
class Target:
    """What to look for on screen.

    ``text`` is the target with verbs, articles and the role noun stripped; ``variants`` are gentler
    readings also tried (verbs kept: "Open File"; role word kept: "Add Item"), the best-scoring one
    wins. ``field`` is True when the description names an entry beside its label.
    """

    text: str
    field: bool = False
    quoted: bool = False
    variants: tuple[str, ...] = ()

    @property
    def texts(self) -> tuple[str, ...]:
        """``text`` then the variants, without duplicates."""
        return tuple(dict.fromkeys((self.text, *self.variants)))


def _words(text: str) -> list[str]:
    return [w.strip(_PUNCT) for w in text.split() if w.strip(_PUNCT)]


def _names_entry(words: Sequence[str]) -> bool | None:
    """Whether role words name an entry (None: no role word at all)."""
    low = [w.lower() for w in words]
    roles = [w for w in low if w in _ROLE_WORDS]
    if not roles:
        return None
    if any(w in _NOT_ENTRY for w in low):
        return False
    return any(_ROLE_WORDS[w] for w in roles)


def _zh_role(text: str) -> tuple[str, bool | None]:
    """``text`` without a trailing Chinese role noun (and a trailing 的), and whether that noun names an entry."""
    s = text.rstrip(_PUNCT + " ")
    for suffix, entry in _ZH_ROLES:
        if s.endswith(suffix) and len(s) > len(suffix):
            s = s[: -len(suffix)].rstrip()
            return (s[:-1] if s.endswith("的") and len(s) > 1 else s).strip(), entry
    return s, None


def _zh_leading(text: str) -> str:
    s = text.strip()
    changed = True
    while changed:
        changed = False
        for w in _ZH_LEADING:
            if s.startswith(w) and len(s) > len(w):
                s, changed = s[len(w):].lstrip(), True
    return s


def _en_role(words: Sequence[str]) -> tuple[list[str], bool | None]:
    """Words up to the role noun — one at the end, or followed by a preposition ("Save button in the toolbar")."""
    low = [w.lower() for w in words]
    for i in range(1, len(words)):
        if low[i] in _ROLE_WORDS and (i == len(words) - 1 or low[i + 1] in _PREPOSITIONS):
            j = i
            while j - 1 > 0 and low[j - 1] in _ROLE_MODIFIERS:
                j -= 1
            return list(words[:j]), _names_entry(words[j:i + 1])
    return list(words), None


def parse_target(description: str) -> Target:
    """The on-screen text a step description points at, and whether it names an entry (see the module
    docstring); an operator named in words ("divide") also gets its symbol ("÷") as a reading."""
    target = _parse(description)
    symbol = _SYMBOL_NAMES.get(" ".join(target.text.casefold().split()))
    if symbol is None:
        return target
    return Target(target.text, target.field, target.quoted, (*target.variants, symbol))


def _parse(description: str) -> Target:
    desc = " ".join(description.split())
    m = _TYPE_INTO.match(desc) or _ZH_TYPE_INTO.match(desc)
    if m:
        desc = m.group(1).strip()
    q = _QUOTES.search(desc)
    if q:
        quoted = next(g for g in q.groups() if g is not None).strip()
        before, after = desc[: q.start()].strip(), desc[q.end():].strip()
        after_words = _words(after)
        cut = next((k for k, w in enumerate(after_words) if w.lower() in _PREPOSITIONS), len(after_words))
        zh_after = next((e for suffix, e in _ZH_ROLES if after.startswith(suffix)), None)
        zh_before = next((e for suffix, e in _ZH_ROLES if before.endswith(suffix)), None)
        entry = _names_entry(after_words[:cut]) or _names_entry(_words(before)[-2:]) or zh_after or zh_before
        return Target(quoted, bool(entry), True)
    m = _NAMED.search(desc)
    if m:
        name = m.group(1).strip(" .\"'")
        return Target(name, bool(_names_entry(_words(desc[: m.start()])[-2:])), False)
    zh, zh_entry = _zh_role(_zh_leading(desc))
    words = _words(zh)
    start = 0
    while start < len(words) - 1 and words[start].lower() in _ARTICLES | _VERBS:
        start += 1
    core, en_entry = _en_role(words[start:])
    text = " ".join(core)
    if zh_entry is None and en_entry is None:  # "the 姓名 field" was handled above; "姓名 输入框 (Name)" …
        text, zh_entry = _zh_role(text)
    text = text.strip(_PUNCT + " ") or desc
    # gentler readings: verbs kept ("Open File"), the role noun kept ("Add Item")
    soft_start = 0
    while soft_start < len(words) - 1 and words[soft_start].lower() in _ARTICLES:
        soft_start += 1
    variants = (" ".join(_en_role(words[soft_start:])[0]), " ".join(words[start:]))
    return Target(text, bool(en_entry or zh_entry), False, tuple(v for v in variants if v and v != text))


__all__ = ["Target", "parse_target"]
