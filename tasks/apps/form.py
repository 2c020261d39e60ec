"""A registration form: Name and Email fields, a Country dropdown, Plan radio buttons, a newsletter
checkbox, and Submit / Clear buttons. Submit records a submission when Name is filled in and Email
contains "@"; otherwise it shows an error and records nothing.

State: ``{"fields": {"name", "email", "country", "plan", "newsletter"}, "submissions": [...], "status"}``
where country and plan are codes ("jp", "pro"), independent of the UI language.

Test-only switch: the environment variable ``SCREENACT_TEST_FORM`` changes the app the way a new
version might, so replay tests can check that a regression is caught: ``move`` lists the countries in
reverse (Canada moves up the dropdown), ``rename`` renames the Submit button to "Send", ``broken``
makes a chosen country fall back to the first one (the feature is broken, the screen looks alike).
"""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk
import os
from typing import Any

from tasks.apps._base import TkApp, main

COUNTRIES = ["fr", "de", "jp", "cn", "br", "ca"]
PLANS = ["basic", "pro", "enterprise"]


class FormApp(TkApp):
    name = "form"
    size = (560, 460)
    strings = {
        "en": {
            "title": "Registration Form", "heading": "Register", "name": "Name:", "email": "Email:",
            "country": "Country:", "plan": "Plan:", "basic": "Basic", "pro": "Pro", "enterprise": "Enterprise",
            "newsletter": "Subscribe to newsletter", "submit": "Submit", "send": "Send", "clear": "Clear",
            "fr": "France", "de": "Germany", "jp": "Japan", "cn": "China", "br": "Brazil", "ca": "Canada",
            "status_new": "Not submitted yet", "status_ok": "Submitted: {name}",
            "status_name": "Error: the name is missing", "status_email": "Error: invalid email address",
        },
        "zh": {
            "title": "注册表单", "heading": "注册", "name": "姓名：", "email": "邮箱：",
            "country": "国家：", "plan": "套餐：", "basic": "基础版", "pro": "专业版", "enterprise": "企业版",
            "newsletter": "订阅新闻邮件", "submit": "提交", "send": "发送", "clear": "清空",
            "fr": "法国", "de": "德国", "jp": "日本", "cn": "中国", "br": "巴西", "ca": "加拿大",
            "status_new": "尚未提交", "status_ok": "已提交：{name}",
            "status_name": "错误：缺少姓名", "status_email": "错误：邮箱地址无效",
        },
    }

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", default="")
        parser.add_argument("--email", default="")
        parser.add_argument("--country", choices=COUNTRIES, default="fr")
        parser.add_argument("--plan", choices=PLANS, default="basic")
        parser.add_argument("--newsletter", action="store_true")

    def _variables(self) -> None:
        """The form's values, starting from the command line; every change is published."""
        a = self.args
        self.name_var = tk.StringVar(self.root, a.name)
        self.email_var = tk.StringVar(self.root, a.email)
        self.country_var = tk.StringVar(self.root, self.t(a.country))
        self.plan_var = tk.StringVar(self.root, a.plan)
        self.news_var = tk.BooleanVar(self.root, a.newsletter)
        self.submissions: list[dict[str, Any]] = []
        self.status_var = tk.StringVar(self.root, self.t("status_new"))
        for var in (self.name_var, self.email_var, self.country_var, self.plan_var, self.news_var, self.status_var):
            var.trace_add("write", lambda *_: self.changed())

    def build(self) -> None:
        self._variables()
        f = ttk.Frame(self.root, padding=20)
        f.pack(fill="both", expand=True)
        heading = ttk.Label(f, text=self.t("heading"), font=self.font(22, "bold"))
        heading.grid(row=0, column=0, columnspan=2, sticky="w", pady=(0, 16))
        self.register("heading", "label", heading)

        def field(row: int, key: str, var: tk.StringVar) -> None:
            label = ttk.Label(f, text=self.t(key))
            label.grid(row=row, column=0, sticky="w", pady=6)
            entry = ttk.Entry(f, textvariable=var, width=30)
            entry.grid(row=row, column=1, sticky="we", pady=6)
            self.link_label(label, entry)
            self.register(f"{key}_label", "label", label)
            self.register(f"{key}_entry", "entry", entry, label=self.t(key).rstrip(":："),
                          extra=lambda: {"value": var.get()})

        field(1, "name", self.name_var)
        field(2, "email", self.email_var)

        label = ttk.Label(f, text=self.t("country"))
        label.grid(row=3, column=0, sticky="w", pady=6)
        self.register("country_label", "label", label)
        switch = os.environ.get("SCREENACT_TEST_FORM", "")
        order = COUNTRIES[::-1] if switch == "move" else COUNTRIES
        names = [self.t(c) for c in order]
        menubutton = tk.OptionMenu(f, self.country_var, *names)
        menubutton.configure(width=14, anchor="w")
        menubutton.grid(row=3, column=1, sticky="w", pady=6)
        self.register("country_menu", "combobox", menubutton, extra=lambda: {"value": self.country()})
        self.register_menu("country_", menubutton["menu"], order)
        if switch == "broken":
            self.country_var.trace_add("write", lambda *_: self.root.after(50, self._fall_back))

        label = ttk.Label(f, text=self.t("plan"))
        label.grid(row=4, column=0, sticky="w", pady=6)
        self.register("plan_label", "label", label)
        radios = ttk.Frame(f)
        radios.grid(row=4, column=1, sticky="w", pady=6)
        for plan in PLANS:
            rb = ttk.Radiobutton(radios, text=self.t(plan), value=plan, variable=self.plan_var)
            rb.pack(side="left", padx=(0, 14))
            self.register(f"plan_{plan}", "radio", rb, extra=lambda p=plan: {"checked": self.plan_var.get() == p})

        cb = ttk.Checkbutton(f, text=self.t("newsletter"), variable=self.news_var)
        cb.grid(row=5, column=1, sticky="w", pady=6)
        self.register("newsletter_check", "checkbox", cb, extra=lambda: {"checked": bool(self.news_var.get())})

        submit = "send" if switch == "rename" else "submit"
        buttons = self.button_row(f, [("submit_button", submit, self.submit), ("clear_button", "clear", self.clear)],
                                  gap=12)
        buttons.grid(row=6, column=1, sticky="w", pady=(16, 6))

        status = ttk.Label(f, textvariable=self.status_var)
        status.grid(row=7, column=0, columnspan=2, sticky="w", pady=(12, 0))
        self.register("status_label", "label", status, label=lambda: self.status_var.get())
        self.root.bind("<Return>", lambda e: self.submit())

    def _fall_back(self) -> None:
        """``SCREENACT_TEST_FORM=broken``: a chosen country does not stick."""
        if self.country_var.get() != self.t(self.args.country):
            self.country_var.set(self.t(self.args.country))

    def country(self) -> str:
        shown = self.country_var.get()
        return next((c for c in COUNTRIES if self.t(c) == shown), shown)

    def fields(self) -> dict[str, Any]:
        return {"name": self.name_var.get(), "email": self.email_var.get(), "country": self.country(),
                "plan": self.plan_var.get(), "newsletter": bool(self.news_var.get())}

    def submit(self) -> None:
        values = self.fields()
        if not values["name"].strip():
            self.status_var.set(self.t("status_name"))
        elif "@" not in values["email"]:
            self.status_var.set(self.t("status_email"))
        else:
            self.submissions.append(values)
            self.status_var.set(self.t("status_ok").format(name=values["name"]))
        self.changed()

    def clear(self) -> None:
        self.name_var.set("")
        self.email_var.set("")
        self.news_var.set(False)

    def state(self) -> dict[str, Any]:
        return {"fields": self.fields(), "submissions": self.submissions, "status": self.status_var.get()}


if __name__ == "__main__":
    main(FormApp)
