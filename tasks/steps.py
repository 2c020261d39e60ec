"""Scripted steps in words, and their parser.

A scripted task lists steps a grounding model can carry out one at a time. The grammar is small
on purpose — each step is one action on one element named by its visible text:

English (verbs are case-insensitive; quotes may be '…', "…", ‘…’ or “…”)::

    click [on] <target>                 double-click [on] <target>        right-click [on] <target>
    type '<text>' [into|in <target>]    press <keys> [<n> times]          wait <n> [seconds]
    scroll up|down [<n> times] [in|on <target>]                           drag <target> to <target>
    done [: <answer>]                   fail: <reason>  (the script ends; "give up: …" too)

Chinese::

    点击<target>    双击<target>    右键点击<target>    输入“<text>”[到<target>]    在<target>中输入“<text>”
    按<keys>[<n>次]    向上滚动/向下滚动[<n>次][在<target>]    在<target>中向下滚动    将<target>拖动到<target>    等待<n>秒
    完成[：<answer>]    无法完成：<reason>（或 放弃：…）

``<keys>`` is one key or a combination joined with ``+`` ("ctrl+s", "Enter", "ctrl+shift+s");
names are normalised to the action space's key names (``enter``, ``ctrl``, ``esc``, ``pagedown``…).
``<target>`` is free text ("the Save button", "the Name field", "“提交”按钮"); :attr:`Step.label`
is a best guess of the element's visible text, for text-based grounders.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

StepKind = Literal["click", "double_click", "right_click", "type", "press", "scroll", "drag", "wait", "done", "fail"]
MAX_WAIT_S = 30.0
MAX_REPEAT = 50
MAX_STEP_CHARS = 2000  # a step is one sentence; longer text is a mistake (or an attack on the regexes)


class StepParseError(ValueError):
    """A step that does not follow the grammar; the message says what was expected."""


class Step(BaseModel):
    """One parsed step: what to do, on which element, with which text or keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: StepKind
    raw: str
    target: str | None = None  # the element, as described
    label: str | None = None  # best guess of the element's visible text
    text: str | None = None  # text to type; the answer of done, the reason of fail
    keys: list[str] | None = None  # a key or a combination pressed together
    direction: Literal["up", "down"] | None = None  # scroll
    amount: int = 1  # key presses or wheel clicks
    seconds: float | None = None  # wait
    to: str | None = None  # drag destination, as described
    to_label: str | None = None


# -- keys -------------------------------------------------------------------------------------------
_KEY_ALIASES = {
    "control": "ctrl", "ctl": "ctrl", "ctrl": "ctrl", "strg": "ctrl",
    "alt": "alt", "option": "alt", "shift": "shift",
    "super": "win", "win": "win", "windows": "win", "meta": "win", "cmd": "win", "command": "win",
    "enter": "enter", "return": "enter", "回车": "enter", "回车键": "enter", "确认键": "enter",
    "esc": "esc", "escape": "esc", "tab": "tab", "space": "space", "spacebar": "space", "空格": "space", "空格键": "space",
    "backspace": "backspace", "退格": "backspace", "退格键": "backspace",
    "delete": "delete", "del": "delete", "删除": "delete", "删除键": "delete", "insert": "insert", "ins": "insert",
    "home": "home", "end": "end", "pageup": "pageup", "pgup": "pageup", "page up": "pageup",
    "pagedown": "pagedown", "pgdn": "pagedown", "page down": "pagedown",
    "up": "up", "down": "down", "left": "left", "right": "right",
    "arrow up": "up", "arrow down": "down", "arrow left": "left", "arrow right": "right",
    "up arrow": "up", "down arrow": "down", "left arrow": "left", "right arrow": "right",
    "上": "up", "下": "down", "左": "left", "右": "right", "向上": "up", "向下": "down", "向左": "left", "向右": "right",
    "上箭头": "up", "下箭头": "down", "左箭头": "left", "右箭头": "right",
    "plus": "+", "minus": "-",
}
_KEY_ALIASES.update({f"f{i}": f"f{i}" for i in range(1, 13)})


