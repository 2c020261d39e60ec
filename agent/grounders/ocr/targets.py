"""Target wording: a step description ("type 'Alice' into the Email field", "check box Remember me",
"the file notes.txt in the ls output", "点击 保存 按钮") → the on-screen label to look for, the role of
the element (:mod:`.roles`), a part of it ("handle"), and the context it is in ("ls output", "menu")."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Sequence

from agent.grounders.ocr.roles import EN_PARTS, EN_ROLES, ENTRY_ROLES, TERMINAL_WORDS, ZH_ROLES, en_role

_QUOTES = re.compile(
    r"(?<!\w)'([^'\n]+)'(?!\w)|\"([^\"\n]+)\"|“([^”\n]+)”|‘([^’\n]+)’|「([^」\n]+)」|『([^』\n]+)』|«([^»\n]+)»"
)
# "type 'Alice' into the Email field" → "the Email field"; "在 邮箱 输入框 中输入 'x'" → "邮箱 输入框"
_TYPE_INTO = re.compile(
    r"^\s*(?:type|enter|write|input|put|fill\s+in|paste)\b.*?\s(?:into|in|to|inside)\s+(.+)$",
    re.IGNORECASE | re.DOTALL)
_ZH_TYPE_INTO = re.compile(r"^\s*在\s*(.+?)\s*(?:中|里|内)?\s*(?:输入|填写|键入)(?!框)")
_PAREN = re.compile(r"[（(]([^()（）]{1,12})[)）]")

_MAX_ROLE_WORDS = max(len(p.split()) for p in EN_ROLES)
_ROLE_MODIFIERS = {"text", "input", "check", "tick", "radio", "combo", "drop", "drop-down", "menu", "edit",
                   "entry", "search", "spin"}
_ARTICLES = {"the", "a", "an", "on", "onto", "in", "into", "at", "to", "please"}
_VERBS = {
    "click", "double-click", "doubleclick", "right-click", "rightclick", "left-click", "press", "tap", "hit",
    "select", "choose", "pick", "open", "activate", "focus", "check", "uncheck", "toggle", "hover", "find",
    "locate", "double", "right", "left", "once", "twice", "go", "drag", "move", "switch", "tick", "untick",
    "enable", "disable",
}
# "tick the Mute box": with these verbs a box is a checkbox, not an entry
_CHECK_VERBS = {"check", "uncheck", "tick", "untick"}
_PREPOSITIONS = {"in", "on", "at", "of", "from", "near", "under", "above", "below", "next", "to", "inside",
                 "within", "beside", "by", "for", "that", "which", "labeled", "labelled", "named", "called",
                 "titled", "with"}
# a trailing "in the …" / "of the …" clause names where the element is, when it ends in a container noun
_CONTEXT_PREPS = {"in", "on", "of", "from", "inside", "within", "at", "under", "near", "beside"}
_DETERMINERS = {"the", "this", "that", "a", "an", "its", "their"}
_CONTAINERS = {"menu", "menubar", "bar", "toolbar", "window", "dialog", "terminal", "shell", "console", "output",
               "listing", "list", "panel", "pane", "calculator", "sidebar", "screen", "page", "form", "history",
               "section", "group", "app", "application", "editor", "tab", "slider", "area", "box", "xterm",
               "prompt", "header", "footer", "desktop"}
# what a terminal word is called before its text: "the file X", "the modified file X", "the command X"
# (and which kind of terminal word each names: a command follows a prompt, an argument follows a command,
# a file is in a command's output)
_TERMINAL_NOUNS = {"file": "file", "files": "file", "directory": "file", "folder": "file", "modified": "file",
                   "path": "file", "command": "command", "argument": "argument", "option": "argument",
                   "flag": "argument", "word": None, "branch": None, "name": None, "entry": None}
_LEADING_LINKS = {"for", "of", "labelled", "labeled", "named", "called", "titled"}
_NAMED = re.compile(r"\b(?:labeled|labelled|named|called|titled|saying|that\s+says|with\s+the\s+(?:text|label))"
                    r"\s+(.+)$", re.IGNORECASE)
_PUNCT = ",.;:!?。，；：！？"
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

    ``text`` is the label with verbs, articles, the role noun and any context clause stripped;
    ``variants`` are gentler readings also tried (verbs kept: "Open File"; role word kept: "Add Item";
    a symbol in brackets: "+"), the best-scoring one wins. ``role`` is the canonical role the
    description names (:mod:`.roles`; None for none), ``part`` a part of it ("handle" of a slider),
    ``context`` the words of a trailing "in the …" clause ("ls output", "open menu"), and ``field`` is
    True when the click goes into the entry beside the label.
    """

    text: str
    field: bool = False
    quoted: bool = False
    variants: tuple[str, ...] = ()
    role: str | None = None
    part: str | None = None
    context: str = ""

    @property
    def texts(self) -> tuple[str, ...]:
        """``text`` then the variants, without duplicates."""
        return tuple(dict.fromkeys(t for t in (self.text, *self.variants) if t))

    @property
    def in_terminal(self) -> bool:
        """Whether the description places the element in a terminal ("in the ls output")."""
        return any(w in TERMINAL_WORDS for w in self.context.casefold().split()) or "终端" in self.context


