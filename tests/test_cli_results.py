"""Results are never lost or mislabelled: resume keeps every earlier result, the model and server used are
recorded, unusable replies are counted apart, and SIGTERM ends a run like Ctrl-C. Through the real
``screenact run`` in a subprocess against the real stub model server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.stub_openai import StubOpenAI
from tests.test_cli_checks import ROOT, screenact


def kimi(thought: str, code: str) -> str:
    return f"◁think▷{thought}◁/think▷## Action:\n{thought}\n\n## Code:\n```python\n{code}\n```"


GIVE_UP = kimi("This cannot be done here.", "FAIL")


def test_resume_keeps_earlier_results_and_the_model_and_server_are_recorded(tmp_path):
    out = tmp_path / "run"
    replies = ["I am not sure what to do.", GIVE_UP]  # one unusable reply (no action), then an answer
    with StubOpenAI(replies) as stub:
        first = screenact("run", "suite", "--filter", "xterm-infeasible-gui", "--base-url", stub.base_url,
                          "--out", out)
    assert first.returncode == 0, first.stderr
    assert f"model Kimi-VL-A3B-Thinking at {stub.base_url}" in first.stderr  # found automatically, said once
    assert "requests time out after 300 s" in first.stderr
    with StubOpenAI(responder=lambda body: GIVE_UP) as stub2:
        second = screenact("run", "suite", "--filter", "xterm-mkdir", "--base-url", stub2.base_url, "--out", out,
                           "--resume")
    assert second.returncode == 1, second.stderr  # FAIL on a feasible task
    results = json.loads((out / "results.json").read_text())
    by_id = {t["id"]: t for t in results["tasks"]}
    assert set(by_id) == {"xterm-infeasible-gui", "xterm-mkdir"}, "the earlier task's result was dropped"
    assert by_id["xterm-infeasible-gui"]["status"] == "passed"
    assert by_id["xterm-infeasible-gui"]["steps"] == 1 and by_id["xterm-infeasible-gui"]["unusable"] == 1
    assert results["run"]["model"] == "Kimi-VL-A3B-Thinking" and results["run"]["base_url"] == stub2.base_url
    task = json.loads((out / "xterm-mkdir" / "task.json").read_text())
    assert task["model"] == "Kimi-VL-A3B-Thinking" and task["base_url"] == stub2.base_url
    report = (out / "report.html").read_text()
    assert "xterm-infeasible-gui" in report and stub2.base_url in report and "+1 unusable" in report
    assert stub2.base_url in (out / "xterm-mkdir" / "report.html").read_text()  # the episode's own page too
    assert "1 +1 unusable" in first.stdout  # the table's steps column


def test_sigterm_ends_a_run_like_ctrl_c_and_unstarted_tasks_are_not_failures(tmp_path):
    out = tmp_path / "run"
    slow = lambda body: (time.sleep(0.3), kimi("Look around.", "pyautogui.moveTo(x=0.5, y=0.5)"))[1]  # noqa: E731
    with StubOpenAI(responder=slow) as stub:
        proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "suite", "--filter", "xterm-",
                                 "--base-url", stub.base_url, "--out", str(out)],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(p.stat().st_size for p in out.glob("*/steps.jsonl")):
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    results = json.loads((out / "results.json").read_text())
    statuses = [t["status"] for t in results["tasks"]]
    assert statuses.count("cancelled") == 1 and statuses.count("not_started") == len(statuses) - 1, statuses
    summary = results["summary"]
    assert summary["failed"] == 0 and summary["cancelled"] == 1 and summary["not_started"] == len(statuses) - 1
    assert (out / "report.html").is_file()
    assert "1 cancelled" in stdout and "not started" in stdout
    assert f"continue: screenact run suite --mode auto --filter xterm- --base-url {stub.base_url} --out {out} --resume" \
        in stderr
