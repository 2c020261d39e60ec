"""Exact text typing through XTEST, for any Unicode text (runs inside the sandbox worker).

pyautogui drops every non-ASCII character on X11 and types ``>`` for ``<`` on keymaps where
``<`` sits on the shifted level of its own key. ``xdotool type`` remaps one spare keycode per
character, which races with the application's keymap refresh. Here every keysym a chunk of
text needs is bound to its own spare keycode in one batch before the chunk is typed, and a
binding is only changed again after the application had time to read the keys that used it
(docs/model-interface.md, "Input on X11", describes the measurements behind this).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterator

from Xlib import X, XK
from Xlib.display import Display
from Xlib.ext import xtest

# Seconds to leave an application to handle the keys typed with remapped keycodes before the
# mapping of those keycodes changes again; after a mapping change, time for MappingNotify.
REMAP_QUIET_S = 0.08
AFTER_REMAP_S = 0.02

_CONTROL_KEYSYMS = {
    "\n": XK.XK_Return,
    "\r": XK.XK_Return,
    "\t": XK.XK_Tab,
    "\b": XK.XK_BackSpace,
    "\x1b": XK.XK_Escape,
}


def keysym_for_char(ch: str) -> int:
    """The X keysym that produces ``ch`` (Latin-1 keysyms equal their code point; others use the Unicode range)."""
    if ch in _CONTROL_KEYSYMS:
        return _CONTROL_KEYSYMS[ch]
    cp = ord(ch)
    if cp < 0x20 or cp == 0x7F:
        raise ValueError(f"cannot type control character U+{cp:04X}")
    if 0x20 <= cp <= 0x7E or 0xA0 <= cp <= 0xFF:
        return cp
    return 0x01000000 | cp


class Keyboard:
    """Types text and presses single characters with exact results, remapping spare keycodes as needed."""

    def __init__(self, display: Display) -> None:
        self._d = display
        lo, hi = display.display.info.min_keycode, display.display.info.max_keycode
        keymap = display.get_keyboard_mapping(lo, hi - lo + 1)
        self._spare = [lo + i for i, syms in enumerate(keymap) if not any(syms)]
        if not self._spare:
            raise RuntimeError("the X keymap has no spare keycodes for typing")
        # keysym -> (keycode, needs shift); the unshifted level wins over the shifted one
        self._fixed: dict[int, tuple[int, bool]] = {}
        for level in (1, 0):
            for i, syms in enumerate(keymap):
                if len(syms) > level and syms[level]:
                    self._fixed[syms[level]] = (lo + i, level == 1)
        self._bound: OrderedDict[int, int] = OrderedDict()  # keysym -> spare keycode, least recent first
        self._keymap = [list(syms) for syms in keymap]  # what the server holds, to rewrite ranges in one request
        self._lo = lo
        self._last_spare_use = 0.0
        self._shift = display.keysym_to_keycode(XK.XK_Shift_L)

    @property
    def spare_keycodes(self) -> int:
        """How many keycodes are free for remapping."""
        return len(self._spare)

    def _locate(self, keysym: int) -> tuple[int, bool]:
        if keysym in self._fixed:
            return self._fixed[keysym]
        return self._bound[keysym], False

    def _bind(self, keysyms: list[int]) -> None:
        """Bind each keysym to a spare keycode, evicting the least recently used bindings."""
        wait = self._last_spare_use + REMAP_QUIET_S - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        used = set(self._bound.values())
        free = [kc for kc in self._spare if kc not in used]
        changed: list[int] = []
        for keysym in keysyms:
            if free:
                kc = free.pop()
            else:
                _, kc = self._bound.popitem(last=False)
            self._bound[keysym] = kc
            row = self._keymap[kc - self._lo]
            row[:] = [keysym] * max(2, len(row))
            changed.append(kc)
        # One request for the whole changed range: every MappingNotify makes the window manager re-grab its
        # buttons on every window, which stalls pointer events, so a chunk must cost one notification only.
        first, last = min(changed), max(changed)
        width = max(len(r) for r in self._keymap[first - self._lo : last - self._lo + 1])
        rows = [tuple(r + [0] * (width - len(r))) for r in self._keymap[first - self._lo : last - self._lo + 1]]
        self._d.change_keyboard_mapping(first, rows)
        self._d.sync()
        time.sleep(AFTER_REMAP_S)

    def _chunks(self, text: str) -> Iterator[str]:
        """Split text so that the unmapped keysyms of each chunk fit in the spare keycodes."""
        start, needed = 0, set()
        for i, ch in enumerate(text):
            ks = keysym_for_char(ch)
            if ks in needed or ks in self._fixed:
                continue
            if len(needed) == len(self._spare):
                yield text[start:i]
                start, needed = i, set()
            needed.add(ks)
        if start < len(text):
            yield text[start:]

    def _prepare(self, chunk: str) -> None:
        keysyms = [keysym_for_char(ch) for ch in dict.fromkeys(chunk)]
        for ks in keysyms:  # keep this chunk's bindings from being evicted
            if ks in self._bound:
                self._bound.move_to_end(ks)
        missing = [ks for ks in keysyms if ks not in self._fixed and ks not in self._bound]
        if missing:
            self._bind(missing)

    def _stroke(self, keysym: int, press: bool = True, release: bool = True) -> None:
        kc, shifted = self._locate(keysym)
        if keysym in self._bound:
            self._last_spare_use = time.monotonic()
        if shifted and press:
            xtest.fake_input(self._d, X.KeyPress, self._shift)
        if press:
            xtest.fake_input(self._d, X.KeyPress, kc)
        if release:
            xtest.fake_input(self._d, X.KeyRelease, kc)
        if shifted and press:
            xtest.fake_input(self._d, X.KeyRelease, self._shift)

    def type_text(self, text: str) -> None:
        """Type ``text`` exactly: any Unicode, newlines (Return) and tabs."""
        text = text.replace("\r\n", "\n")
        for ch in text:
            keysym_for_char(ch)  # reject control characters before anything is typed
        for chunk in self._chunks(text):
            self._prepare(chunk)
            for ch in chunk:
                self._stroke(keysym_for_char(ch))
            self._d.sync()

    def char_down(self, ch: str) -> None:
        """Press (and hold) the key for one character, with shift if it sits on the shifted level."""
        self._prepare(ch)
        self._stroke(keysym_for_char(ch), press=True, release=False)
        self._d.sync()

    def char_up(self, ch: str) -> None:
        """Release the key for one character."""
        ks = keysym_for_char(ch)
        if ks in self._fixed or ks in self._bound:
            xtest.fake_input(self._d, X.KeyRelease, self._locate(ks)[0])
            self._d.sync()
