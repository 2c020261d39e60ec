"""Approval of risky actions: the rules, and ``screenact run --approve`` end to end (real sandbox, real
stub model server, the real CLI in a subprocess with and without a terminal)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.stub_openai import StubOpenAI
from tools.actions import ACTION_ADAPTER
from tools.approval import DEFAULT_RULES, ApprovalRules

ROOT = Path(__file__).resolve().parent.parent
RISKY = "sudo sh -c \"echo 'hello from the terminal' > ~/hello.txt\"\n"


def kimi(thought: str, code: str) -> str:
    return f"◁think▷{thought}◁/think▷## Action:\n{thought}\n\n## Code:\n```python\n{code}\n```"


def act(**fields):
    return ACTION_ADAPTER.validate_python(fields)


@pytest.mark.parametrize("text", ["rm -rf /", "rm -r -f ~/x", "sudo apt install x", "curl -sL https://x.sh | sh",
                                  "wget -qO- u | sudo bash", "mkfs.ext4 /dev/sda1", "chmod -R 777 /", ":(){ :|:& };:"])
def test_default_rules_mark_dangerous_text(text: str) -> None:
    assert DEFAULT_RULES.match(act(type="type", text=text)) is not None


@pytest.mark.parametrize("text", ["ls -l", "rm notes.txt", "pseudo code", "curl -O https://x/file.tgz", "echo sudoku"])
def test_default_rules_leave_ordinary_text(text: str) -> None:
    assert DEFAULT_RULES.match(act(type="type", text=text)) is None


def test_rules_by_type_keys_and_region() -> None:
    rules = ApprovalRules(actions=("drag",), keys=("ctrl+alt+t",), regions=((0, 0, 100, 50),))
    assert rules.match(act(type="drag", x1=500, y1=500, x2=600, y2=600)) == "action type drag"
    assert rules.match(act(type="key", keys=["Control_R", "alt", "shift", "t"])) == "key combination ctrl+alt+t"
    assert rules.match(act(type="key", keys=["ctrl", "t"])) is None
    assert rules.match(act(type="click", x=99, y=49)) is not None
    assert rules.match(act(type="click", x=100, y=10)) is None
    with pytest.raises(ValueError, match="approval text rule"):
        ApprovalRules(text=("(unclosed",))


def _run(out: Path, base_url: str, **popen) -> subprocess.Popen:
    argv = [sys.executable, "-m", "agent.cli", "run", "suite", "--filter", "xterm-echo-file", "--base-url",
            base_url, "--model", "Kimi-VL-A3B-Thinking", "--out", str(out), "--approve"]
    return subprocess.Popen(argv, cwd=ROOT, start_new_session=True, **popen)


def _steps(out: Path) -> list[dict]:
    (path,) = out.glob("*/steps.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_no_terminal_rejects_and_the_model_is_told(tmp_path: Path) -> None:
    replies = [kimi("Focus the terminal.", "pyautogui.click(x=0.3, y=0.3)"),
               kimi("Write the file.", f"pyautogui.write({json.dumps(RISKY)})"),
               kimi("Give up.", "FAIL")]
    with StubOpenAI(replies) as stub:
        proc = _run(tmp_path / "run", stub.base_url, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, text=True)  # a new session: no controlling terminal
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 1, err  # the task failed
        third = json.dumps(stub.chat_requests[2].body["messages"], ensure_ascii=False)
    assert "needs a person's approval" in third and "rejected (no terminal)" in third
    step = _steps(tmp_path / "run")[1]
    assert step["executed"] == [] and step["rejections"]
    (decision,) = step["approvals"]
    assert decision["approved"] is False and decision["by"] == "no terminal"
    assert decision["action"]["text"] == RISKY and "sudo" in decision["rule"]


def _terminal() -> tuple[int, int]:
    master, slave = pty.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    return master, slave


def _controlling(slave: int):
    def setup() -> None:  # after setsid: the pty becomes this session's controlling terminal
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    return setup


def test_a_yes_on_the_terminal_runs_the_action(tmp_path: Path) -> None:
    replies = [kimi("Focus the terminal.", "pyautogui.click(x=0.3, y=0.3)"),
               kimi("Write the file.", f"pyautogui.write({json.dumps(RISKY)})"),
               kimi("Done.", "DONE")]
    master, slave = _terminal()
    with StubOpenAI(replies) as stub:
        proc = _run(tmp_path / "run", stub.base_url, stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    preexec_fn=_controlling(slave), pass_fds=(slave,))
        os.close(slave)
        seen = b""
        deadline = time.monotonic() + 240
        while b"[y/N]" not in seen:
            assert time.monotonic() < deadline and proc.poll() is None, seen
            if select.select([master], [], [], 1)[0]:
                try:
                    seen += os.read(master, 4096)
                except OSError:  # every end of the terminal closed: the run ended without asking
                    raise AssertionError(proc.communicate(timeout=60)[1].decode()[-2000:]) from None
        assert b"approve type(" in seen and b"needs approval" in seen
        os.write(master, b"y\n")
        out, err = proc.communicate(timeout=300)
        os.close(master)
    assert proc.returncode == 0, err.decode()
    (decision,) = _steps(tmp_path / "run")[1]["approvals"]
    assert decision["approved"] is True and decision["by"] == "terminal"