def normalize_keys(spec: str) -> list[str]:
    """``"Ctrl + Shift + S"`` → ``["ctrl", "shift", "s"]``; raises StepParseError for an unknown key."""
    spec = spec.strip()
    if spec in ("+", "-"):
        return [spec]
    parts = [p.strip() for p in re.split(r"\s*\+\s*(?=.)", spec)] if len(spec) > 1 else [spec]
    keys = []
    for part in parts:
        low = part.lower().removeprefix("the ").removesuffix(" key").removesuffix("键").strip()
        if low in _KEY_ALIASES:
            keys.append(_KEY_ALIASES[low])
        elif len(low) == 1 and low.isprintable():
            keys.append(low)
        elif low + "键" in _KEY_ALIASES:
            keys.append(_KEY_ALIASES[low + "键"])
        else:
            raise StepParseError(f"unknown key {part!r} in {spec!r}; use names like ctrl, shift, alt, enter, esc, tab, "
                                 f"backspace, delete, up, down, pageup, f5 or a single character, joined with '+'")
    if not keys:
        raise StepParseError(f"no key given in {spec!r}")
    return keys


# -- labels -----------------------------------------------------------------------------------------
_QUOTED = re.compile(r"'([^']+)'|\"([^\"]+)\"|‘([^’]+)’|“([^”]+)”|「([^」]+)」")
_ROLE_WORDS_EN = (r"(?:radio button|check ?box|checkbox|text box|text field|input field|input|field|button|tab|menu item|"
                  r"menu|dropdown(?: menu| list)?|drop-down(?: menu| list)?|combo ?box|option|item|entry|link|slider|"
                  r"list item|list|label|icon|window|dialog|area)")
_ROLE_SUFFIX_EN = re.compile(rf"\s+{_ROLE_WORDS_EN}$", re.I)
_ROLE_PREFIX_EN = re.compile(rf"^{_ROLE_WORDS_EN}\s+", re.I)
_ROLE_WORDS_ZH = ("单选按钮", "复选框", "输入框", "文本框", "下拉菜单", "下拉框", "下拉列表", "选项卡", "标签页", "菜单项",
                  "按钮", "菜单", "选项", "滑块", "列表项", "列表", "标签", "窗口", "对话框", "区域", "字段", "项")


def guess_label(target: str) -> str:
    """The visible text a target description most likely refers to: a quoted part if any, else the
    description without articles and role words ("the Save button" → "Save")."""
    m = _QUOTED.search(target)
    if m:
        return next(g for g in m.groups() if g)
    text = target.strip().rstrip(".。")
    text = re.sub(r"^(?:the|a|an)\s+", "", text, flags=re.I)
    stripped = _ROLE_SUFFIX_EN.sub("", text).strip()
    text = stripped if stripped != text else _ROLE_PREFIX_EN.sub("", text).strip()
    for word in _ROLE_WORDS_ZH:
        if text.endswith(word) and len(text) > len(word):
            text = text[: -len(word)]
            break
    text = text.removesuffix("的").strip()
    return text or target.strip()


