"""Approval rules: which actions (in screen pixels, after the policy) need a person's yes before they run.

A rule matches an action type (``"drag"``), a key combination (``"ctrl+alt+t"``: the action presses at
least these keys, order and sides ignored, as the policy's deny-list), typed text (a regular expression
searched in the text of a ``type`` action) or a screen region (a pointer action whose point, or either
end of a drag, lies in ``(x, y, width, height)``). :data:`DEFAULT_RULES` is the documented default set
(docs/approval.md): typed commands that destroy data, gain privileges or run code from the network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tools.actions import Action, Click, Drag, Key, KeyDown, Move, Scroll, TypeText
from tools.keys import canonical_key, key_family
from tools.policy import parse_combo

Region = tuple[int, int, int, int]


@dataclass(frozen=True)
class ApprovalRules:
    """What needs approval; :meth:`match` says which rule an action meets. Bad rules raise ValueError."""

    actions: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    regions: tuple[Region, ...] = ()
    _combos: tuple[tuple[str, frozenset[str]], ...] = field(init=False, repr=False, default=())
    _patterns: tuple[re.Pattern[str], ...] = field(init=False, repr=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "_combos", tuple((spec, parse_combo(spec)) for spec in self.keys))
        patterns = []
        for pattern in self.text:
            try:
                patterns.append(re.compile(pattern))
            except re.error as exc:
                raise ValueError(f"approval text rule {pattern!r}: {exc}") from None
        object.__setattr__(self, "_patterns", tuple(patterns))

    def match(self, action: Action) -> str | None:
        """The rule ``action`` meets, in words (``typed text matches 'sudo'``), or None."""
        if action.type in self.actions:
            return f"action type {action.type}"
        if isinstance(action, TypeText):
            for pattern in self._patterns:
                if pattern.search(action.text):
                    return f"typed text matches {pattern.pattern!r}"
        if isinstance(action, (Key, KeyDown)):
            pressed = {key_family(canonical_key(k) or k) for k in (action.keys if isinstance(action, Key) else [action.key])}
            for spec, combo in self._combos:
                if combo <= pressed:
                    return f"key combination {spec}"
        for x, y in _points(action):
            for region in self.regions:
                rx, ry, rw, rh = region
                if rx <= x < rx + rw and ry <= y < ry + rh:
                    return f"a point in the screen region {region}"
        return None


def _points(action: Action) -> list[tuple[float, float]]:
    if isinstance(action, (Click, Move)):
        return [(action.x, action.y)]
    if isinstance(action, Drag):
        return [(action.x1, action.y1), (action.x2, action.y2)]
    if isinstance(action, Scroll) and action.x is not None and action.y is not None:
        return [(action.x, action.y)]
    return []


DEFAULT_RULES = ApprovalRules(text=(
    r"\brm\s+(-\w*\s+)*-\w*[rRf]",           # rm -rf, rm -r -f, rm --force…: recursive or forced deletion
    r"\bsudo\b|\bsu\s+-|\bdoas\b",           # privileges
    r"\b(curl|wget)\b[^\n|]*\|\s*(sudo\s+)?(ba|z|da)?sh\b",  # curl … | sh: code from the network
    r"\bmkfs(\.\w+)?\b|\bdd\s+[^\n]*\bof=/dev/",  # formatting, raw writes to devices
    r"\bchmod\s+(-\w+\s+)*[0-7]*777\b",      # world-writable
    r":\(\)\s*\{\s*:\|:&\s*\};:",            # the classic fork bomb
))
"""The default set: typed text that deletes recursively, gains privileges, pipes a download into a shell,
formats or overwrites a device, makes files world-writable, or is a fork bomb."""
