"""What every bundled Tk app shares: arguments, fonts, the widget registry and the state file.

An app publishes ``{"app", "lang", "ready", "state", "focus", "input", "widgets"}`` to ``--state PATH``
after every change (written to a temporary file and renamed, so a reader never sees half a file).
``ready`` turns true once the window is on screen; ``focus`` is the id of the widget with the keyboard
focus (None while the app does not have it); ``input.releases`` counts the mouse button releases
(wheel clicks too) the app has handled, so a driver can tell when its click has arrived. Each widget
entry is ``{"id", "role", "label", "bbox": [x1, y1, x2, y2]}`` in screen pixels, with ``label`` the
visible text (for a field: the text of its label), plus ``"value"`` for fields and sliders and
``"checked"``/``"selected"`` where it applies. Only widgets visible on screen are listed: not those
on a hidden tab, scrolled out of view, or covered by an open menu or dialog.

Apps are deterministic: fixed geometry and fonts, no animation, a caret that does not blink.

This module imports only the standard library: an app must start fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tkinter as tk
import tkinter.font as tkfont
from collections.abc import Callable
from tkinter import ttk
from typing import Any

LATIN_FAMILY = "DejaVu Sans"
CJK_FAMILY = "Noto Sans CJK SC"
MONO_FAMILY = "DejaVu Sans Mono"
FONT_PX = 15  # font sizes are in pixels (negative Tk sizes), independent of the X server's DPI

Box = tuple[int, int, int, int]


class Widget:
    """One entry of the registry: how to find a widget's box and label at the time of writing."""

    def __init__(self, wid: str, role: str, widget: tk.Misc | None, label: str | Callable[[], str] | None,
                 box: Callable[[], Box | None] | None, extra: Callable[[], dict[str, Any]] | None) -> None:
        self.id, self.role, self.widget = wid, role, widget
        self._label, self._box, self._extra = label, box, extra
        self.layer: tk.Misc | None = None  # the window it is drawn in, when ``widget`` is None

    def label(self) -> str:
        if callable(self._label):
            return self._label()
        if self._label is not None:
            return self._label
        try:
            return str(self.widget.cget("text"))  # type: ignore[union-attr]
        except (tk.TclError, AttributeError):
            return ""

    def box(self) -> Box | None:
        if self._box is not None:
            return self._box()
        return widget_box(self.widget)

    def extra(self) -> dict[str, Any]:
        return self._extra() if self._extra else {}


def widget_box(w: tk.Misc | None) -> Box | None:
    """The screen box of a mapped widget, or None when it is not visible."""
    if w is None:
        return None
    try:
        if not w.winfo_viewable():
            return None
        x, y = w.winfo_rootx(), w.winfo_rooty()
        return (x, y, x + w.winfo_width(), y + w.winfo_height())
    except tk.TclError:
        return None