def _words(text: str) -> list[str]:
    return [w.strip(_PUNCT) for w in text.split() if w.strip(_PUNCT)]


def _low(words: Sequence[str]) -> list[str]:
    return [w.casefold() for w in words]


def _role_at_end(words: Sequence[str]) -> tuple[int, str] | None:
    """(index where a trailing role phrase starts, its role), the phrase's modifiers included."""
    low = _low(words)
    for n in range(min(_MAX_ROLE_WORDS, len(words) - 1), 0, -1):
        role = en_role(" ".join(low[-n:]))
        if role:
            j = len(words) - n
            while j - 1 > 0 and low[j - 1] in _ROLE_MODIFIERS:
                j -= 1
            # "radio option", "drop-down menu": the modifier names the role when the phrase is unknown
            return j, en_role(" ".join(low[j:])) or (en_role(low[j]) if j < len(words) - n else None) or role
    return None


def _role_at_start(words: Sequence[str]) -> tuple[int, str] | None:
    """(index where the label starts after a leading role phrase, its role): "check box Remember me",
    "text box for the Email"; only when a label follows."""
    low = _low(words)
    for n in range(min(_MAX_ROLE_WORDS, len(words) - 1), 0, -1):
        role = en_role(" ".join(low[:n]))
        if role:
            k = n
            while k < len(words) - 1 and low[k] in _LEADING_LINKS | _DETERMINERS:
                k += 1
            return k, role
    return None


def _split_context(words: list[str]) -> tuple[list[str], str, str]:
    """(the words before a trailing "in the <container>" clause, that clause's words, its preposition)."""
    low = _low(words)
    for i in range(1, len(words) - 1):
        k = i + 2 if low[i] in ("next", "close") and low[i + 1] == "to" else i + 1  # "next to the …"
        if (low[i] in _CONTEXT_PREPS or k == i + 2) and k < len(words) and low[k] in _DETERMINERS and any(
                w in _CONTAINERS or w in EN_ROLES or w in TERMINAL_WORDS for w in low[k + 1:]):
            return words[:i], " ".join(words[k + 1:]), low[i]
    return words, "", ""


def _strip_part(words: list[str]) -> tuple[list[str], str | None]:
    low = _low(words)
    if len(words) > 1 and low[-1] in EN_PARTS:
        return words[:-1], EN_PARTS[low[-1]]
    if len(words) > 1 and low[0] in EN_PARTS:
        return words[1:], EN_PARTS[low[0]]
    if len(words) == 1 and low[0] in EN_PARTS:
        return [], EN_PARTS[low[0]]
    return words, None


def _label_and_role(words: list[str]) -> tuple[list[str], str | None]:
    """The label words and the role of a core phrase: a role noun at its end, else at its start."""
    if not words:
        return [], None
    whole = en_role(" ".join(words))
    if whole:  # "the scroll bar", "the text editing area": a role alone, no label
        return [], whole
    if len(words) == 1:
        return words, None
    end = _role_at_end(words)
    if end is not None:
        return list(words[:end[0]]), end[1]
    start = _role_at_start(words)
    if start is not None:
        return list(words[start[0]:]), start[1]
    return words, None


def _zh_role(text: str) -> tuple[str, str | None]:
    """``text`` without a trailing Chinese role noun (and a trailing 的), and that noun's role."""
    s = text.rstrip(_PUNCT + " ")
    for suffix, role in ZH_ROLES:
        if s.endswith(suffix) and len(s) > len(suffix):
            s = s[: -len(suffix)].rstrip()
            return (s[:-1] if s.endswith("的") and len(s) > 1 else s).strip(), role
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


