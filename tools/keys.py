"""Key names: the allow-list of keys an action may press, and the aliases models use for them.

The canonical vocabulary is pyautogui's ``KEYBOARD_KEYS`` (the names OSWorld's computer_13 also uses),
with one canonical spelling per key: ``ctrl``, ``alt``, ``shift``, ``win`` (the Super/Command/Meta
key), ``enter``, ``esc``, ``backspace``, ``delete``, ``tab``, ``space``, ``pageup``, ``pagedown``,
``home``, ``end``, ``insert``, ``up``/``down``/``left``/``right``, ``f1``…``f24`` and so on, plus any
single printable character (``a``, ``A``, ``7``, ``+``, ``é``). The executor maps these names to
keysyms; nothing else ever reaches it.

Lookup is case-insensitive for names and ignores ``_``, ``-`` and spaces inside them, so ``Page_Up``,
``page up`` and ``PGUP`` are all ``pageup``. A single character keeps its case (``A`` is shift+a).
"""

from __future__ import annotations

_FUNCTION_KEYS = tuple(f"f{i}" for i in range(1, 25))
_NUMPAD = tuple(f"num{i}" for i in range(10))

KEY_NAMES: frozenset[str] = frozenset(
    (
        # modifiers, with pyautogui's left/right variants
        "ctrl", "ctrlleft", "ctrlright", "alt", "altleft", "altright", "shift", "shiftleft",
        "shiftright", "win", "winleft", "winright", "fn",
        # editing and whitespace
        "enter", "esc", "backspace", "delete", "tab", "space", "insert", "clear",
        # navigation
        "up", "down", "left", "right", "home", "end", "pageup", "pagedown",
        # locks and system
        "capslock", "numlock", "scrolllock", "printscreen", "pause", "apps", "help", "select",
        "execute", "sleep", "stop",
        # numpad operators
        "add", "subtract", "multiply", "divide", "decimal", "separator",
        # media and browser keys
        "volumeup", "volumedown", "volumemute", "playpause", "nexttrack", "prevtrack",
        "browserback", "browserforward", "browserrefresh", "browserhome", "browsersearch",
        "browserfavorites", "browserstop", "launchmail", "launchmediaselect", "launchapp1",
        "launchapp2",
        # input-method keys
        "kana", "kanji", "hangul", "hanja", "junja", "final", "convert", "nonconvert", "accept",
        "modechange", "yen",
    )
    + _FUNCTION_KEYS
    + _NUMPAD
)
"""Every multi-character key name the action space accepts (single printable characters are also keys)."""

# Keys are written in their compact form: lower case, no "_", "-" or spaces.
KEY_ALIASES: dict[str, str] = {
    # modifiers
    "control": "ctrl", "ctl": "ctrl", "lctrl": "ctrlleft", "rctrl": "ctrlright",
    "controll": "ctrlleft", "controlr": "ctrlright", "controlleft": "ctrlleft",
    "controlright": "ctrlright", "leftctrl": "ctrlleft", "rightctrl": "ctrlright",
    "leftcontrol": "ctrlleft", "rightcontrol": "ctrlright", "ctrll": "ctrlleft", "ctrlr": "ctrlright",
    "option": "alt", "opt": "alt", "optionleft": "altleft", "optionright": "altright",
    "altl": "altleft", "altr": "altright", "lalt": "altleft", "ralt": "altright",
    "leftalt": "altleft", "rightalt": "altright", "altgr": "altright", "menu": "apps",
    "contextmenu": "apps", "application": "apps",
    "shiftl": "shiftleft", "shiftr": "shiftright", "lshift": "shiftleft", "rshift": "shiftright",
    "leftshift": "shiftleft", "rightshift": "shiftright",
    "super": "win", "cmd": "win", "command": "win", "meta": "win", "windows": "win", "os": "win",
    "superl": "winleft", "superr": "winright", "superleft": "winleft", "superright": "winright",
    "metal": "winleft", "metar": "winright", "cmdleft": "winleft", "cmdright": "winright",
    "lwin": "winleft", "rwin": "winright", "leftwin": "winleft", "rightwin": "winright",
    "commandleft": "winleft", "commandright": "winright",
    # enter / escape / deletion
    "return": "enter", "ret": "enter", "kpenter": "enter", "newline": "enter", "linefeed": "enter",
    "escape": "esc", "del": "delete", "kpdelete": "delete", "forwarddelete": "delete",
    "bksp": "backspace", "bs": "backspace", "back": "backspace", "ins": "insert",
    "spacebar": "space", "tabulator": "tab",
    # navigation
    "arrowup": "up", "arrowdown": "down", "arrowleft": "left", "arrowright": "right",
    "uparrow": "up", "downarrow": "down", "leftarrow": "left", "rightarrow": "right",
    "kpup": "up", "kpdown": "down", "kpleft": "left", "kpright": "right",
    "pgup": "pageup", "prior": "pageup", "pgdn": "pagedown", "pgdown": "pagedown",
    "pagedn": "pagedown", "next": "pagedown", "kphome": "home", "kpend": "end",
    # locks and print
    "caps": "capslock", "prtsc": "printscreen", "prtscr": "printscreen", "prntscrn": "printscreen",
    "print": "printscreen", "prtscn": "printscreen", "sysrq": "printscreen", "scroll": "scrolllock",
    "scrlk": "scrolllock", "break": "pause",
    # numpad operators and media
    "kpadd": "add", "kpsubtract": "subtract", "kpmultiply": "multiply", "kpdivide": "divide",
    "kpdecimal": "decimal", "audiomute": "volumemute", "mute": "volumemute",
    "audioraisevolume": "volumeup", "audiolowervolume": "volumedown", "audioplay": "playpause",
    "audionext": "nexttrack", "audioprev": "prevtrack", "mediaplaypause": "playpause",
    # characters spelled out
    "plus": "+", "minus": "-", "hyphen": "-", "underscore": "_", "equal": "=", "equals": "=",
    "comma": ",", "period": ".", "dot": ".", "slash": "/", "backslash": "\\", "semicolon": ";",
    "colon": ":", "apostrophe": "'", "quote": "'", "quotedbl": '"', "grave": "`",
    "backquote": "`", "bracketleft": "[", "bracketright": "]", "braceleft": "{",
    "braceright": "}", "parenleft": "(", "parenright": ")", "less": "<", "greater": ">",
    "question": "?", "exclam": "!", "at": "@", "numbersign": "#", "hash": "#", "dollar": "$",
    "percent": "%", "asciicircum": "^", "ampersand": "&", "asterisk": "*", "bar": "|",
    "asciitilde": "~", "tilde": "~",
}
"""Alternative spellings (compact form) mapped to their canonical key name or character."""

