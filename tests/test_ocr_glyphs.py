"""Operator keys of the bundled calculator, on its real window: each found by its symbol and by its name.

The recogniser alone reads the calculator's "÷" as "+" (two suite tasks failed on it); the ink check
(:func:`agent.grounders.ocr.operator_glyph`) tells "÷", "+", "=" and "−" apart.
"""

from __future__ import annotations

import pytest

from agent.grounders.ocr import OCRGrounder, parse_target
from sandbox import Sandbox
from tasks import SUITE_DIR, load_task, run_setup
from tasks.setup import read_state
from tasks.solution import find_widget
from tools.settle import settle

pytest.importorskip("rapidocr_onnxruntime")

CASES = [  # (description, calculator widget)
    ("click the '÷' button", "button_divide"), ("the divide button", "button_divide"), ("点击 除 按钮", "button_divide"),
    ("click the '+' button", "button_plus"), ("the plus key", "button_plus"),
    ("click the '−' button", "button_minus"), ("the minus button", "button_minus"),
    ("click the '×' button", "button_multiply"), ("multiply", "button_multiply"),
    ("click the '=' button", "button_equals"), ("the equals button", "button_equals"),
    ("click the '4' button", "button_4"), ("click the '7' button", "button_7"),
]


@pytest.fixture(scope="module")
def calculator():
    """A settled frame of the calculator (the calc-hd-divide task's 1920×1080 screen) and its state."""
    task = load_task(SUITE_DIR / "calc-hd-divide.yaml")
    with Sandbox(task.screen.width, task.screen.height) as sb:
        run_setup(task, sb)
        frame = settle(sb.screenshot, quiet=0.2, timeout=5).frame
        yield frame, read_state(sb, task.apps()["calc"])


@pytest.fixture(scope="module")
def grounder():
    return OCRGrounder()  # one read of the frame, shared by every case


@pytest.mark.parametrize("description,widget", CASES)
def test_operator_key_is_found_by_symbol_and_name(calculator, grounder, description, widget):
    frame, state = calculator
    found = grounder.locate_sync(frame, description)
    x1, y1, x2, y2 = find_widget(state, widget)["bbox"]
    assert found.point is not None and x1 <= found.point.x < x2 and y1 <= found.point.y < y2, found.details


def test_operator_names_become_symbols():
    assert "÷" in parse_target("the divide button").texts
    assert "×" in parse_target("乘 按钮").texts
    assert parse_target("the Divide by zero label").texts[-1] != "÷"