def _strip_command(words: list[str]) -> list[str]:
    """``words`` without the leading verbs and articles ("double click on the"); verbs only before the
    first article: "tick the Check for updates box" keeps "Check"."""
    start, article = 0, False
    while start < len(words) - 1:
        w = words[start].casefold()
        if w in _ARTICLES:
            article = True
        elif w not in _VERBS or article:
            break
        start += 1
    return words[start:]


def _strip_leading(words: list[str], vocabulary: set[str]) -> list[str]:
    start = 0
    while start < len(words) - 1 and words[start].casefold() in vocabulary:
        start += 1
    return words[start:]


def parse_target(description: str) -> Target:
    """The on-screen label a step description points at, its role, part and context (see the module
    docstring); an operator named in words ("divide") also gets its symbol ("÷") as a reading."""
    target = _parse(description)
    if target.in_terminal:
        # "the modified file main.py" / "the command git": the words before the label name its kind
        words = target.text.split()
        kept = words if target.quoted else _strip_leading(words, _TERMINAL_NOUNS)
        before = _low(_words(description.split(kept[0])[0])) if kept else []
        kind = next((_TERMINAL_NOUNS[w] for w in reversed(before) if _TERMINAL_NOUNS.get(w)), target.role)
        target = replace(target, text=" ".join(kept), role=kind,
                         variants=(*target.variants, target.text) if kept != words else target.variants)
    symbol = _SYMBOL_NAMES.get(" ".join(target.text.casefold().split()))
    if symbol is not None:
        target = replace(target, variants=(*target.variants, symbol))
    return replace(target, field=target.role in ENTRY_ROLES)


def _parse_quoted(desc: str, q: re.Match) -> Target:
    quoted = next(g for g in q.groups() if g is not None).strip()
    before, after = desc[: q.start()].strip(), desc[q.end():].strip()
    after_words, context, _ = _split_context(["_", *_words(after)])
    after_words = after_words[1:]
    cut = next((k for k, w in enumerate(after_words) if w.lower() in _PREPOSITIONS), len(after_words))
    role = _label_and_role(["_", *after_words[:cut]])[1]
    if role is None:
        before_words = _strip_command(_words(before))
        role = en_role(" ".join(before_words[-2:])) or (en_role(before_words[-1]) if before_words else None)
    if role is None:
        role = next((r for suffix, r in ZH_ROLES if after.startswith(suffix)), None) or next(
            (r for suffix, r in ZH_ROLES if before.endswith(suffix)), None)
    if not context and "终端" in before:
        context = "终端"
    return Target(quoted, quoted=True, role=role, context=context)


def _parse(description: str) -> Target:
    desc = " ".join(description.split())
    m = _TYPE_INTO.match(desc) or _ZH_TYPE_INTO.match(desc)
    if m:
        desc = m.group(1).strip()
    q = _QUOTES.search(desc)
    if q:
        return _parse_quoted(desc, q)
    symbols = tuple(p.strip() for p in _PAREN.findall(desc))
    desc = _PAREN.sub(" ", desc).strip()
    m = _NAMED.search(desc)
    if m:
        name = m.group(1).strip(" .\"'")
        before = _strip_command(_words(desc[: m.start()]))
        return Target(name, role=_label_and_role(["_", *before])[1], variants=symbols)
    zh, zh_role = _zh_role(_zh_leading(desc))
    words = _words(zh)
    soft = _strip_leading(words, _ARTICLES)
    # "check box Remember me": a verb that starts a role phrase is not a verb
    leading_role = len(soft) > 2 and en_role(" ".join(soft[:2])) is not None
    core_all = soft if leading_role else _strip_command(words)
    core, context, prep = _split_context(core_all)
    core, part = _strip_part(core)
    label, role = _label_and_role(core)
    if not label and prep == "of" and context:
        # "the knob of the Volume slider", "the scroll bar of the task list": the owner names it
        owner, owner_role = _label_and_role(_words(context))
        label, role = owner, role or owner_role
    text = " ".join(label)
    if zh_role is None and role is None:  # "姓名 输入框 (Name)" …
        text, zh_role = _zh_role(text)
    text = text.strip(_PUNCT + " ") or (context if role else desc)
    # gentler readings: verbs kept ("Open File"), the role noun kept ("Add Item"), a bracketed symbol
    variants = (" ".join(_label_and_role(soft)[0]), " ".join(core_all), *symbols)
    if role == "entry" and soft and soft[0].casefold() in _CHECK_VERBS:
        role = "checkbox"
    return Target(text, role=role or zh_role, part=part, context=context,
                  variants=tuple(v for v in variants if v and v != text))


__all__ = ["Target", "parse_target"]