for _i in range(10):
    KEY_ALIASES[f"kp{_i}"] = f"num{_i}"
    KEY_ALIASES[f"numpad{_i}"] = f"num{_i}"
    KEY_ALIASES[f"digit{_i}"] = str(_i)

_WHITESPACE_CHARS = {" ": "space", "\n": "enter", "\r": "enter", "\t": "tab"}

MODIFIER_FAMILIES: dict[str, str] = {
    "ctrlleft": "ctrl", "ctrlright": "ctrl", "altleft": "alt", "altright": "alt",
    "shiftleft": "shift", "shiftright": "shift", "winleft": "win", "winright": "win",
}
"""Side-specific modifiers mapped to their generic name (a deny-list entry for ``ctrl`` covers both)."""


def _compact(name: str) -> str:
    return "".join(ch for ch in name.strip().lower() if ch not in "_- ")


def canonical_key(name: object) -> str | None:
    """The canonical name of a key (``"Return"`` → ``"enter"``), or None when it is not a key.

    A single printable character is its own name (case kept); longer names are matched
    case-insensitively against :data:`KEY_NAMES` and :data:`KEY_ALIASES`.
    """
    if not isinstance(name, str) or not name or len(name) > 40:
        return None
    if len(name) == 1:
        if name in _WHITESPACE_CHARS:
            return _WHITESPACE_CHARS[name]
        return name if name.isprintable() else None
    compact = _compact(name)
    if not compact:
        return "space" if name.strip(" ") == "" else None
    if len(compact) == 1:
        return compact if compact.isprintable() else None
    if compact in KEY_NAMES:
        return compact
    return KEY_ALIASES.get(compact)


def key_family(name: str) -> str:
    """The generic name of a canonical key: ``ctrlleft`` → ``ctrl``; other keys are unchanged.

    Letters fold to lower case too, so a deny-list entry ``ctrl+alt+t`` also covers ``T``.
    """
    if len(name) == 1:
        return name.lower()
    return MODIFIER_FAMILIES.get(name, name)


def key_hint() -> str:
    """A short reminder of valid key names, for messages to the model."""
    return "use names like ctrl, alt, shift, win, enter, esc, tab, backspace, delete, up, pageup, f5, or a single character"


def split_combo(text: str) -> list[str]:
    """The keys of a combination written as text: ``"ctrl+shift+t"``, ``"ctrl shift t"``, ``"ctrl + +"``.

    Keys are separated by whitespace and/or one ``+``; a ``+`` where a key is expected is the plus key.
    """
    keys: list[str] = []
    i, n, separated = 0, len(text), False
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "+" and keys and not separated:
            separated, i = True, i + 1
        elif ch == "+":
            keys.append("+")
            separated, i = False, i + 1
        else:
            j = i
            while j < n and text[j] != "+" and not text[j].isspace():
                j += 1
            keys.append(text[i:j])
            separated, i = False, j
    if separated:
        keys.append("+")  # "ctrl+" ends with the plus key
    return keys
