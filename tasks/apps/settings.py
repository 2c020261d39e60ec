"""A settings window: tabs General / Display / Sound (a ttk.Notebook) with check boxes, radio
buttons, a user name field and two sliders (Brightness, Volume: 0–100 in steps of 10, with the
values written under the slider; dragging the handle or clicking a value under it sets it). Changes take effect only when Apply is pressed; Reset returns
the controls to the applied values.

State: ``{"tab", "pending": {...}, "applied": {...}, "apply_count"}`` with keys username,
notifications, autostart, updates, theme ("light"/"dark"), brightness, volume, mute.
"""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk
from typing import Any

from tasks.apps._base import Box, TkApp, main

TABS = ["general", "display", "sound"]
DEFAULTS: dict[str, Any] = {"username": "user", "notifications": True, "autostart": False, "updates": True,
                            "theme": "light", "brightness": 50, "volume": 50, "mute": False}


class SettingsApp(TkApp):
    name = "settings"
    size = (600, 460)
    strings = {
        "en": {"title": "Settings", "general": "General", "display": "Display", "sound": "Sound",
               "username": "User name:", "notifications": "Enable notifications", "autostart": "Start at login",
               "updates": "Check for updates", "theme": "Theme:", "light": "Light", "dark": "Dark",
               "brightness": "Brightness", "volume": "Volume", "mute": "Mute", "apply": "Apply", "reset": "Reset",
               "applied": "Settings applied", "unsaved": "Unsaved changes", "clean": "No changes"},
        "zh": {"title": "设置", "general": "常规", "display": "显示", "sound": "声音",
               "username": "用户名：", "notifications": "启用通知", "autostart": "登录时启动",
               "updates": "检查更新", "theme": "主题：", "light": "浅色", "dark": "深色",
               "brightness": "亮度", "volume": "音量", "mute": "静音", "apply": "应用", "reset": "重置",
               "applied": "设置已应用", "unsaved": "有未应用的更改", "clean": "没有更改"},
    }

    def add_arguments(self, parser) -> None:
        parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                            help="initial value of a setting (e.g. volume=30, mute=true)")

    def _variables(self) -> None:
        """The settings, from the defaults and ``--set key=value``; every edit is published."""
        self.applied = dict(DEFAULTS)
        for item in self.args.set:
            key, _, value = item.partition("=")
            if key not in DEFAULTS:
                raise SystemExit(f"unknown setting {key!r}; known: {', '.join(DEFAULTS)}")
            default = DEFAULTS[key]
            self.applied[key] = (value.lower() in ("1", "true", "yes", "on")) if isinstance(default, bool) else type(default)(value)
        self.apply_count = 0
        self.vars: dict[str, tk.Variable] = {}
        for key, value in self.applied.items():
            var = {bool: tk.BooleanVar, int: tk.IntVar, str: tk.StringVar}[type(value)](self.root, value)
            var.trace_add("write", lambda *_: self.on_edit())
            self.vars[key] = var

    def build(self) -> None:
        self._variables()
        outer = ttk.Frame(self.root, padding=12)
        outer.pack(fill="both", expand=True)
        self.notebook = ttk.Notebook(outer)
        self.notebook.pack(fill="both", expand=True)
        pages = {}
        for tab in TABS:
            page = ttk.Frame(self.notebook, padding=16)
            self.notebook.add(page, text=self.t(tab))
            pages[tab] = page
            self.register(f"tab_{tab}", "tab", None, label=self.t(tab), box=lambda i=len(pages) - 1: self.tab_box(i))
        self.notebook.bind("<<NotebookTabChanged>>", lambda e: self.changed())

        g = pages["general"]
        label = ttk.Label(g, text=self.t("username"))
        label.grid(row=0, column=0, sticky="w", pady=6)
        entry = ttk.Entry(g, textvariable=self.vars["username"], width=24)
        entry.grid(row=0, column=1, sticky="w", pady=6, padx=8)
        self.link_label(label, entry)
        self.register("username_label", "label", label)
        self.register("username_entry", "entry", entry, label=self.t("username").rstrip(":："),
                      extra=lambda: {"value": self.vars["username"].get()})
        for row, key in enumerate(["notifications", "autostart", "updates"], start=1):
            self.check(g, key).grid(row=row, column=0, columnspan=2, sticky="w", pady=6)

        d = pages["display"]
        self.slider(d, "brightness").grid(row=0, column=0, sticky="w", pady=(0, 12))
        row = ttk.Frame(d)
        row.grid(row=1, column=0, sticky="w", pady=6)
        label = ttk.Label(row, text=self.t("theme"))
        label.pack(side="left", padx=(0, 12))
        self.register("theme_label", "label", label)
        for theme in ["light", "dark"]:
            rb = ttk.Radiobutton(row, text=self.t(theme), value=theme, variable=self.vars["theme"])
            rb.pack(side="left", padx=(0, 14))
            self.register(f"theme_{theme}", "radio", rb, extra=lambda t=theme: {"checked": self.vars["theme"].get() == t})

        s = pages["sound"]
        self.slider(s, "volume").grid(row=0, column=0, sticky="w", pady=(0, 12))
        self.check(s, "mute").grid(row=1, column=0, sticky="w", pady=6)

        bottom = ttk.Frame(outer)
        bottom.pack(fill="x", pady=(12, 0))
        self.status_var = tk.StringVar(self.root, self.t("clean"))
        status = ttk.Label(bottom, textvariable=self.status_var)
        status.pack(side="left")
        self.register("status_label", "label", status, label=lambda: self.status_var.get())
        reset = ttk.Button(bottom, text=self.t("reset"), command=self.reset)
        reset.pack(side="right")
        apply = ttk.Button(bottom, text=self.t("apply"), command=self.apply)
        apply.pack(side="right", padx=8)
        self.register("apply_button", "button", apply)
        self.register("reset_button", "button", reset)

    def check(self, parent: tk.Misc, key: str) -> ttk.Checkbutton:
        cb = ttk.Checkbutton(parent, text=self.t(key), variable=self.vars[key])
        self.register(f"{key}_check", "checkbox", cb, extra=lambda: {"checked": bool(self.vars[key].get())})
        return cb

    def slider(self, parent: tk.Misc, key: str) -> ttk.Frame:
        frame = ttk.Frame(parent)
        label = ttk.Label(frame, text=self.t(key))
        label.pack(anchor="w")
        scale = tk.Scale(frame, from_=0, to=100, resolution=10, tickinterval=10, orient="horizontal", length=440,
                         variable=self.vars[key], showvalue=True, sliderlength=24, width=16, highlightthickness=0,
                         font=self.font(13), bg=ttk.Style(self.root).lookup("TFrame", "background"))
        scale.pack(anchor="w")
        scale.bind("<Button-1>", lambda e: self.click_tick(scale, key, e))
        self.register(f"{key}_label", "label", label)
        self.register(f"{key}_slider", "slider", scale, label=self.t(key), box=lambda: self.handle_box(scale),
                      extra=lambda: {"value": int(self.vars[key].get())})
        self.register(f"{key}_value", "label", None, label=lambda: str(self.vars[key].get()),
                      box=lambda: self.value_box(scale))
        for v in range(0, 101, 10):
            self.register(f"{key}_tick_{v}", "label", None, label=str(v), box=lambda v=v: self.tick_box(scale, v))
        return frame

    # -- geometry of things Tk draws itself ------------------------------------------------------
    def handle_box(self, scale: tk.Scale) -> Box | None:
        if not scale.winfo_viewable():
            return None
        x, y = scale.coords()
        half_l, half_w = scale.winfo_pixels(scale.cget("sliderlength")) // 2, scale.winfo_pixels(scale.cget("width")) // 2
        rx, ry = scale.winfo_rootx(), scale.winfo_rooty()
        return (rx + x - half_l, ry + y - half_w, rx + x + half_l, ry + y + half_w)

    def value_box(self, scale: tk.Scale) -> Box | None:
        """The value Tk writes above the handle."""
        handle = self.handle_box(scale)
        if handle is None:
            return None
        font = self.font(13)
        w, h = font.measure(str(scale.get())), font.metrics("linespace")
        cx = (handle[0] + handle[2]) // 2
        return (cx - w // 2 - 1, handle[1] - h - 2, cx + (w + 1) // 2 + 1, handle[1] - 2)

    def tick_box(self, scale: tk.Scale, value: int) -> Box | None:
        if not scale.winfo_viewable():
            return None
        x, y = scale.coords(value)
        font = self.font(13)
        w = font.measure(str(value))
        top = y + scale.winfo_pixels(scale.cget("width")) // 2 + 2 * scale.winfo_pixels(scale.cget("borderwidth")) + 2
        rx, ry = scale.winfo_rootx(), scale.winfo_rooty()
        return (rx + x - w // 2 - 1, ry + top, rx + x + (w + 1) // 2 + 1, ry + top + font.metrics("linespace"))

    def tab_box(self, index: int) -> Box | None:
        nb = self.notebook
        if not nb.winfo_viewable():
            return None
        key = (nb.winfo_rootx(), nb.winfo_rooty(), nb.winfo_width(), nb.index("current"))
        if getattr(self, "_tab_key", None) != key:  # scan which pixels belong to which tab, once per layout
            found: dict[int, list[int]] = {}
            for y in range(0, 60, 2):
                for x in range(0, nb.winfo_width(), 2):
                    try:
                        i = int(nb.index(f"@{x},{y}")) if nb.identify(x, y) else -1
                    except (tk.TclError, ValueError):
                        continue
                    if i >= 0:
                        b = found.setdefault(i, [x, y, x, y])
                        b[0], b[1], b[2], b[3] = min(b[0], x), min(b[1], y), max(b[2], x), max(b[3], y)
            self._tab_key, self._tabs = key, found
        b = self._tabs.get(index)
        if b is None:
            return None
        return (key[0] + b[0], key[1] + b[1], key[0] + b[2] + 2, key[1] + b[3] + 2)

    def click_tick(self, scale: tk.Scale, key: str, event: tk.Event) -> str | None:
        """A click on the numbers under a slider moves it to the number clicked."""
        _, trough_y = scale.coords()
        if scale.identify(event.x, event.y) or event.y <= trough_y:
            return None  # the slider and the trough keep their usual behaviour
        value = float(scale.tk.call(str(scale), "get", event.x, int(trough_y)))  # the value at that x
        self.vars[key].set(int(round(value)))
        return "break"

    # -- behaviour ------------------------------------------------------------------------------
    def pending(self) -> dict[str, Any]:
        return {k: type(DEFAULTS[k])(v.get()) for k, v in self.vars.items()}

    def on_edit(self) -> None:
        self.status_var.set(self.t("unsaved") if self.pending() != self.applied else self.t("clean"))
        self.changed()

    def apply(self) -> None:
        self.applied = self.pending()
        self.apply_count += 1
        self.status_var.set(self.t("applied"))
        self.changed()

    def reset(self) -> None:
        for k, v in self.applied.items():
            self.vars[k].set(v)

    def state(self) -> dict[str, Any]:
        tab = TABS[self.notebook.index("current")] if self.notebook.tabs() else None
        return {"tab": tab, "pending": self.pending(), "applied": self.applied, "apply_count": self.apply_count}


if __name__ == "__main__":
    main(SettingsApp)
