"""A pocket calculator: a display and buttons 0–9, + − × ÷, = and C, with exact arithmetic and
immediate execution (``2 + 3 × 4 =`` gives 20, as on a pocket calculator). The keyboard works too
(digits, + - * /, Enter or = and Escape).

State: ``{"display", "history": ["12×3=36", ...]}``.
"""

from __future__ import annotations

import tkinter as tk
from fractions import Fraction
from tkinter import ttk
from typing import Any

from tasks.apps._base import TkApp, main

LAYOUT = [["7", "8", "9", "÷"], ["4", "5", "6", "×"], ["1", "2", "3", "−"], ["C", "0", "=", "+"]]
OP_IDS = {"÷": "divide", "×": "multiply", "−": "minus", "+": "plus", "=": "equals", "C": "clear"}
KEYS = {"plus": "+", "minus": "−", "asterisk": "×", "slash": "÷", "Return": "=", "KP_Enter": "=", "equal": "=",
        "Escape": "C", "KP_Add": "+", "KP_Subtract": "−", "KP_Multiply": "×", "KP_Divide": "÷"}


def fmt(value: Fraction) -> str:
    """A number as the display shows it: integers exactly, other values to 10 significant digits."""
    if value.denominator == 1:
        return str(value.numerator)
    text = f"{float(value):.10g}"
    return text


class CalcApp(TkApp):
    name = "calc"
    size = (340, 372)
    strings = {"en": {"title": "Calculator"}, "zh": {"title": "计算器"}}

    def build(self) -> None:
        self.display_var = tk.StringVar(self.root, "0")
        self.history: list[str] = []
        self.acc: Fraction | None = None  # the left operand
        self.op: str | None = None  # the pending operator
        self.cur = ""  # digits of the operand being typed
        self.expr = ""  # what was typed since the last result, for the history
        self.evaluated = False  # the display shows a result
        f = ttk.Frame(self.root, padding=12)
        f.pack(fill="both", expand=True)
        display = tk.Label(f, textvariable=self.display_var, anchor="e", font=self.font(32), bg="white",
                           relief="sunken", bd=2, padx=10, pady=8)
        display.grid(row=0, column=0, columnspan=4, sticky="we", pady=(0, 12))
        self.register("display", "label", display, label=lambda: self.display_var.get())
        style = ttk.Style(self.root)
        style.configure("Calc.TButton", font=self.font(20), padding=(4, 14))
        for r, row in enumerate(LAYOUT, start=1):
            for c, sym in enumerate(row):
                b = ttk.Button(f, text=sym, width=3, style="Calc.TButton", command=lambda s=sym: self.press(s))
                b.grid(row=r, column=c, padx=3, pady=3, sticky="nsew")
                self.register(f"button_{OP_IDS.get(sym, sym)}", "button", b)
        for c in range(4):
            f.columnconfigure(c, weight=1)
        self.display_var.trace_add("write", lambda *_: self.changed())
        self.root.bind("<Key>", self.on_key)

    def on_key(self, event: tk.Event) -> None:
        if event.char and event.char in "0123456789":
            self.press(event.char)
        elif event.keysym in KEYS:
            self.press(KEYS[event.keysym])

    def press(self, sym: str) -> None:
        if sym == "C":
            self.acc, self.op, self.cur, self.expr, self.evaluated = None, None, "", "", False
            self.display_var.set("0")
        elif sym.isdigit():
            if self.evaluated:
                self.acc, self.expr, self.evaluated = None, "", False
            self.cur = (self.cur + sym).lstrip("0") or "0"
            self.expr += sym
            self.display_var.set(self.cur)
        elif sym == "=":
            if self.op is None or not self.cur:
                return
            expr = self.expr
            self.apply()
            self.history.append(f"{expr}={self.display_var.get()}")
            self.expr, self.op, self.cur, self.evaluated = self.display_var.get(), None, "", True
        elif not self.cur and self.op is not None:  # a second operator replaces the first
            self.op, self.expr = sym, self.expr[:-1] + sym
        else:
            if self.cur:
                self.apply()
            elif self.acc is None:  # an operator first: the displayed number is the left operand
                shown = self.display_var.get()
                self.acc = Fraction(shown) if shown != "Error" else Fraction(0)
                self.expr = fmt(self.acc)
            self.evaluated = False
            self.op, self.cur = sym, ""
            self.expr += sym
        self.changed()

    def apply(self) -> None:
        """Fold the typed operand into the left operand with the pending operator."""
        value = Fraction(self.cur)
        a, op = self.acc, self.op
        if a is None or op is None:
            self.acc = value
        elif op == "÷" and value == 0:
            self.acc = None
            self.display_var.set("Error")
            return
        else:
            self.acc = {"+": a + value, "−": a - value, "×": a * value, "÷": a / value if value else a}[op]
        self.display_var.set(fmt(self.acc))

    def state(self) -> dict[str, Any]:
        return {"display": self.display_var.get(), "history": self.history}


if __name__ == "__main__":
    main(CalcApp)
