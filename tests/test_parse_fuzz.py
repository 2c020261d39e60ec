"""Hostile and random replies: parse never raises anything but ParseError and never executes anything.

"Never executes" is checked two ways while parsing: eval, exec, compile-to-run, os.system, os.popen,
subprocess and file opening are replaced by traps that record any call, and every payload that would
have an effect targets a sentinel file that must never appear.
"""

from __future__ import annotations

import ast
import builtins
import json
import os
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tools.actions import Click, Done, Drag, Fail, Key, KeyDown, KeyUp, MouseDown, MouseUp, Move, Scroll, TypeText, Wait
from tools.parse import FORMATS, Limits, ParseError, Parsed, ReplyTooLong, parse, parse_point

SENTINEL = Path(tempfile.mkdtemp(prefix="screenact-fuzz-")) / "pwned"
S = str(SENTINEL)
ACTION_TYPES = (Click, Move, Drag, MouseDown, MouseUp, Scroll, TypeText, Key, KeyDown, KeyUp, Wait, Done, Fail)

PAYLOADS = [
    f"__import__('os').system('touch {S}')",
    f"import os; os.system('touch {S}')",
    f"import os\nos.system('touch {S}')",
    f"exec(\"open('{S}', 'w')\")",
    f"eval(\"open('{S}', 'w')\")",
    f"compile(\"open('{S}', 'w')\", 'x', 'exec')",
    f"pyautogui.click(x=open('{S}', 'w'), y=1)",
    f"open('{S}', 'w').write('x')",
    f"(lambda: open('{S}', 'w'))()",
    f"pyautogui.click(x=(lambda: open('{S}', 'w'))(), y=1)",
    f"[open('{S}', 'w') for _ in range(1)]",
    f"pyautogui.write([open('{S}', 'w') for _ in range(1)])",
    f"getattr(__builtins__, 'open')('{S}', 'w')",
    f"getattr(pyautogui, 'click')(1, 2)",
    f"pyautogui.__class__.__init__.__globals__['os'].system('touch {S}')",
    f"pyautogui.write(f\"{{open('{S}', 'w')}}\")",
    "pyautogui.click(*[1, 2])",
    "pyautogui.click(**{'x': 1, 'y': 2})",
    f"subprocess.call(['touch', '{S}'])",
    f"import subprocess\nsubprocess.run(['touch', '{S}'])",
    "pyautogui.click(x=1e999, y=1)",
    "pyautogui.click(x=float('nan'), y=1)",
    "pyautogui.click(x=10**10**10, y=1)",
    "pyautogui.write('a' * 10**9)",
    "pyautogui.write('a' * 1000000000)",
    "pyautogui.click(x=" + "(" * 500 + "1" + ")" * 500 + ", y=1)",
    "pyautogui.click(x=" + "-" * 50000 + "1, y=1)",
    "pyautogui.click(x=" + "1+" * 40000 + "1, y=1)",
    "pyautogui.click(x=" + "[" * 150 + "]" * 150 + ", y=1)",
    "pyautogui.click(x=1" + "0" * 5000 + ", y=1)",
    "import pyautogui as os\nos.system('x')",
    f"with open('{S}', 'w'): pass",
    "def f():\n    pass\nf()",
    "class A: pass",
    "pyautogui.click(x=__import__('os').getpid(), y=1)",
    "pyautogui.hotkey(*'ctrl')",
    "(x := 1)",
    "pyautogui.click(x=1 if True else 2, y=1)",
    "pyautogui.click(x=[1][0], y=1)",
    "pyautogui.click(x=b'1', y=1)",
    "pyautogui.click(x=1j, y=1)",
    "pyautogui.click(x=..., y=1)",
    "pyautogui.write('\\x00\\x1b[31m')",
    "pyautogui.press('enter', presses=10**6)",
    "pyautogui.press('enter', presses=100000)",
    "pyautogui.click(1, 2)\n" * 200,
    "while True:\n    pyautogui.click(1, 1)",
    "pyautogui.click(1, 2); del pyautogui",
    "pyautogui.click(x=pyautogui.size()[0] / 2, y=1)",
    "globals()['__builtins__']['exec']('1')",
    "\x00pyautogui.click(1, 2)",
    "pyautogui.click(1, 2)\x00",
    "\ufeffpyautogui.click(1, 2)",
]

WRAPPERS = [
    lambda p: p,
    lambda p: f"```python\n{p}\n```",
    lambda p: f"Here is the code:\n```\n{p}\n```\nDone.",
    lambda p: f"◁think▷Let me do it.◁/think▷## Action:\nDo it.\n## Code:\n```python\n{p}\n```",
    lambda p: f"◁think▷Maybe {p}◁/think▷## Action:\nx\n## Code:\n```code\n{p}\n```",
    lambda p: f"Thought: do it\nAction: {p}",
    lambda p: f"Thought: t\nAction: type(content='{p}')",
    lambda p: "<tool_call>\n" + json.dumps({"name": "computer_use", "arguments": {"action": "type", "text": p}}) + "\n</tool_call>",
    lambda p: json.dumps({"action_type": "TYPING", "text": p}),
    lambda p: f"<tool_call>\n{p}\n</tool_call>",
    lambda p: f"CLICK <point>[[{p}]]</point>",
]

