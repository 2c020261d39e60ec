"""``screenact run`` and ``demo`` end to end: real sandboxes, the real OCR grounder, a real stub model server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.cli import main
from agent.episode import load_episode
from tests.stub_openai import StubOpenAI

ROOT = Path(__file__).resolve().parent.parent
BAD = Path(__file__).resolve().parent / "corpus" / "tasks" / "bad"


def kimi(thought: str, code: str) -> str:
    return f"◁think▷{thought}◁/think▷## Action:\n{thought}\n\n## Code:\n```python\n{code}\n```"


def earlier_run(out: Path, outside: Path) -> None:
    """A finished run in ``out`` whose results name its episode, a symlink to ``outside`` and a path."""
    (out / "old-task").mkdir(parents=True)
    (out / "old-task" / "episode.json").write_text("{}")
    outside.mkdir()
    (outside / "keep.txt").write_text("not the run's")
    (out / "linked").symlink_to(outside)
    (out / "notes.txt").write_text("the user's own file")
    (out / "report.html").write_text("<p>old</p>")
    tasks = [{"id": "old-task"}, {"id": "linked"}, {"id": "../" + outside.name}]
    (out / "results.json").write_text(json.dumps({"run": {"mode": "scripted"}, "tasks": tasks}))


def test_scripted_run_with_the_ocr_grounder_passes_and_writes_everything(tmp_path, capsys):
    out = tmp_path / "run"
    earlier_run(out, tmp_path / "elsewhere")
    code = main(["run", "suite", "--mode", "scripted", "--grounder", "ocr", "--parallel", "2", "--out", str(out),
                 "--filter", "form-country-canada", "--overwrite"])
    assert code == 0, capsys.readouterr()
    # --overwrite removed the earlier run's episode, and only that: not through a symlink or a path
    assert not (out / "old-task").exists() and (out / "notes.txt").exists()
    assert (tmp_path / "elsewhere" / "keep.txt").exists() and (out / "linked").is_symlink()
    results = json.loads((out / "results.json").read_text())
    assert results["summary"] == {"passed": 1, "failed": 0, "errors": 0, "cancelled": 0, "not_started": 0, "skipped": 0,
                                  "total": 1, "pass_rate": 1.0}
    ep = load_episode(out / "form-country-canada")
    assert ep.complete, ep.problems
    assert ep.result["verdict"]["passed"] is True
    first = ep.steps[0]
    assert first.kind == "scripted" and first.grounding[0].grounder == "ocr"
    assert first.grounding[0].point is not None and first.executed[0].ok
    # What the grounder matched and where: the report draws these.
    assert first.grounding[0].matched and first.grounding[0].box and first.grounding[0].score
    assert (out / "report.html").exists()
    printed = capsys.readouterr().out
    assert "form-country-canada" in printed and "1/1 passed" in printed


def test_auto_mode_against_the_stub_model_and_resume(tmp_path, capsys):
    replies = [
        kimi("Focus the terminal.", "pyautogui.click(x=0.3, y=0.3)"),
        kimi("Write the file.", "pyautogui.write(\"echo 'hello from the terminal' > ~/hello.txt\\n\")"),
        kimi("Done.", "DONE"),
    ]
    out = tmp_path / "run"
    with StubOpenAI(replies) as stub:
        code = main(["run", "suite", "--filter", "xterm-echo-file", "--base-url", stub.base_url,
                     "--model", "Kimi-VL-A3B-Thinking", "--out", str(out)])
        assert code == 0, capsys.readouterr().err
        assert len(stub.chat_requests) == 3
    # --resume: the judged task is not run again; the others are (a model that always gives up).
    with StubOpenAI(responder=lambda body: kimi("This cannot be done.", "FAIL")) as stub:
        code = main(["run", "suite", "--filter", "xterm-", "--base-url", stub.base_url, "--out", str(out),
                     "--resume"])
        err = capsys.readouterr().err
        assert "already finished" in err
        asked = {json.dumps(r.body["messages"], ensure_ascii=False) for r in stub.chat_requests}
        assert not any("hello from the terminal" in m for m in asked)
    results = json.loads((out / "results.json").read_text())
    statuses = {t["id"]: t["status"] for t in results["tasks"]}
    assert statuses["xterm-echo-file"] == "passed"
    assert statuses["xterm-infeasible-gui"] == "passed"  # answered FAIL
    assert statuses["xterm-mkdir"] == "failed"  # FAIL on a feasible task
    assert code == 1  # some failed: exit 1


@pytest.mark.parametrize("name", ["bad-id.yaml", "checker-kind.yaml", "bad-action.yaml"])
def test_a_bad_task_file_is_exit_2_naming_the_file_and_nothing_runs(tmp_path, capsys, name):
    out = tmp_path / "run"
    code = main(["run", str(BAD / name), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and name in err and "field" in err
    assert not out.exists()


def test_bad_flags_are_exit_2(capsys):
    assert main(["run", "suite", "--parallel", "0"]) == 2
    assert main(["run", "suite", "--profile", "no-such-profile"]) == 2
    assert main(["run", "suite", "--filter", "no-such-task-anywhere"]) == 2
    err = capsys.readouterr().err
    assert "--parallel" in err and "no-such-profile" in err and "no-such-task-anywhere" in err


def test_ctrl_c_cancels_running_tasks_and_keeps_the_results(tmp_path):
    out = tmp_path / "run"
    with StubOpenAI(responder=lambda body: (time.sleep(0.3), kimi("Look around.", "pyautogui.moveTo(x=0.5, y=0.5)"))[1],
                    loop_replies=True) as stub:
        proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "suite", "--filter", "xterm-",
                                 "--base-url", stub.base_url, "--out", str(out), "--parallel", "2"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            steps = list(out.glob("*/steps.jsonl"))
            if steps and any(p.read_bytes().count(b"\n") >= 1 for p in steps):
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    results = json.loads((out / "results.json").read_text())
    assert results["run"].get("interrupted") is True
    statuses = [t["status"] for t in results["tasks"]]
    assert "cancelled" in statuses
    for task in results["tasks"]:
        folder = out / task["id"]
        if folder.exists():
            assert load_episode(folder).result is not None  # every started episode was closed properly
    from sandbox import sandbox_processes
    time.sleep(0.5)
    assert sandbox_processes() == {} or all(str(os.getpid()) not in v for v in sandbox_processes().values())


def test_scripted_mode_with_the_vlm_grounder_against_the_stub_model(tmp_path):
    """Scripted steps grounded by a VLM profile in grounding mode: the stub answers in Kimi-VL's ScreenSpot
    shape with the normalized centre of the widget the instruction names (read from the app's own boxes)."""
    import asyncio

    from agent.grounders import VLMGrounder
    from agent.models import OpenAIModel
    from agent.profiles import get_profile
    from agent.scripted import ScriptedRunner
    from sandbox import Sandbox
    from tasks import SUITE_DIR, check, load_task, run_setup

    task = load_task(Path(SUITE_DIR) / "form-country-canada.yaml")
    asked: list[str] = []
    with Sandbox(task.screen.width, task.screen.height) as sb:
        run_setup(task, sb)
        state = task.apps()["form"]

        def responder(body: dict) -> str:
            text = body["messages"][-1]["content"][-1]["text"]
            description = text.split("## Task Instruction:", 1)[1].strip().lower()
            asked.append(description)
            widgets = json.loads(sb.read_file(state))["widgets"]
            named = [w for w in widgets if w.get("label") and w["label"].lower() in description]
            w = max(named, key=lambda w: len(w["label"]))
            x1, y1, x2, y2 = w["bbox"]
            x, y = (x1 + x2) / 2 / sb.width, (y1 + y2) / 2 / sb.height
            return kimi(f"The element is at the {w['role']} labelled {w['label']}.",
                        f"pyautogui.click(x={x:.4f}, y={y:.4f})")

        with StubOpenAI(responder=responder) as stub:
            model = OpenAIModel(base_url=stub.base_url, model="Kimi-VL-A3B-Thinking")
            runner = ScriptedRunner(VLMGrounder(model, get_profile("kimi-vl-thinking")))
            outcome = asyncio.run(runner.run(task, sb, tmp_path / "ep"))
        verdict = check(task, sb, outcome.final_action)
    assert outcome.status == "done", outcome.reason
    assert verdict.passed, verdict.reason
    assert asked == ["'france'", "'canada'"]
    ep = load_episode(tmp_path / "ep")
    grounding = ep.steps[0].grounding[0]
    assert grounding.grounder.startswith("vlm") and "◁think▷" in grounding.reply