# -- the parser -------------------------------------------------------------------------------------
_Q_OPEN, _Q_CLOSE = "'\"‘“「", {"'": "'", '"': '"', "‘": "’", "“": "”", "「": "」"}
_NUM = r"(\d+(?:\.\d+)?)"
_ZH_NUMS = {"一": 1, "两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}


_TERMINAL = re.compile(r"^(?:(done|finish(?:ed)?|完成)|(?:fail|give up|无法完成|放弃))(?:\s*[:：]\s*(.*)|\s*)$", re.I)


def _target(text: str, raw: str) -> str:
    text = text.strip().rstrip(".。")
    if not text:
        raise StepParseError(f"{raw!r}: the step names no element")
    return text


def _quoted_then_rest(s: str, raw: str) -> tuple[str, str]:
    """Split ``'text' rest`` into (text, rest); the closing quote is the last one followed by the end
    or by a connecting word, so the text itself may contain quotes (``'O'Brien'``)."""
    s = s.lstrip()
    if not s or s[0] not in _Q_OPEN:
        raise StepParseError(f"{raw!r}: put the text to type in quotes, e.g. type 'Alice' into the Name field")
    close = _Q_CLOSE[s[0]]
    ends = [i for i, ch in enumerate(s) if ch == close and i > 0]
    for i in ends:  # shortest text that leaves a valid remainder
        rest = s[i + 1:]
        if re.match(r"^\s*$|^\s+(?:into|in|to)\s+\S|^\s*(?:到|在|至|进|中)", rest, re.I):
            return s[1:i], rest.strip()
    if ends:  # closed, but followed by something unexpected: the caller says what it expected
        return s[1:ends[0]], s[ends[0] + 1:].strip()
    raise StepParseError(f"{raw!r}: the quoted text is not closed with {close}")


def _times(text: str, suffix: str, flags: int = 0) -> tuple[str, str | None]:
    """Split ``text`` into what comes before a closing repeat count (``suffix``, its group 1 the number) and
    that number, or (``text``, None). A search anchored at the end, so no lazy group has to backtrack."""
    m = re.search(suffix + "$", text, flags)
    return (text[:m.start()].strip(), m.group(1)) if m and text[:m.start()].strip() else (text, None)


def _count(word: str | None) -> int:
    if not word:
        return 1
    n = int(word) if word.isdigit() else _ZH_NUMS.get(word, 0)
    if not 1 <= n <= MAX_REPEAT:
        raise StepParseError(f"repeat count {word!r} must be between 1 and {MAX_REPEAT}")
    return n


def _step(kind: str, raw: str, **kw: object) -> Step:
    for key, label_key in (("target", "label"), ("to", "to_label")):
        if kw.get(key):
            kw[label_key] = guess_label(str(kw[key]))
    return Step(kind=kind, raw=raw, **kw)  # type: ignore[arg-type]


def parse_step(raw: str) -> Step:
    """Parse one step in words (English or Chinese); raises StepParseError naming what is wrong."""
    if not isinstance(raw, str) or not raw.strip():
        raise StepParseError("a step must be a non-empty sentence")
    s = raw.strip()
    if len(s) > MAX_STEP_CHARS:
        raise StepParseError(f"{raw[:40]!r}…: a step is one sentence of at most {MAX_STEP_CHARS} characters, "
                             f"this one has {len(s)}")

    # the end of a script: done [: answer], fail [: reason] (also "give up", 完成, 无法完成, 放弃) ---------
    m = _TERMINAL.match(s)
    if m:
        rest = (m.group(2) or "").strip() or None
        return _step("done" if m.group(1) else "fail", raw, text=rest)

    step = _english(s, raw) or _chinese(s, raw)
    if step is None:
        raise StepParseError(
            f"{raw!r} is not a step; use one of: click/double-click/right-click <target>, type '<text>' [into <target>], "
            f"press <keys>, scroll up|down [in <target>], drag <target> to <target>, wait <n> seconds "
            f"(or 点击/双击/右键点击, 输入“…”到…, 按…, 向下滚动, 将…拖动到…, 等待…秒)")
    return step


def _english(s: str, raw: str) -> Step | None:
    """An English step, or None when ``s`` starts with none of the English verbs."""
    m = re.match(r"^(double[- ]click|right[- ]click|click)(?:\s+on)?\s+(.+)$", s, re.I)
    if m:
        verb = m.group(1).lower().replace(" ", "-")
        kind = {"click": "click", "double-click": "double_click", "right-click": "right_click"}[verb]
        return _step(kind, raw, target=_target(m.group(2), raw))
    if re.match(r"^type\b", s, re.I):
        text, rest = _quoted_then_rest(s[4:], raw)
        if not text:
            raise StepParseError(f"{raw!r}: the text to type is empty")
        target = None
        if rest:
            m = re.match(r"^(?:into|in|to)\s+(.+)$", rest, re.I)
            if not m:
                raise StepParseError(f"{raw!r}: expected \"into <field>\" after the text")
            target = _target(m.group(1), raw)
        return _step("type", raw, text=text, target=target)
    m = re.match(r"^press\s(.+)$", s, re.I)
    if m:
        keys, times = _times(m.group(1).strip().removesuffix(".").rstrip(), r"\s(\d+)\s+times?", re.I)
        return _step("press", raw, keys=normalize_keys(keys), amount=_count(times))
    m = re.match(r"^scroll\s+(up|down)(?:\s+(\d+)\s+times?)?(?:\s+(?:in|on|over)\s+(.+))?\s*$", s, re.I)
    if m:
        target = _target(m.group(3), raw) if m.group(3) else None
        return _step("scroll", raw, direction=m.group(1).lower(), amount=_count(m.group(2)), target=target)
    m = re.match(r"^drag\s(.+?)\sto\s(.+)$", s, re.I)
    if m:
        return _step("drag", raw, target=_target(m.group(1), raw), to=_target(m.group(2), raw))
    m = re.match(rf"^wait\s+(?:for\s+)?{_NUM}(?:\s*(?:s|secs?|seconds?))?\s*\.?$", s, re.I)
    if m:
        return _wait(float(m.group(1)), raw)
    return None


def _chinese(s: str, raw: str) -> Step | None:
    """A Chinese step, or None when ``s`` starts with none of the Chinese verbs."""
    m = re.match(r"^(双击|右键单击|右键点击|右击|点击|单击)\s*(.+)$", s)
    if m:
        kind = {"双击": "double_click", "右键单击": "right_click", "右键点击": "right_click", "右击": "right_click"}.get(m.group(1), "click")
        return _step(kind, raw, target=_target(m.group(2), raw))
    # Each lazy group runs up to a literal word and is trimmed in Python: the same patterns with \\s* on both
    # sides of a lazy group backtracked polynomially (a step of 400 spaces took 10 s).
    m = re.match(r"^在(.+?)输入\s*(?=['\"‘“「])(.+)$", s)
    if m:
        text, rest = _quoted_then_rest(m.group(2), raw)
        if rest:
            raise StepParseError(f"{raw!r}: unexpected words after the text: {rest!r}")
        return _step("type", raw, text=text, target=_target(_zh_place(m.group(1), "中里内"), raw))
    if s.startswith("输入"):
        text, rest = _quoted_then_rest(s[2:], raw)
        target = None
        if rest:
            m = re.match(r"^(?:到|至|进|在)\s*(.+?)(?:中|里|内)?$", rest)
            if not m:
                raise StepParseError(f"{raw!r}: expected 到<输入框> after the text")
            target = _target(m.group(1), raw)
        return _step("type", raw, text=text, target=target)
    m = re.match(r"^按下?(.+)$", s)
    if m:
        keys, times = _times(m.group(1).strip().rstrip("。.").rstrip(), r"(\d+|[一两二三四五六七八九十])\s*次")
        return _step("press", raw, keys=normalize_keys(keys), amount=_count(times))
    step = _chinese_scroll(s, raw)
    if step is not None:
        return step
    m = re.match(r"^(?:将|把)?(.+?)拖(?:动|拽)?到(.+)$", s)
    if m and (s.startswith(("将", "把", "拖"))):
        src = m.group(1).strip().removeprefix("拖动").removeprefix("拖").strip()
        return _step("drag", raw, target=_target(src, raw), to=_target(m.group(2), raw))
    m = re.match(rf"^等待\s*{_NUM}\s*秒\s*[。.]?$", s)
    if m:
        return _wait(float(m.group(1)), raw)
    return None


def _zh_place(text: str, after: str) -> str:
    """A Chinese place phrase without its spaces and one closing 中/里/内(/上) (在 X 中 → X)."""
    text = text.strip()
    return text[:-1].rstrip() if len(text) > 1 and text[-1] in after else text


def _chinese_scroll(s: str, raw: str) -> Step | None:
    """在 X 中向下滚动 [N 次], or 向上滚动 [N 次] [在 X 中]; None when ``s`` is no scroll."""
    m = re.match(r"^(?:在(.+?))?向(上|下)滚动(.*)$", s)
    if not m:
        return None
    before = m.group(1)
    if before is not None and (len(before.strip()) < 2 or before.strip()[-1] not in "中里内上"):
        return None
    tail = re.match(r"^(?:(\d+|[一两二三四五六七八九十])\s*次)?\s*(?:(?:在|于)(.*))?$",
                    m.group(3).strip().rstrip("。.").strip())
    if not tail:
        return None
    where = _zh_place(before, "中里内上") if before else _zh_place(tail.group(2) or "", "中里内上")
    return _step("scroll", raw, direction="up" if m.group(2) == "上" else "down", amount=_count(tail.group(1)),
                 target=_target(where, raw) if where else None)


def _wait(seconds: float, raw: str) -> Step:
    if not 0 < seconds <= MAX_WAIT_S:
        raise StepParseError(f"{raw!r}: wait between 0 and {MAX_WAIT_S:g} seconds")
    return _step("wait", raw, seconds=seconds)


def parse_steps(lines: list[str]) -> list[Step]:
    """Parse every step; the first bad one raises StepParseError naming its index."""
    out = []
    for i, line in enumerate(lines):
        try:
            out.append(parse_step(line))
        except StepParseError as exc:
            raise StepParseError(f"step {i}: {exc}") from None
    return out