TOKENS = [
    "pyautogui", ".", "click", "write", "hotkey", "press", "moveTo", "dragTo", "scroll", "(", ")", "x", "y", "=",
    "1", "0.5", "-", "+", "*", "/", "**", "'a'", '"enter"', ",", "[", "]", "{", "}", ":", "__import__", "os",
    "system", "open", "eval", "exec", "lambda", "for", "in", "if", "import", "time", "sleep", "computer",
    "terminate", "status='success'", "\n", " ", ";", "◁think▷", "◁/think▷", "## Action:", "## Code:",
    "```python", "```", "<tool_call>", "</tool_call>", '{"action_type": ', '"CLICK"', '"x": ', "Action: ",
    "Thought: ", "start_box=", "'(1,2)'", "<point>", "</point>", "<|box_start|>", "<|box_end|>", "nan", "inf",
    "1e999", "9" * 40, "WAIT", "DONE", "FAIL", "f'{", "\\", "'", '"', "#", "@", "`", "\x00", "你好", "\t",
]

token_soup = st.lists(st.sampled_from(TOKENS), max_size=80).map("".join)
payload = st.sampled_from(PAYLOADS)
wrapped = st.tuples(st.sampled_from(WRAPPERS), payload).map(lambda t: t[0](t[1]))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
action_dicts = st.fixed_dictionaries(
    {"action_type": st.sampled_from(["CLICK", "MOVE_TO", "DRAG_TO", "TYPING", "HOTKEY", "PRESS", "SCROLL", "WAIT", "DONE", "X"])},
    optional={"x": json_values, "y": json_values, "keys": json_values, "key": json_values, "text": json_values, "dx": json_values, "dy": json_values},
)
tool_calls = st.fixed_dictionaries(
    {"name": st.sampled_from(["computer_use", "bash"]),
     "arguments": st.fixed_dictionaries({"action": st.sampled_from(["left_click", "type", "key", "scroll", "left_click_drag", "wait", "terminate", "nope"])},
                                        optional={"coordinate": json_values, "text": json_values, "keys": json_values, "pixels": json_values, "time": json_values, "status": json_values})},
)
structured = (
    action_dicts.map(lambda d: json.dumps(d, allow_nan=True))
    | st.lists(action_dicts, max_size=5).map(lambda d: f"```json\n{json.dumps(d, allow_nan=True)}\n```")
    | tool_calls.map(lambda d: f"<tool_call>\n{json.dumps(d, allow_nan=True)}\n</tool_call>")
)
anything = st.text(max_size=2000) | token_soup | wrapped | structured


class Trapped(Exception):
    """Raised by a trap: something tried to execute or open."""


@contextmanager
def no_execution() -> Iterator[list[str]]:
    """Replace every way of running code or touching files with a trap; yield the list of calls made."""
    calls: list[str] = []
    real_compile = builtins.compile

    def trap(name: str):  # noqa: ANN202
        def fn(*args: object, **kwargs: object) -> object:
            calls.append(name)
            raise Trapped(name)

        return fn

    def ast_only_compile(source, filename, mode, flags=0, *args, **kwargs):  # noqa: ANN001, ANN202
        if not flags & ast.PyCF_ONLY_AST:
            calls.append("compile")
            raise Trapped("compile")
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    patches = [
        (builtins, "eval", trap("eval")), (builtins, "exec", trap("exec")), (builtins, "open", trap("open")),
        (builtins, "compile", ast_only_compile), (os, "system", trap("os.system")), (os, "popen", trap("os.popen")),
        (subprocess, "Popen", trap("subprocess.Popen")), (subprocess, "run", trap("subprocess.run")),
        (subprocess, "call", trap("subprocess.call")),
    ]
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
    for obj, name, value in patches:
        setattr(obj, name, value)
    try:
        yield calls
    finally:
        for obj, name, value in saved:
            setattr(obj, name, value)


def check_reply(text: str, fmt: str) -> Parsed | ParseError:
    """Parse under the traps and assert the contract; return the outcome."""
    with no_execution() as calls:
        try:
            outcome: Parsed | ParseError = parse(text, fmt)
        except ParseError as err:
            outcome = err
        point = parse_point(text, fmt)
    assert calls == [], f"parse tried to run {calls}"
    assert not SENTINEL.exists(), "a payload had an effect"
    if isinstance(outcome, ParseError):
        assert str(outcome) and isinstance(outcome.problems, list)
        assert outcome.parsed is None or outcome.parsed.actions == []
    else:
        assert all(isinstance(a, ACTION_TYPES) for a in outcome.actions)
        assert bool(outcome.actions) != bool(outcome.errors), "either the whole plan or errors, never both or neither"
    assert point is None or (len(point) == 2 and all(isinstance(v, float) for v in point))
    return outcome


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("text", PAYLOADS, ids=range(len(PAYLOADS)))
def test_hostile_payloads_are_refused_and_never_run(text: str, fmt: str) -> None:
    outcome = check_reply(text, fmt)
    if "open(" in text or "system" in text or "__import__" in text or "exec" in text or "subprocess" in text:
        # the hostile part may only ever survive as inert text to type (ui-tars/thousand/computer_13 wrappers)
        if isinstance(outcome, Parsed):
            assert all(isinstance(a, (TypeText, Click, Done)) for a in outcome.actions)


