"""Long-running commands and what they started: a supervisor's SIGTERM cleans up like Ctrl-C, and
nothing a command started outlives it, SIGKILL of the command included. (``screenact ui`` and
``screenact serve`` have their own tests in test_ui_gate.py and test_serve.py.)"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import alive, wait_until
from tests.stub_openai import StubOpenAI
from tests.ui_harness import descendants

ROOT = Path(__file__).resolve().parent.parent
LOOK = ("◁think▷Look around.◁/think▷## Action:\nMove the pointer.\n## Code:\n```python\n"
        "pyautogui.moveTo(x=0.5, y=0.5)\n```")


def slow_look(body: dict) -> str:
    time.sleep(0.3)
    return LOOK


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_run_leaves_no_desktop_behind(tmp_path, sig):
    out = tmp_path / "run"
    with StubOpenAI(responder=slow_look, loop_replies=True) as stub:
        proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "suite", "--filter", "xterm-echo-file",
                                 "--base-url", stub.base_url, "--out", str(out)],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_until(lambda: any(p.read_bytes().count(b"\n") >= 1 for p in out.glob("*/steps.jsonl")), 90,
                   "a first recorded step")
        started = descendants(proc.pid)  # the desktop: bwrap, Xvfb, window manager, worker, the task's apps
        assert started
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
        wait_until(lambda: not any(alive(pid) for pid in started), 30, "every process of the run ending")
    if sig == signal.SIGTERM:  # cleaned up like Ctrl-C: the episode closed as cancelled, the run's results written
        assert proc.returncode == 130, stderr
        results = json.loads((out / "results.json").read_text())
        assert results["run"].get("interrupted") is True
        assert [t["status"] for t in results["tasks"]] == ["cancelled"]
