"""Validation policy: the last check between a parsed action (in screen pixels) and the executor.

``Policy.check(action, screen_w, screen_h)`` returns the action to run — a new object with key names
made canonical — or a :class:`Rejection` whose message is written for the model to read and act on.
It never raises, whatever it is given.

Checks: pointer coordinates inside the screen; clicks 1–3; scroll clicks bounded; text non-empty,
bounded and free of control characters other than newline, tab and carriage return; every key on the
allow-list (``tools.keys``), at most ``max_combo`` of them counted after ``"ctrl+shift+a"`` is split
into keys; no deny-listed key combination (order-insensitive, side-specific modifiers count as their
generic name, extra keys do not help: ``ctrl+alt+shift+delete`` is denied by ``ctrl+alt+delete``);
waits bounded; finally an optional ``confirm`` hook (a person or a rule) may veto.

:meth:`Policy.check_reply` judges a reply's plan as a whole before any of it runs: the waiting it asks
for in total is at most ``max_reply_wait`` (a profile setting), so one reply cannot queue 64 waits of
a minute each.

A policy remembers the keys held down by ``key_down`` actions it has passed (until their ``key_up``), so
a denied combination cannot be assembled one key at a time. Call :meth:`Policy.reset` when an episode
starts; :meth:`Policy.check` is otherwise free of state.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tools.actions import (
    Action,
    Click,
    Done,
    Drag,
    Fail,
    Key,
    KeyDown,
    KeyUp,
    MouseDown,
    MouseUp,
    Move,
    Scroll,
    TypeText,
    Wait,
    describe,
)
from tools.keys import canonical_key, key_family, key_hint, split_combo

DEFAULT_DENY: tuple[str, ...] = (
    "ctrl+alt+delete",
    "ctrl+alt+backspace",
    *(f"ctrl+alt+f{i}" for i in range(1, 13)),
)
"""Key combinations refused by default: reboot, X server kill, virtual-terminal switches."""

_ALLOWED_CONTROL = {"\n", "\t", "\r"}


@dataclass(frozen=True)
class Rejection:
    """An action that will not run, and why, in words the model can act on.

    ``action`` is the offending action as a plain dict (None when there was none), for the episode log.
    """

    message: str
    action: dict | None = None

    def __str__(self) -> str:
        return self.message


def _dump(action: object) -> dict | None:
    try:
        return action.model_dump(warnings=False)  # type: ignore[attr-defined]
    except Exception:
        return None


def parse_combo(spec: str) -> frozenset[str]:
    """A deny-list entry such as ``"ctrl+alt+delete"`` as a set of generic canonical key names.

    Raises ValueError for an entry naming a key that does not exist (a configuration mistake).
    """
    parts = split_combo(spec)
    keys = set()
    for part in parts:
        key = canonical_key(part)
        if key is None:
            raise ValueError(f"deny-list entry {spec!r}: {part!r} is not a key name")
        keys.add(key_family(key))
    if not keys:
        raise ValueError(f"deny-list entry {spec!r} names no key")
    return frozenset(keys)


@dataclass
class Policy:
    """Bounds and allow-lists for actions in screen pixels; see the module docstring.

    ``deny`` holds combinations like ``"ctrl+alt+delete"``; ``confirm`` is called last with the
    checked action and returns False to refuse it. ``max_wait`` bounds one wait, ``max_reply_wait``
    the waits of one reply together (:meth:`check_reply`).
    """

    max_text: int = 2000
    max_clicks: int = 3
    max_scroll: int = 50
    max_wait: float = 60.0
    max_reply_wait: float = 30.0
    max_combo: int = 4
    deny: tuple[str, ...] = DEFAULT_DENY
    confirm: Callable[[Action], bool] | None = None
    _denied: tuple[frozenset[str], ...] = field(init=False, repr=False, default=())
    _held: set[str] = field(init=False, repr=False, default_factory=set)

    def __post_init__(self) -> None:
        self._denied = tuple(parse_combo(spec) for spec in self.deny)

    def reset(self) -> None:
        """Forget keys held down by earlier ``key_down`` actions (call at the start of an episode)."""
        self._held.clear()

    def check(self, action: Action, screen_w: int, screen_h: int) -> Action | Rejection:
        """The action to execute (canonical key names, a new object) or a :class:`Rejection`."""
        try:
            result = self._check(action, screen_w, screen_h)
        except Exception as exc:  # a policy must answer, never crash the loop
            return Rejection(f"this action could not be checked ({type(exc).__name__}); try a simpler action", _dump(action))
        if isinstance(result, Rejection):
            return result
        if self.confirm is not None:
            try:
                approved = bool(self.confirm(result))
            except Exception:
                approved = False
            if not approved:
                return Rejection(f"{describe(result)} was declined by the operator; choose a different action", _dump(result))
        self._track_held(result)
        return result

    def check_reply(self, actions: Sequence[Action]) -> Rejection | None:
        """None when a reply's actions may run as a plan, else why none of them will: the waiting they ask
        for together is over ``max_reply_wait``. The Rejection carries the wait that passes the cap."""
        seconds = [max(0.0, a.seconds) if isinstance(a, Wait) and _finite(a.seconds) else 0.0 for a in actions]
        if sum(seconds) <= self.max_reply_wait:
            return None
        total, past = 0.0, None
        for action, s in zip(actions, seconds):
            total += s
            if past is None and total > self.max_reply_wait:
                past = action
        return Rejection(f"this reply asks to wait {total:g} seconds in all, and one reply may wait at most "
                         f"{self.max_reply_wait:g} seconds (max_reply_wait); none of its actions ran. Wait less, "
                         "then look at the next screenshot", _dump(past))

    # -- the checks ---------------------------------------------------------------------------

    def _check(self, action: object, screen_w: int, screen_h: int) -> object:
        reject = lambda msg: Rejection(msg, _dump(action))  # noqa: E731
        if not isinstance(screen_w, int) or not isinstance(screen_h, int) or screen_w <= 0 or screen_h <= 0:
            return reject(f"the screen size {screen_w}x{screen_h} is not valid")
        match action:
            case Click(x=x, y=y, clicks=n):
                if not (isinstance(n, int) and 1 <= n <= self.max_clicks):
                    return reject(f"a click is pressed 1 to {self.max_clicks} times, not {n}")
                return self._point(action, "click", x, y, screen_w, screen_h) or action
            case Move(x=x, y=y):
                return self._point(action, "move", x, y, screen_w, screen_h) or action
            case Drag(x1=x1, y1=y1, x2=x2, y2=y2):
                return (
                    self._point(action, "drag start", x1, y1, screen_w, screen_h)
                    or self._point(action, "drag end", x2, y2, screen_w, screen_h)
                    or action
                )
            case Scroll(dx=dx, dy=dy, x=x, y=y):
                for amount in (dx, dy):
                    if not isinstance(amount, int) or abs(amount) > self.max_scroll:
                        return reject(f"scroll by at most {self.max_scroll} wheel clicks at a time, not {amount}")
                if (x is None) != (y is None):
                    return reject("a scroll position needs both x and y, or neither")
                if x is not None:
                    return self._point(action, "scroll", x, y, screen_w, screen_h) or action
                return action
            case TypeText(text=text):
                return self._text(action, text)
            case Key(keys=keys):
                return self._keys(action, keys)
            case KeyDown(key=key) | KeyUp(key=key):
                name = canonical_key(key)
                if name is None:
                    return reject(self._bad_key(key))
                if isinstance(action, KeyDown):
                    denied = self._denied_combo(self._held | {key_family(name)})
                    if denied:
                        return reject(f"holding {denied} is not allowed")
                return action.model_copy(update={"key": name})
            case Wait(seconds=s):
                if not (isinstance(s, (int, float)) and math.isfinite(s) and 0 <= s <= self.max_wait):
                    return reject(f"wait at most {self.max_wait:g} seconds at a time, not {s}")
                return action
            case Done(answer=text) | Fail(reason=text):
                if text is not None and len(text) > self.max_text:
                    return reject(f"keep the final message under {self.max_text} characters (it has {len(text)})")
                return action
            case MouseDown() | MouseUp():
                return action
            case _:
                return Rejection(f"{type(action).__name__} is not an action I can run", _dump(action))

    def _point(self, action: object, what: str, x: float, y: float, w: int, h: int) -> Rejection | None:
        ok = all(isinstance(v, (int, float)) and math.isfinite(v) for v in (x, y))
        if ok and 0 <= x <= w - 1 and 0 <= y <= h - 1:
            return None
        return Rejection(f"{what} at ({x:g}, {y:g}) is outside the {w}x{h} screen" if ok else f"{what} has no valid position", _dump(action))

    def _text(self, action: TypeText, text: str) -> object:
        if not text:
            return Rejection("there is nothing to type; give the text to type", _dump(action))
        if len(text) > self.max_text:
            return Rejection(f"type at most {self.max_text} characters at a time (this text has {len(text)}); split it into several steps", _dump(action))
        for ch in text:
            if ch not in _ALLOWED_CONTROL and unicodedata.category(ch) in ("Cc", "Cs"):
                return Rejection(f"the text contains the control character {ch!r}; type plain text and use key actions for special keys", _dump(action))
        return action

    def _keys(self, action: Key, keys: list[str]) -> object:
        keys = _expand(keys)  # counted after splitting: "ctrl+shift+alt+a+b+c" is six keys, not one
        if len(keys) > self.max_combo:
            return Rejection(f"press at most {self.max_combo} keys together, not {len(keys)}", _dump(action))
        names = []
        for key in keys:
            name = canonical_key(key)
            if name is None:
                return Rejection(self._bad_key(key), _dump(action))
            names.append(name)
        denied = self._denied_combo(self._held | {key_family(n) for n in names})
        if denied:
            return Rejection(f"the key combination {'+'.join(names)} ({denied}) is not allowed", _dump(action))
        return action.model_copy(update={"keys": names})

    def _denied_combo(self, pressed: set[str]) -> str | None:
        for combo in self._denied:
            if combo <= pressed:
                return "+".join(sorted(combo, key=_modifier_first))
        return None

    @staticmethod
    def _bad_key(key: object) -> str:
        shown = key if isinstance(key, str) and len(key) <= 40 else str(key)[:40] + "…"
        return f"key {shown!r} is not a key I can press; {key_hint()}"

    def _track_held(self, action: object) -> None:
        if isinstance(action, KeyDown):
            self._held.add(key_family(action.key))
        elif isinstance(action, KeyUp):
            self._held.discard(key_family(action.key))


def _expand(keys: list[str]) -> list[str]:
    """Split elements written as combinations (``"ctrl+c"``) into their keys."""
    out: list[str] = []
    for key in keys:
        if isinstance(key, str) and len(key) > 1 and ("+" in key or " " in key.strip()):
            out.extend(split_combo(key))
        else:
            out.append(key)
    return out


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _modifier_first(name: str) -> tuple[int, str]:
    order = {"ctrl": 0, "alt": 1, "shift": 2, "win": 3}
    return (order.get(name, 9), name)
