"""A to-do list: a New task field with an Add button, a list (click selects, double-click toggles
done), and Mark Done / Delete buttons acting on the selected item. Eight rows are visible; longer
lists scroll (mouse wheel or the scroll bar).

State: ``{"items": [{"text", "done"}], "selected": index or null, "entry": str}``.
"""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk
from typing import Any

from tasks.apps._base import Box, TkApp, main

ROWS = 8
MARK = {False: "☐ ", True: "☑ "}


class TodoApp(TkApp):
    name = "todo"
    size = (520, 480)
    strings = {
        "en": {"title": "To-Do List", "heading": "My Tasks", "new": "New task:", "add": "Add",
               "done": "Mark Done", "delete": "Delete", "summary": "{n} items, {d} done"},
        "zh": {"title": "待办事项", "heading": "我的任务", "new": "新任务：", "add": "添加",
               "done": "标记完成", "delete": "删除", "summary": "共 {n} 项，已完成 {d} 项"},
    }

    def add_arguments(self, parser) -> None:
        parser.add_argument("--item", action="append", default=[], help="an initial item (repeatable)")
        parser.add_argument("--done", action="append", default=[], type=int, help="index of an initial item that is done")

    def build(self) -> None:
        self.items: list[dict[str, Any]] = [{"text": t, "done": i in self.args.done} for i, t in enumerate(self.args.item)]
        f = ttk.Frame(self.root, padding=20)
        f.pack(fill="both", expand=True)
        heading = ttk.Label(f, text=self.t("heading"), font=self.font(22, "bold"))
        heading.grid(row=0, column=0, columnspan=3, sticky="w", pady=(0, 12))
        self.register("heading", "label", heading)

        label = ttk.Label(f, text=self.t("new"))
        label.grid(row=1, column=0, sticky="w")
        self.entry_var = tk.StringVar(self.root, "")
        self.entry_var.trace_add("write", lambda *_: self.changed())
        entry = ttk.Entry(f, textvariable=self.entry_var, width=26)
        entry.grid(row=1, column=1, sticky="we", padx=8)
        entry.bind("<Return>", lambda e: self.add())
        add = ttk.Button(f, text=self.t("add"), command=self.add)
        add.grid(row=1, column=2, sticky="e")
        self.link_label(label, entry)
        self.register("new_label", "label", label)
        self.register("new_entry", "entry", entry, label=self.t("new").rstrip(":："), extra=lambda: {"value": self.entry_var.get()})
        self.register("add_button", "button", add)

        box = ttk.Frame(f)
        box.grid(row=2, column=0, columnspan=3, sticky="nsew", pady=12)
        self.listbox = tk.Listbox(box, height=ROWS, activestyle="none", exportselection=False,
                                  font=self.font(16), selectmode="browse", highlightthickness=1)
        scroll = ttk.Scrollbar(box, orient="vertical", command=self.listbox.yview)
        self.listbox.configure(yscrollcommand=lambda *a: (scroll.set(*a), self.changed()))
        self.listbox.pack(side="left", fill="both", expand=True)
        scroll.pack(side="right", fill="y")
        self.listbox.bind("<<ListboxSelect>>", lambda e: self.changed())
        self.listbox.bind("<Double-Button-1>", lambda e: self.toggle())
        self.register("list", "list", self.listbox, label="")
        self.register("scrollbar", "scrollbar", scroll, label="")

        buttons = self.button_row(f, [("done_button", "done", self.toggle), ("delete_button", "delete", self.delete)],
                                  gap=10)
        buttons.grid(row=3, column=0, columnspan=3, sticky="w")
        self.summary_var = tk.StringVar(self.root, "")
        summary = ttk.Label(f, textvariable=self.summary_var)
        summary.grid(row=4, column=0, columnspan=3, sticky="w", pady=(12, 0))
        self.register("summary_label", "label", summary, label=lambda: self.summary_var.get())
        f.columnconfigure(1, weight=1)
        self.refresh()

    def refresh(self, select: int | None = None) -> None:
        top = self.listbox.nearest(0) if self.items else 0
        self.listbox.delete(0, "end")
        for item in self.items:
            self.listbox.insert("end", MARK[item["done"]] + item["text"])
        self.listbox.yview(top)
        if select is not None and 0 <= select < len(self.items):
            self.listbox.selection_set(select)
            self.listbox.see(select)
        n, d = len(self.items), sum(i["done"] for i in self.items)
        self.summary_var.set(self.t("summary").format(n=n, d=d))
        # one registry entry per item that is (at least partly) visible
        self.unregister("item_")
        for i, item in enumerate(self.items):
            self.register(f"item_{i}", "listitem", None, label=item["text"], box=lambda i=i: self.row_box(i),
                          extra=lambda i=i: {"checked": self.items[i]["done"] if i < len(self.items) else False,
                                             "selected": self.selected() == i})
        self.changed()

    def row_box(self, i: int) -> Box | None:
        lb = self.listbox
        try:
            if not lb.winfo_viewable() or i >= lb.size():
                return None
            bbox = lb.bbox(i)
        except tk.TclError:
            return None
        if not bbox:
            return None
        x0, y0 = lb.winfo_rootx(), lb.winfo_rooty()
        inset = lb.winfo_pixels(lb.cget("borderwidth")) + lb.winfo_pixels(lb.cget("highlightthickness"))
        top, bottom = y0 + bbox[1], y0 + bbox[1] + bbox[3]
        if bottom > y0 + lb.winfo_height() - inset:  # the last row is cut off: not clickable as a whole
            return None
        return (x0 + inset, top, x0 + lb.winfo_width() - inset, bottom)

    def selected(self) -> int | None:
        sel = self.listbox.curselection()
        return int(sel[0]) if sel else None

    def add(self) -> None:
        text = self.entry_var.get().strip()
        if text:
            self.items.append({"text": text, "done": False})
            self.entry_var.set("")
            self.refresh()
            self.listbox.see(len(self.items) - 1)

    def toggle(self) -> None:
        i = self.selected()
        if i is not None:
            self.items[i]["done"] = not self.items[i]["done"]
            self.refresh(select=i)

    def delete(self) -> None:
        i = self.selected()
        if i is not None:
            del self.items[i]
            self.refresh(select=min(i, len(self.items) - 1) if self.items else None)

    def state(self) -> dict[str, Any]:
        return {"items": self.items, "selected": self.selected(), "entry": self.entry_var.get()}


if __name__ == "__main__":
    main(TodoApp)
