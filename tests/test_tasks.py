"""The task model and loader, the step grammar, checker helpers and the OSWorld import (no desktop needed)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tasks import SUITE_DIR, Task, TaskFileError, load_suite, load_task, parse_step
from tasks.checkers import _MISSING, AllOf, AppState, Command, FileContains, FileEquals, Infeasible, _compare, lookup
from tasks.osworld import load_osworld
from tasks.steps import MAX_STEP_CHARS, StepParseError, guess_label, normalize_keys
from tasks.task import LaunchStep, TargetClick, TargetDrag, WaitFor, task_from_data
from tools.actions import Click, Fail, TypeText

CORPUS = Path(__file__).resolve().parent / "corpus" / "tasks"

# -- the suite ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def suite() -> list[Task]:
    return load_suite(SUITE_DIR)


def test_suite_size_and_coverage(suite):
    assert len(suite) >= 30
    assert len({t.id for t in suite}) == len(suite)
    apps = {s.app or s.argv[0] for t in suite for s in t.setup if isinstance(s, LaunchStep)}
    assert {"form", "editor", "todo", "calc", "settings", "xterm"} <= apps
    assert sum(t.infeasible for t in suite) >= 4
    zh = [t for t in suite if t.lang == "zh"]
    assert len(zh) >= 4 and all(re.search(r"[\u4e00-\u9fff]", t.instruction) for t in zh)
    typed = [a.text for t in suite for a in t.solution if isinstance(a, TypeText)]
    assert any(re.search(r"[\u4e00-\u9fff]", x) for x in typed), "some task must type CJK text"
    assert any(re.search(r"[À-ɏ]", x) for x in typed), "some task must type accented Latin text"
    assert any(t.screen.width == 1920 for t in suite) and any(t.screen.width == 1280 for t in suite)
    assert {"easy", "medium", "hard"} <= {tag for t in suite for tag in t.tags}


def test_every_task_is_complete(suite):
    for t in suite:
        assert t.solution, f"{t.id}: no reference solution"
        assert t.steps, f"{t.id}: no scripted steps"
        if t.infeasible:
            assert len(t.solution) == 1 and isinstance(t.solution[0], Fail), f"{t.id}: solution must be one fail"
            assert [s.kind for s in t.parsed_steps()] == ["fail"], f"{t.id}: the script must say fail"
            continue
        assert not isinstance(t.solution[-1], Fail)
        assert all(s.kind not in ("done", "fail") for s in t.parsed_steps())
        for step in t.parsed_steps():  # every step names its element by visible text
            if step.kind in ("click", "double_click", "right_click", "drag"):
                assert step.label, f"{t.id}: {step.raw!r} names no visible text"


def test_chinese_tasks_have_chinese_steps(suite):
    for t in suite:
        if t.lang == "zh" and t.steps:
            assert all(re.search(r"[\u4e00-\u9fff]", s) for s in t.steps), t.id


# -- loading ------------------------------------------------------------------------------------------


def test_json_and_yaml_load_the_same(tmp_path):
    data = {"id": "t1", "instruction": "Tick the box.", "steps": ["click the 'Subscribe to newsletter' checkbox"],
            "setup": [{"kind": "launch", "app": "form"}],
            "checker": {"kind": "app_state", "app": "form", "path": "fields.newsletter", "value": True},
            "solution": [{"type": "click", "target": "form:newsletter_check"}]}
    (tmp_path / "t.json").write_text(json.dumps(data))
    import yaml

    (tmp_path / "t.yaml").write_text(yaml.safe_dump(data))
    a, b = load_task(tmp_path / "t.json"), load_task(tmp_path / "t.yaml")
    assert a.model_dump() == b.model_dump()
    assert a.path == str(tmp_path / "t.json")
    assert a.max_steps == 15 and (a.screen.width, a.screen.height) == (1280, 800)
    assert a.apps() == {"form": "/tmp/screenact/form.json"}
    assert isinstance(a.solution[0], TargetClick)


def test_good_corpus_loads():
    tasks = load_suite(CORPUS / "good")
    assert [t.id for t in tasks] == ["json-task", "list-first", "list-second"]
    json_task = tasks[0]
    assert (json_task.screen.width, json_task.screen.height) == (1920, 1080)
    assert json_task.checker.kind == "any" and len(json_task.checker.checks) == 2
    assert tasks[1].checker.path == "/fields/newsletter"  # a JSON pointer
    with pytest.raises(TaskFileError, match="holds 2 tasks"):
        load_task(CORPUS / "good" / "two-tasks.yaml")


# file -> (field named in the message, value named in the message)
BAD_FILES = {
    "yaml-syntax.yaml": ("YAML syntax error at line", None),
    "json-syntax.json": ("JSON syntax error at line 1", None),
    "unknown-field.yaml": ("field 'colour'", "'blue'"),
    "checker-kind.yaml": ("field 'checker'", "file_looks_nice"),
    "missing-checker.yaml": ("field 'checker': Field required", "missing"),
    "wrong-type.json": ("field 'max_steps'", "'many'"),
    "step-grammar.yaml": ("field 'steps[1]'", "'dance around the Name field'"),
    "unknown-app-target.yaml": ("field 'solution[0].target'", "'editor:submit_button'"),
    "sleep-bound.yaml": ("field 'setup[0].sleep.seconds'", "60"),
    "bad-regex.yaml": ("field 'checker.file_regex.pattern'", "'([0-9]+'"),
    "not-a-mapping.yaml": ("expected a mapping", "'just a sentence, not a task'"),
    "empty.yaml": ("the file is empty", None),
    "launch-both.yaml": ("field 'setup[0].launch'", "xterm"),
    "bad-action.yaml": ("field 'solution[0]", "teleport"),
    "unknown-bundled-app.yaml": ("field 'setup[0].launch.app'", "'paint'"),
    "app-state-no-value.yaml": ("field 'checker.app_state'", "needs a 'value'"),
    "bad-id.yaml": ("field 'id'", "'has spaces in it'"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_names_file_field_and_value(name):
    path = CORPUS / "bad" / name
    with pytest.raises(TaskFileError) as info:
        load_task(path)
    message = str(info.value)
    field, value = BAD_FILES[name]
    assert message.startswith(str(path) + ":"), message
    assert field in message, message
    if value is not None:
        assert f"(value: " in message or "expected a mapping" in message, message
        assert value in message, message


def test_every_bad_file_is_covered():
    files = {p.name for p in (CORPUS / "bad").iterdir() if p.is_file()}
    assert files == set(BAD_FILES)


def test_duplicate_ids_in_a_suite():
    with pytest.raises(TaskFileError, match=r"two\.yaml: field 'id': task id 'same-id' is already used in .*one\.yaml"):
        load_suite(CORPUS / "bad" / "duplicate-ids")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(TaskFileError, match="no such file"):
        load_task(tmp_path / "nope.yaml")
    with pytest.raises(TaskFileError, match="no task files"):
        load_suite(tmp_path)
    (tmp_path / "t.txt").write_text("id: x")
    with pytest.raises(TaskFileError, match="unknown task file type '.txt'"):
        load_task(tmp_path / "t.txt")


def _task(**kw) -> dict:
    base = {"id": "t", "instruction": "x", "checker": {"kind": "infeasible"}}
    base.update(kw)
    return base


@pytest.mark.parametrize("data, fragment", [
    (_task(solution=[{"type": "fail"}, {"type": "click", "x": 1, "y": 2}]), "field 'solution[0].type': done and fail end"),
    (_task(setup=[{"kind": "launch", "app": "form"}, {"kind": "launch", "app": "form"}]), "field 'setup[1].name'"),
    (_task(setup=[{"kind": "launch", "argv": ["xterm"], "state": "/tmp/x.json"}]), "belong to bundled apps"),
    (_task(setup=[{"kind": "write_file", "path": "relative.txt", "content": ""}]), "absolute path"),
    (_task(setup=[{"kind": "write_file", "path": "/tmp/a", "content": "", "mode": "rwx"}]), "octal"),
    (_task(checker={"kind": "file_equals", "path": "/a", "text": "x", "expected_path": "/b"}), "exactly one of 'text'"),
    (_task(checker={"kind": "file_contains", "path": "/a"}), "must contain"),
    (_task(checker={"kind": "app_state", "state_file": "/s.json", "path": "x", "op": "length", "value": "3"}), "integer value"),
    (_task(checker={"kind": "all", "checks": []}), "field 'checker.all.checks'"),
    (_task(solution=[{"type": "drag", "from": "form:a", "to": "nowhere"}]), "a target is '<app>:<widget id>'"),
    (_task(steps=[]), "'steps' is empty"),
    (_task(steps=["fail: no", "press enter"]), "field 'steps[0]': done and fail end a script"),
    (_task(max_steps=0), "field 'max_steps'"),
    (_task(screen={"width": 10, "height": 800}), "field 'screen.width'"),
])
def test_invalid_tasks(data, fragment):
    with pytest.raises(TaskFileError) as info:
        task_from_data(data, "mem.yaml")
    assert fragment in str(info.value)
    assert str(info.value).startswith("mem.yaml: task 't' ")


def test_solution_steps_and_checkers_parse():
    t = task_from_data(_task(
        setup=[{"kind": "launch", "app": "settings", "name": "prefs", "state": "/tmp/prefs.json"},
               {"kind": "write_file", "path": "/tmp/a", "content": "x", "mode": "0600"}],
        checker={"kind": "all", "checks": [
            {"kind": "app_state", "app": "prefs", "path": "applied.volume", "op": "gte", "value": 60},
            {"kind": "command", "argv": ["true"], "stdout_contains": "ok"},
            {"kind": "file_contains", "path": "/tmp/a", "text": "x"}]},
        solution=[{"type": "drag", "from": "prefs:volume_slider", "to": "prefs:volume_tick_70"},
                  {"type": "wait_for", "target": "prefs:apply_button"},
                  {"type": "click", "target": "prefs:apply_button", "offset": [2, -1]},
                  {"type": "click", "x": 5, "y": 6, "clicks": 2}, {"type": "done"}]))
    assert t.apps() == {"prefs": "/tmp/prefs.json"}
    assert t.setup[1].mode == 0o600
    assert isinstance(t.checker, AllOf) and isinstance(t.checker.checks[0], AppState)
    assert isinstance(t.checker.checks[1], Command) and t.checker.checks[1].stdout_contains == ["ok"]
    assert isinstance(t.checker.checks[2], FileContains)
    drag, wait, click, raw, _ = t.solution
    assert isinstance(drag, TargetDrag) and drag.source == "prefs:volume_slider"
    assert isinstance(wait, WaitFor) and isinstance(click, TargetClick) and click.offset == (2, -1)
    assert isinstance(raw, Click) and raw.clicks == 2
    # a dumped task loads again (episodes store tasks as JSON)
    again = task_from_data(json.loads(t.model_dump_json()))
    assert again == t


def test_launch_command_uses_this_interpreter():
    import sys

    step = LaunchStep(kind="launch", app="todo", args=["--item", "a"])
    assert step.command() == [sys.executable, "-m", "tasks.apps.todo", "--state", "/tmp/screenact/todo.json", "--item", "a"]
    assert LaunchStep(kind="launch", argv=["{python}", "-V"]).command() == [sys.executable, "-V"]


# -- the step grammar ---------------------------------------------------------------------------------

GOOD_STEPS = [
    ("click the Save button", dict(kind="click", target="the Save button", label="Save")),
    ("Click on the 'Save As…' menu item", dict(kind="click", label="Save As…")),
    ("double-click 'Buy milk'", dict(kind="double_click", label="Buy milk")),
    ("double click the list", dict(kind="double_click", label="list")),
    ("right-click the text area", dict(kind="right_click", target="the text area")),
    ("type 'Alice' into the Name field", dict(kind="type", text="Alice", target="the Name field", label="Name")),
    ("type 'O'Brien' into the Name field", dict(kind="type", text="O'Brien", label="Name")),
    ('type "héllo 世界"', dict(kind="type", text="héllo 世界", target=None)),
    ("type “it's fine” in the Email field", dict(kind="type", text="it's fine", label="Email")),
    ("press ctrl+s", dict(kind="press", keys=["ctrl", "s"], amount=1)),
    ("press Ctrl + Shift + S", dict(kind="press", keys=["ctrl", "shift", "s"])),
    ("press Enter", dict(kind="press", keys=["enter"])),
    ("press the Escape key", dict(kind="press", keys=["esc"])),
    ("press Down 3 times", dict(kind="press", keys=["down"], amount=3)),
    ("press ctrl++", dict(kind="press", keys=["ctrl", "+"])),
    ("scroll down 5 times in the list", dict(kind="scroll", direction="down", amount=5, target="the list")),
    ("scroll up", dict(kind="scroll", direction="up", amount=1, target=None)),
    ("drag the Volume slider to 70", dict(kind="drag", label="Volume", to="70", to_label="70")),
    ("wait 2 seconds", dict(kind="wait", seconds=2.0)),
    ("wait 0.5", dict(kind="wait", seconds=0.5)),
    ("点击“提交”按钮", dict(kind="click", label="提交")),
    ("双击“买牛奶”", dict(kind="double_click", label="买牛奶")),
    ("右键点击文本区域", dict(kind="right_click", target="文本区域")),
    ("在“姓名”输入框中输入“张伟”", dict(kind="type", text="张伟", label="姓名")),
    ("输入“你好”到文本区域", dict(kind="type", text="你好", target="文本区域")),
    ("输入“今天天气很好。”", dict(kind="type", text="今天天气很好。", target=None)),
    ("按 ctrl+s", dict(kind="press", keys=["ctrl", "s"])),
    ("按回车键", dict(kind="press", keys=["enter"])),
    ("按 Tab 键 2 次", dict(kind="press", keys=["tab"], amount=2)),
    ("向下滚动3次", dict(kind="scroll", direction="down", amount=3)),
    ("在列表中向上滚动", dict(kind="scroll", direction="up", target="列表")),
    ("将音量滑块拖动到“70”", dict(kind="drag", label="音量", to_label="70")),
    ("等待2秒", dict(kind="wait", seconds=2.0)),
    ("done", dict(kind="done", text=None)),
    ("Done: 42", dict(kind="done", text="42")),
    ("fail: the app has no such option", dict(kind="fail", text="the app has no such option")),
    ("give up: too hard", dict(kind="fail", text="too hard")),
    ("无法完成：没有这个选项", dict(kind="fail", text="没有这个选项")),
    ("完成", dict(kind="done")),
]


@pytest.mark.parametrize("text, expected", GOOD_STEPS)
def test_step_grammar(text, expected):
    step = parse_step(text)
    assert step.raw == text
    for key, value in expected.items():
        assert getattr(step, key) == value, (key, step)


@pytest.mark.parametrize("text, fragment", [
    ("jump around", "is not a step"),
    ("type Alice into the Name field", "put the text to type in quotes"),
    ("type 'abc", "not closed"),
    ("type '' into x", "empty"),
    ("type 'a' onto the field", "into <field>"),
    ("press hyper+q", "unknown key 'hyper'"),
    ("click", "is not a step"),
    ("wait 100 seconds", "between 0 and 30"),
    ("press a 500 times", "between 1 and 50"),
    ("failure is not an option", "is not a step"),
    ("", "non-empty"),
])
def test_bad_steps(text, fragment):
    with pytest.raises(StepParseError, match=re.escape(fragment)):
        parse_step(text)


def test_helpers_of_the_grammar():
    assert normalize_keys("Control+Alt+Delete") == ["ctrl", "alt", "delete"]
    assert normalize_keys("PgDn") == ["pagedown"]
    assert normalize_keys("F5") == ["f5"]
    assert guess_label("the Name field") == "Name"
    assert guess_label("“提交”按钮") == "提交"
    assert guess_label("姓名输入框") == "姓名"
    assert guess_label("Country dropdown") == "Country"


# -- checker helpers ------------------------------------------------------------------------------------


def test_lookup_paths():
    doc = {"items": [{"text": "a/b", "done": False}], "a~b": 1}
    assert lookup(doc, "items.0.text") == "a/b"
    assert lookup(doc, "items.-1.done") is False
    assert lookup(doc, "/items/0/text") == "a/b"
    assert lookup(doc, "/a~0b") == 1
    assert lookup(doc, "items.1") is _MISSING and lookup(doc, "nope.x") is _MISSING
    assert lookup(doc, "items.x") is _MISSING


@pytest.mark.parametrize("op, found, expected, result", [
    ("equals", True, True, True), ("equals", 1, True, False), ("equals", [1, 2], [1, 2], True),
    ("not_equals", "a", "b", True), ("contains", "hello", "ell", True), ("contains", [1, 2], 3, False),
    ("not_contains", ["x"], "y", True), ("matches", "v1.2", r"\d\.\d", True), ("in", "b", ["a", "b"], True),
    ("gte", 70, 60, True), ("lte", 70, 60, False), ("gte", "x", 1, False), ("length", [1, 2], 2, True),
    ("exists", _MISSING, None, False), ("absent", _MISSING, None, True), ("equals", _MISSING, None, False),
])
def test_compare_ops(op, found, expected, result):
    assert _compare(op, found, expected) is result


# -- OSWorld import -------------------------------------------------------------------------------------


def test_osworld_import():
    tasks, skipped = load_osworld(CORPUS / "osworld")
    by_id = {t.id: t for t in tasks}
    assert len(tasks) == 7 and len(skipped) == 5
    compare = by_id["5c1e8f3a-0b7d-4c55-9a1e-3f2d6b7c8a90"]
    assert isinstance(compare.checker, FileEquals)
    assert compare.checker.path == "/home/user/Desktop/greeting.txt" and compare.home == "/home/user"  # kept as is
    assert compare.checker.expected_path == "/tmp/expected_greeting.txt" and compare.checker.normalize == "blanks"
    # first: ~/Desktop and the XDG folders; last: the expected file leaves the sandbox before the agent starts
    assert [s.kind for s in compare.setup] == ["run", "run", "run", "sleep", "hold_file"]
    assert "/home/user/Desktop" in compare.setup[0].argv
    assert compare.setup[2].argv[:2] == ["sh", "-c"] and compare.setup[2].check is False
    assert (compare.screen.width, compare.screen.height) == (1920, 1080)
    assert "osworld" in compare.tags and "terminal" in compare.tags
    cmd = by_id["8a0d9c21-6e4b-4f3e-b1c7-2d5e9f0a1b34"].checker
    assert isinstance(cmd, Command) and cmd.stdout_contains == ["reports"] and cmd.stdout_excludes == ["No such file"]
    assert cmd.exit_code is None
    assert isinstance(by_id["c3f1a2b4-7d8e-4a9b-8c0d-1e2f3a4b5c6d"].checker, FileContains)
    exact = by_id["e7b6c5d4-3a2b-4c1d-9e8f-7a6b5c4d3e2f"].checker
    assert isinstance(exact, Command) and exact.stdout_equals == "dark"
    assert isinstance(by_id["0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b"].checker, Infeasible)
    multi = by_id["a1b2c3d4-e5f6-4789-8abc-def012345678"]
    assert isinstance(multi.checker, AllOf) and len(multi.checker.checks) == 2
    assert multi.setup[1].argv == ["xterm"]
    reasons = {s.id: s.reason for s in skipped}
    assert "'is_expected_tabs' has no equivalent" in reasons["11111111-aaaa-4bbb-8ccc-000000000001"]
    assert "cloud" in reasons["11111111-aaaa-4bbb-8ccc-000000000002"]
    assert "download: file not in the cache" in reasons["11111111-aaaa-4bbb-8ccc-000000000003"]
    assert "open: no application for .docx files" in reasons["11111111-aaaa-4bbb-8ccc-000000000005"]
    post = by_id["11111111-aaaa-4bbb-8ccc-000000000004"]  # postconfig runs before the check
    assert [s.argv for s in post.before_check] == [["pkill", "gedit"]]
    assert "no 'id'" in reasons[None]


def test_osworld_single_file_and_bad_json(tmp_path):
    tasks, skipped = load_osworld(CORPUS / "osworld" / "infeasible.json")
    assert len(tasks) == 1 and not skipped
    (tmp_path / "broken.json").write_text("{")
    tasks, skipped = load_osworld(tmp_path)
    assert not tasks and "not readable JSON" in skipped[0].reason


# A task file is hostile: a step shaped to make the step patterns backtrack must not hang the loader.
BACKTRACK_SHAPES = [(verb, fill) for verb in ("在", "将", "按", "向下滚动在", "点击", "drag", "drag x", "press x",
                                              "type 'a' into", "scroll up in")
                    for fill in (" ", "\t", "1", " to", " 中", "“", "'")]


def test_steps_shaped_to_backtrack_parse_in_linear_time():
    """Hang detector, not a timing target: the old patterns needed minutes to hours for these shapes."""
    code = ("import sys, json\nfrom tasks.steps import parse_step, StepParseError\n"
            "for verb, fill in json.loads(sys.argv[1]):\n"
            f"    s = verb + (fill * {MAX_STEP_CHARS})[:{MAX_STEP_CHARS} - len(verb) - 1] + 'x'\n"
            "    try: parse_step(s)\n    except StepParseError: pass\n")
    subprocess.run([sys.executable, "-c", code, json.dumps(BACKTRACK_SHAPES)], check=True, timeout=60,
                   cwd=Path(__file__).resolve().parent.parent)


def test_a_step_longer_than_a_sentence_is_refused_naming_the_limit():
    from tasks.steps import MAX_STEP_CHARS

    with pytest.raises(StepParseError, match=f"at most {MAX_STEP_CHARS} characters"):
        parse_step("click " + "x" * MAX_STEP_CHARS)
