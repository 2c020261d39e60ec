"""A plain text editor: a File menu (New, Save, Save As…), an Edit menu (Select All, Clear), a text
area, and a Save As dialog of its own (a file name field with Save and Cancel buttons). Files are
written as UTF-8 exactly as typed (no newline is added). Ctrl+S saves, Ctrl+Shift+S saves as.

State: ``{"path", "text", "modified", "saves": [{"path", "text"}], "dialog_open", "error"}``.
"""

from __future__ import annotations

import os
import tkinter as tk
from tkinter import ttk
from typing import Any

from tasks.apps._base import MONO_FAMILY, TkApp, main


class EditorApp(TkApp):
    name = "editor"
    size = (720, 520)
    strings = {
        "en": {
            "title": "Text Editor", "untitled": "untitled", "file": "File", "edit": "Edit", "new": "New",
            "save": "Save", "save_as": "Save As…", "select_all": "Select All", "clear": "Clear",
            "dialog": "Save As", "file_name": "File name:", "cancel": "Cancel", "saved": "Saved {path}",
            "modified": "Modified", "ready": "Ready", "no_folder": "Error: folder {path} does not exist",
            "no_name": "Error: enter a file name",
        },
        "zh": {
            "title": "文本编辑器", "untitled": "未命名", "file": "文件", "edit": "编辑", "new": "新建",
            "save": "保存", "save_as": "另存为…", "select_all": "全选", "clear": "清空",
            "dialog": "另存为", "file_name": "文件名：", "cancel": "取消", "saved": "已保存 {path}",
            "modified": "已修改", "ready": "就绪", "no_folder": "错误：文件夹 {path} 不存在",
            "no_name": "错误：请输入文件名",
        },
    }

    def add_arguments(self, parser) -> None:
        parser.add_argument("--file", default=None, help="open this UTF-8 file (it becomes the save path)")
        parser.add_argument("--dir", default=os.path.expanduser("~"), help="folder for relative file names")

    def build(self) -> None:
        self.path: str | None = None
        self.saves: list[dict[str, str]] = []
        self.error = ""
        self.dialog: tk.Toplevel | None = None
        initial = ""
        if self.args.file:
            self.path = os.path.abspath(self.args.file)
            if os.path.exists(self.path):
                with open(self.path, encoding="utf-8") as f:
                    initial = f.read()

        bar = ttk.Frame(self.root, padding=(4, 2))
        bar.pack(side="top", fill="x")
        file_btn = tk.Menubutton(bar, text=self.t("file"), padx=10, pady=3)
        file_btn.pack(side="left")
        file_menu = tk.Menu(file_btn)
        file_menu.add_command(label=self.t("new"), command=self.new)
        file_menu.add_command(label=self.t("save"), accelerator="Ctrl+S", command=self.save)
        file_menu.add_command(label=self.t("save_as"), accelerator="Ctrl+Shift+S", command=self.save_as)
        file_btn["menu"] = file_menu
        edit_btn = tk.Menubutton(bar, text=self.t("edit"), padx=10, pady=3)
        edit_btn.pack(side="left")
        edit_menu = tk.Menu(edit_btn)
        edit_menu.add_command(label=self.t("select_all"), accelerator="Ctrl+A", command=self.select_all)
        edit_menu.add_command(label=self.t("clear"), command=self.clear)
        edit_btn["menu"] = edit_menu
        self.register("file_menu", "menu", file_btn)
        self.register("edit_menu", "menu", edit_btn)
        self.register_menu("file_", file_menu, ["new", "save", "save_as"])
        self.register_menu("edit_", edit_menu, ["select_all", "clear"])

        self.status_var = tk.StringVar(self.root, self.t("ready"))
        status = ttk.Label(self.root, textvariable=self.status_var, padding=(8, 4))
        status.pack(side="bottom", fill="x")
        self.register("status_label", "label", status, label=lambda: self.status_var.get())

        self.text = tk.Text(self.root, wrap="word", undo=True, font=self.font(family=self.family if self.lang == "zh" else MONO_FAMILY),
                            padx=8, pady=8, highlightthickness=0)
        self.text.pack(side="top", fill="both", expand=True)
        self.text.insert("1.0", initial)
        self.text.edit_modified(False)
        self.text.mark_set("insert", "end-1c")
        self.text.focus_set()
        self.register("text_area", "text", self.text, label="", extra=lambda: {"value": self.content()})
        self.text.bind("<<Modified>>", self._on_modified)
        for seq in ("<Control-s>", "<Control-S>"):
            self.root.bind(seq, lambda e: (self.save_as() if e.state & 0x1 else self.save(), "break")[1])
        self.root.bind("<Control-a>", lambda e: (self.select_all(), "break")[1])
        self.text.bind("<Control-a>", lambda e: (self.select_all(), "break")[1])
        self._update_title()

    # -- editing ------------------------------------------------------------------------------
    def content(self) -> str:
        return self.text.get("1.0", "end-1c")

    def _on_modified(self, _event: tk.Event) -> None:
        if self.text.edit_modified():
            self.status_var.set(self.t("modified"))
        self._update_title()
        self.changed()

    def _update_title(self) -> None:
        name = os.path.basename(self.path) if self.path else self.t("untitled")
        mark = "*" if self.text.edit_modified() else ""
        self.root.title(f"{mark}{name} - {self.t('title')}")

    def new(self) -> None:
        self.text.delete("1.0", "end")
        self.path = None
        self.text.edit_modified(False)
        self._update_title()
        self.changed()

    def select_all(self) -> None:
        self.text.tag_add("sel", "1.0", "end-1c")
        self.text.mark_set("insert", "end-1c")

    def clear(self) -> None:
        self.text.delete("1.0", "end")

    # -- saving -------------------------------------------------------------------------------
    def save(self) -> None:
        if self.path is None:
            self.save_as()
        else:
            self.write(self.path)

    def write(self, path: str) -> bool:
        folder = os.path.dirname(path)
        if not os.path.isdir(folder):
            self.error = self.t("no_folder").format(path=folder)
            self.status_var.set(self.error)
            self.changed()
            return False
        text = self.content()
        tmp = os.path.join(folder, f".{os.path.basename(path)}.saving")
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
        self.path, self.error = path, ""
        self.saves.append({"path": path, "text": text})
        self.text.edit_modified(False)
        self.status_var.set(self.t("saved").format(path=path))
        self._update_title()
        self.changed()
        return True

    def save_as(self) -> None:
        if self.dialog is not None:
            self.dialog.lift()
            return
        x, y = self.root.winfo_rootx() + 160, self.root.winfo_rooty() + 150
        d = self.dialog = tk.Toplevel(self.root)
        d.title(self.t("dialog"))
        d.geometry(f"420x124+{x}+{y}")
        d.resizable(False, False)
        d.transient(self.root)
        d.protocol("WM_DELETE_WINDOW", self.close_dialog)
        self.register_overlay(d, 1)
        f = ttk.Frame(d, padding=16)
        f.pack(fill="both", expand=True)
        label = ttk.Label(f, text=self.t("file_name"))
        label.grid(row=0, column=0, sticky="w")
        self.name_var = tk.StringVar(d, "")
        self.name_var.trace_add("write", lambda *_: self.changed())
        entry = ttk.Entry(f, textvariable=self.name_var, width=30)
        entry.grid(row=0, column=1, sticky="we", padx=(8, 0))
        buttons = ttk.Frame(f)
        buttons.grid(row=1, column=0, columnspan=2, sticky="e", pady=(24, 0))
        save = ttk.Button(buttons, text=self.t("save"), command=self.dialog_save)
        save.pack(side="left", padx=(0, 8))
        cancel = ttk.Button(buttons, text=self.t("cancel"), command=self.close_dialog)
        cancel.pack(side="left")
        self.link_label(label, entry)
        self.register("dialog_label", "label", label)
        self.register("dialog_name_entry", "entry", entry, label=self.t("file_name").rstrip(":："),
                      extra=lambda: {"value": self.name_var.get()})
        self.register("dialog_save_button", "button", save)
        self.register("dialog_cancel_button", "button", cancel)
        entry.bind("<Return>", lambda e: self.dialog_save())
        d.bind("<Escape>", lambda e: self.close_dialog())
        d.bind("<Map>", lambda e: self.changed(), add="+")
        d.bind("<Configure>", lambda e: self.changed(), add="+")
        entry.focus_set()
        self.changed()

    def dialog_save(self) -> None:
        name = self.name_var.get().strip()
        if not name:
            self.error = self.t("no_name")
            self.status_var.set(self.error)
            self.changed()
            return
        path = os.path.join(self.args.dir, os.path.expanduser(name))
        if self.write(os.path.abspath(path)):
            self.close_dialog()

    def close_dialog(self) -> None:
        if self.dialog is not None:
            self.dialog.destroy()
            self.dialog = None
            self.unregister("dialog_")
            self.text.focus_set()

    def state(self) -> dict[str, Any]:
        return {"path": self.path, "text": self.content(), "modified": bool(self.text.edit_modified()),
                "saves": self.saves, "dialog_open": self.dialog is not None, "error": self.error}


if __name__ == "__main__":
    main(EditorApp)