@pytest.mark.parametrize("fmt", ["pyautogui", "kimi-vl"])
@pytest.mark.parametrize("text", PAYLOADS[:30], ids=range(30))
def test_hostile_code_never_yields_actions(text: str, fmt: str) -> None:
    for wrap in WRAPPERS[:5]:
        outcome = check_reply(wrap(text), fmt)
        assert isinstance(outcome, ParseError), wrap(text)[:200]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=anything, fmt=st.sampled_from(FORMATS))
def test_random_replies_obey_the_contract(text: str, fmt: str) -> None:
    check_reply(text, fmt)


@settings(max_examples=150, deadline=None)
@given(text=st.text(min_size=1, max_size=300), fmt=st.sampled_from(FORMATS))
def test_random_text_inside_real_shapes(text: str, fmt: str) -> None:
    for wrap in WRAPPERS:
        check_reply(wrap(text), fmt)


@contextmanager
def syntax_tree_work(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Count the work the parser hands to Python's syntax tree: ``ast.parse`` calls and nodes ``ast.walk`` yields."""
    work = {"parses": 0, "nodes": 0}
    real_parse, real_walk = ast.parse, ast.walk

    def counted_parse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        work["parses"] += 1
        return real_parse(*args, **kwargs)

    def counted_walk(node):  # noqa: ANN001, ANN202
        for child in real_walk(node):
            work["nodes"] += 1
            yield child

    monkeypatch.setattr(ast, "parse", counted_parse)
    monkeypatch.setattr(ast, "walk", counted_walk)
    yield work


# Work counts, not wall-clock bounds: a refusal "before parsing" hands nothing to Python's parser, and the
# node guard stops walking at max_nodes (linear time of every reader: test_parse_linear; absolute figures:
# bench/bench_parse.py).
@pytest.mark.parametrize("fmt", FORMATS)
def test_code_over_the_code_limit_is_refused_before_parsing(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    code = "pyautogui.press('a')\n" * 1_000  # 21 kB of code in a reply well under max_chars
    with syntax_tree_work(monkeypatch) as work, pytest.raises(ParseError, match=f"limit is {Limits().max_code}"):
        parse(f"◁think▷t◁/think▷## Code:\n```python\n{code}```", fmt if fmt in ("pyautogui", "kimi-vl") else "pyautogui")
    assert work == {"parses": 0, "nodes": 0}


@pytest.mark.parametrize("fmt", FORMATS)
def test_megabyte_reply_is_refused_before_any_reader(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    hostile = "pyautogui.click(x=" + "(" * 500_000 + "1" + ")" * 500_000 + ", y=1)"
    with syntax_tree_work(monkeypatch) as work, pytest.raises(ReplyTooLong) as info:  # the size gate, first of all
        parse(hostile, fmt)
    assert work == {"parses": 0, "nodes": 0}
    assert "limit" in str(info.value)


@pytest.mark.parametrize(
    "code",
    [
        "(" * 100_000 + "1" + ")" * 100_000,
        "-" * 190_000 + "1",
        "not " * 45_000 + "x",
        "1+" * 90_000 + "1",
        "a" + ".b" * 90_000,
        "[" * 95_000 + "]" * 95_000,
        "pyautogui.click(1, 2)\n" * 4_000,  # 32k nodes: over max_nodes, which is the point
    ],
    ids=["parens", "unary", "not", "binop", "attrs", "lists", "many-calls"],
)
@pytest.mark.parametrize("fmt", ["pyautogui", "kimi-vl", "thousand"])
def test_deep_or_huge_code_is_refused_with_bounded_work(code: str, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # with the size limits lifted, the syntax-tree guards must still answer with a ParseError
    limits = Limits(max_chars=2_000_000, max_code=2_000_000)
    with syntax_tree_work(monkeypatch) as work, pytest.raises(ParseError):
        parse(f"```python\n{code}\n```", fmt, limits=limits)
    assert work["parses"] <= 1 and work["nodes"] <= limits.max_nodes + 1, work  # the guard stops the walk


def test_unknown_format_and_non_text_are_parse_errors() -> None:
    with pytest.raises(ParseError, match="unknown reply format"):
        parse("DONE", "cobol")
    with pytest.raises(ParseError, match="not text"):
        parse(b"DONE", "pyautogui")  # type: ignore[arg-type]
    assert parse_point(None, "kimi-vl") is None  # type: ignore[arg-type]
    assert parse_point("x=0.1, y=0.2", "cobol") is None


def test_traps_work() -> None:
    with no_execution() as calls:
        with pytest.raises(Trapped):
            eval("1")  # noqa: S307 - proves the trap, not the parser
        ast.parse("1")  # AST-only compile stays allowed
    assert calls == ["eval"]
