"""A small Tk window for the OCR grounder's tests: buttons and labelled entries in English and Chinese.

Usage: ``python tests/ocr_app.py BOXES.json``. Once the window is drawn, and again after every focus
change or key release, the app writes every widget's box in screen pixels to BOXES.json
(``{"ready": true, "screen": [w, h], "focus": id | null, "widgets": {id: {"text", "kind",
"box": [x1, y1, x2, y2], "value"?}}}``; written to a temporary file and renamed). The layout is
fixed and the fonts are named, so a screenshot is the same from run to run.
"""

import json
import os
import sys
import tkinter as tk
from tkinter import ttk

LATIN = ("DejaVu Sans", -15)
CJK = ("Noto Sans CJK SC", -15)

out = sys.argv[1]
root = tk.Tk()
root.title("ocr-app")
root.geometry("1000x620+140+90")
root.configure(bg="#ececec")
widgets: dict[str, tuple[tk.Widget, str, str]] = {}


def add(wid: str, widget: tk.Widget, kind: str, text: str, **place) -> tk.Widget:
    widget.place(**place)
    widgets[wid] = (widget, kind, text)
    return widget


def button(wid: str, text: str, x: int, y: int, font=LATIN) -> None:
    add(wid, tk.Button(root, text=text, font=font, padx=14, pady=4), "button", text, x=x, y=y)


def field(wid: str, text: str, x: int, y: int, font=LATIN, entry_x: int = 130, value: str = "",
          themed: bool = False) -> None:
    add(f"{wid}_label", tk.Label(root, text=text, font=font, bg="#ececec"), "label", text, x=x, y=y + 3)
    if themed:
        entry = ttk.Entry(root, font=font, width=28)
    else:
        entry = tk.Entry(root, font=font, width=28, relief="solid", bd=1, bg="white")
    entry.insert(0, value)
    add(f"{wid}_entry", entry, "entry", value, x=x + entry_x, y=y)


add("heading", tk.Label(root, text="Account settings", font=("DejaVu Sans", -24, "bold"), bg="#ececec"),
    "label", "Account settings", x=30, y=20)
field("name", "Name", 30, 90)
field("email", "Email", 30, 140, value="alice@example.com")
field("phone", "Phone number", 30, 190, entry_x=150)
field("company", "Company", 30, 240, themed=True)
field("cn_name", "姓名", 560, 90, font=CJK, entry_x=80)
field("cn_email", "邮箱地址", 560, 140, font=CJK, entry_x=80)
add("remember", tk.Checkbutton(root, text="Remember me", font=LATIN, bg="#ececec"), "checkbox", "Remember me",
    x=30, y=290)
button("save_as", "Save As…", 30, 350)
button("save", "Save", 200, 350)
button("cancel", "Cancel", 320, 350)
add("open_file", ttk.Button(root, text="Open File"), "button", "Open File", x=460, y=352)
button("cn_save", "保存", 560, 420, font=CJK)
button("cn_cancel", "取消", 680, 420, font=CJK)
for i, key in enumerate(["7", "8", "+", "−", "="]):  # lone glyphs, as on a calculator's keys
    button(f"key_{i}", key, 560 + 56 * i, 350)
    widgets[f"key_{i}"][0].configure(width=1, padx=10)
add("status", tk.Label(root, text="Ready to export the report", font=LATIN, bg="#ececec"), "label",
    "Ready to export the report", x=30, y=520)


def publish() -> None:
    boxes = {}
    for wid, (w, kind, text) in widgets.items():
        x, y = w.winfo_rootx(), w.winfo_rooty()
        boxes[wid] = {"text": text, "kind": kind, "box": [x, y, x + w.winfo_width(), y + w.winfo_height()]}
        if kind == "entry":
            boxes[wid]["value"] = w.get()
    focused = root.focus_get()
    focus = next((wid for wid, (w, _, _) in widgets.items() if w is focused), None)
    doc = {"ready": True, "screen": [root.winfo_screenwidth(), root.winfo_screenheight()], "focus": focus,
           "widgets": boxes}
    tmp = out + ".part"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False)
    os.replace(tmp, out)


def ready() -> None:
    root.update_idletasks()
    publish()


_pending = None


def on_configure(_event=None) -> None:
    # the window manager may move the window after it is first drawn: publish again once it settles
    global _pending
    if _pending is not None:
        root.after_cancel(_pending)
    _pending = root.after(100, ready)


root.bind("<Configure>", on_configure)
root.bind_all("<FocusIn>", lambda _e: root.after_idle(publish))
root.bind_all("<KeyRelease>", lambda _e: root.after_idle(publish))
root.after(200, lambda: root.after_idle(ready))
root.mainloop()