class TkApp:
    """Base class: subclasses set ``name``, ``strings``, ``size`` and implement ``build`` and ``state``."""

    name = "app"
    strings: dict[str, dict[str, str]] = {"en": {"title": "App"}}
    size = (640, 480)
    position = (40, 40)

    def __init__(self, argv: list[str] | None = None) -> None:
        parser = argparse.ArgumentParser(prog=f"python -m tasks.apps.{self.name}")
        parser.add_argument("--state", required=True, help="file the app rewrites with its state")
        parser.add_argument("--lang", choices=sorted(self.strings), default="en")
        parser.add_argument("--position", default=None, help="window position X,Y in screen pixels")
        self.add_arguments(parser)
        self.args = parser.parse_args(argv)
        self.lang: str = self.args.lang
        self.state_path: str = self.args.state
        if self.args.position:
            x, y = (int(v) for v in self.args.position.split(","))
            self.position = (x, y)
        self._widgets: dict[str, Widget] = {}
        self._fonts: dict[tuple[str, int, str], tkfont.Font] = {}
        self._overlays: dict[str, tuple[tk.Misc, int]] = {}
        self._pending = False
        self._mapped = False
        self._last_written: str | None = None

        self.root = tk.Tk(className="Screenact")
        self._setup_fonts()
        self.root.title(self.t("title"))
        w, h = self.size
        self.root.geometry(f"{w}x{h}+{self.position[0]}+{self.position[1]}")
        self.root.resizable(False, False)
        self.root.protocol("WM_DELETE_WINDOW", self.quit)
        self.releases = 0  # mouse button releases handled (wheel clicks included)
        self.build()
        self.root.bind("<Map>", self._on_map, add="+")
        self.root.bind("<Configure>", lambda e: self.changed(), add="+")
        self.root.bind_all("<ButtonRelease>", self._on_release, add="+")
        self.root.bind_all("<FocusIn>", lambda e: self.changed(), add="+")
        self.root.bind_all("<FocusOut>", lambda e: self.changed(), add="+")
        self.write_state()  # ready: false until the window is on screen

    # -- for subclasses -------------------------------------------------------------------------
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare app-specific options."""

    def build(self) -> None:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        raise NotImplementedError

    def t(self, key: str) -> str:
        """The UI string ``key`` in the app's language."""
        return self.strings[self.lang].get(key) or self.strings["en"][key]

    # -- fonts ----------------------------------------------------------------------------------
    @property
    def family(self) -> str:
        return CJK_FAMILY if self.lang == "zh" else LATIN_FAMILY

    def font(self, size: int = FONT_PX, weight: str = "normal", family: str | None = None) -> tkfont.Font:
        """A font of ``size`` pixels in the app's family (one object per distinct font)."""
        key = (family or self.family, size, weight)
        if key not in self._fonts:
            self._fonts[key] = tkfont.Font(root=self.root, family=key[0], size=-size, weight=weight)
        return self._fonts[key]

    def _setup_fonts(self) -> None:
        for name in ("TkDefaultFont", "TkTextFont", "TkMenuFont", "TkHeadingFont", "TkCaptionFont",
                     "TkSmallCaptionFont", "TkIconFont", "TkTooltipFont"):
            tkfont.nametofont(name, root=self.root).configure(family=self.family, size=-FONT_PX,
                                                              weight="normal", slant="roman")
        tkfont.nametofont("TkFixedFont", root=self.root).configure(family=MONO_FAMILY, size=-FONT_PX)
        self.root.option_add("*insertOffTime", 0)  # a steady caret: the screen settles
        self.root.option_add("*Menu.tearOff", 0)
        style = ttk.Style(self.root)
        style.theme_use("clam")
        for cls in ("TEntry", "Entry"):  # Ctrl+A selects everything in a field, as on most desktops
            self.root.bind_class(cls, "<Control-a>", _select_all_entry)

    # -- the registry ---------------------------------------------------------------------------
    def register(self, wid: str, role: str, widget: tk.Misc | None = None, label: str | Callable[[], str] | None = None,
                 box: Callable[[], Box | None] | None = None, extra: Callable[[], dict[str, Any]] | None = None) -> None:
        """Publish a widget under ``wid``; ``label`` defaults to the widget's ``text`` option."""
        self._widgets[wid] = Widget(wid, role, widget, label, box, extra)
        if widget is not None:
            widget.bind("<Map>", lambda e: self.changed(), add="+")
            widget.bind("<Unmap>", lambda e: self.changed(), add="+")

    def button_row(self, parent: tk.Misc, buttons: list[tuple[str, str, Callable[[], Any]]], gap: int) -> ttk.Frame:
        """A frame of buttons side by side, ``gap`` px apart: each ``(id, text key, command)`` is registered."""
        row = ttk.Frame(parent)
        for i, (wid, key, command) in enumerate(buttons):
            button = ttk.Button(row, text=self.t(key), command=command)
            button.pack(side="left", padx=(0, gap) if i < len(buttons) - 1 else 0)
            self.register(wid, "button", button)
        return row

    def link_label(self, label: tk.Misc, field: tk.Misc) -> None:
        """Clicking a field's label puts the cursor in the field (as an HTML ``<label for>``): a
        grounder that finds the label's text can then type into the field."""
        def focus(_event: tk.Event) -> None:
            field.focus_set()
            field.icursor("end")  # type: ignore[attr-defined]

        label.bind("<Button-1>", focus, add="+")

    def unregister(self, prefix: str) -> None:
        """Remove every widget whose id starts with ``prefix``."""
        for wid in [w for w in self._widgets if w.startswith(prefix)]:
            del self._widgets[wid]
        self.changed()

    def register_menu(self, prefix: str, menu: tk.Menu, ids: list[str]) -> None:
        """Publish each entry of ``menu`` (entry i as ``prefix + ids[i]``) while the menu is posted."""
        for i, wid in enumerate(ids):
            self.register(prefix + wid, "menuitem", None, label=lambda i=i: str(menu.entrycget(i, "label")),
                          box=lambda i=i: menu_entry_box(menu, i))
            self._widgets[prefix + wid].layer = menu
        self.register_overlay(menu, 2)
        menu.bind("<Map>", lambda e: self.changed(), add="+")
        menu.bind("<Unmap>", lambda e: self.changed(), add="+")

    def register_overlay(self, window: tk.Misc, rank: int) -> None:
        """A window drawn above the main one (a dialog: rank 1, a posted menu: rank 2): widgets of lower
        ranks that it covers are not listed while it is on screen."""
        self._overlays[str(window)] = (window, rank)

    def _rank(self, w: Widget) -> int:
        layer = w.layer
        if layer is None and w.widget is not None:
            try:
                layer = w.widget.winfo_toplevel()
            except tk.TclError:
                return 0
        entry = self._overlays.get(str(layer)) if layer is not None else None
        return entry[1] if entry else 0

    def widgets(self) -> list[dict[str, Any]]:
        covers = []
        for name, (window, rank) in list(self._overlays.items()):
            box = widget_box(window)
            if box is not None:
                covers.append((box, rank))
        out = []
        for w in self._widgets.values():
            box = w.box()
            if box is None or box[2] <= box[0] or box[3] <= box[1]:
                continue
            rank = self._rank(w)
            if any(r > rank and _overlap(box, c) for c, r in covers):
                continue
            out.append({"id": w.id, "role": w.role, "label": w.label(), "bbox": list(box), **w.extra()})
        return out

    def focus_id(self) -> str | None:
        try:
            focused = self.root.focus_get()
        except (tk.TclError, KeyError):  # focus in a popdown Tk does not map back to a Python object
            return None
        if focused is None:
            return None
        for w in self._widgets.values():
            if w.widget is focused:
                return w.id
        return str(focused)

    # -- the state file -------------------------------------------------------------------------
    def changed(self) -> None:
        """Something changed: rewrite the state file once the event queue is idle."""
        if not self._pending:
            self._pending = True
            self.root.after_idle(self.write_state)

    def _on_release(self, _event: tk.Event) -> None:
        self.releases += 1
        self.changed()

    def _on_map(self, event: tk.Event) -> None:
        if event.widget is self.root:
            self._mapped = True
        self.changed()

    def write_state(self) -> None:
        self._pending = False
        try:
            self.root.update_idletasks()  # geometry first: boxes must be final
        except tk.TclError:
            return
        doc = {
            "app": self.name,
            "lang": self.lang,
            "ready": bool(self._mapped and self.root.winfo_viewable()),
            "state": self.state(),
            "focus": self.focus_id(),
            "input": {"releases": self.releases},
            "widgets": self.widgets(),
        }
        text = json.dumps(doc, ensure_ascii=False, indent=1)
        if text == self._last_written:
            return
        directory = os.path.dirname(os.path.abspath(self.state_path))
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, f".{os.path.basename(self.state_path)}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.state_path)
        self._last_written = text

    # -- running --------------------------------------------------------------------------------
    def quit(self) -> None:
        self.root.destroy()

    def run(self) -> None:
        self.root.mainloop()


def _select_all_entry(event: tk.Event) -> str:
    event.widget.selection_range(0, "end")
    event.widget.icursor("end")
    return "break"


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def menu_entry_box(menu: tk.Menu, index: int) -> Box | None:
    """Screen box of entry ``index`` of a posted menu."""
    try:
        if not menu.winfo_ismapped():
            return None
        last = menu.index("end")
        if last is None or index > last:
            return None
        x0, y0 = menu.winfo_rootx(), menu.winfo_rooty()
        bd = menu.winfo_pixels(menu.cget("borderwidth"))
        top = menu.yposition(index)
        bottom = menu.yposition(index + 1) if index < last else menu.winfo_height() - bd
        return (x0 + bd, y0 + top, x0 + menu.winfo_width() - bd, y0 + bottom)
    except tk.TclError:
        return None


def main(app_class: type[TkApp], argv: list[str] | None = None) -> None:
    """Entry point of ``python -m tasks.apps.NAME``."""
    app = app_class(sys.argv[1:] if argv is None else argv)
    app.run()
