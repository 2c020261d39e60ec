"""Records the xterm episode the replay tests use: ``python -m tests.episode_recorder OUT [--slow S]``.

It starts a stub model server with scripted Kimi-VL replies and a 640x480 sandbox with xterm, and runs
the loop. With ``--slow`` every reply is delayed, so a test can kill this process mid-episode.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass

from agent.loop import Agent
from agent.models import OpenAIModel
from agent.profiles import get_profile
from sandbox import Sandbox
from tests.stub_openai import StubOpenAI

WIDTH, HEIGHT = 640, 480
XTERM = ["xterm", "-title", "shell", "-geometry", "60x12+40+40"]


@dataclass
class XtermTask:
    id: str = "xterm-write"
    instruction: str = "Write 'héllo 世界' into /tmp/out.txt using the terminal."
    max_steps: int = 10


def kimi(thought: str, action: str, code: str) -> str:
    return f"◁think▷{thought}◁/think▷## Action:\n{action}\n\n## Code:\n```python\n{code}\n```"


def replies(win) -> list[str]:
    cx, cy = (win.x + win.width / 2) / WIDTH, (win.y + win.height / 2) / HEIGHT
    return [
        kimi("A terminal window is open in the middle of the screen. I should focus it.",
             "Click inside the terminal window.", f"pyautogui.click(x={cx:.3f}, y={cy:.3f})"),
        kimi("The terminal has focus. Now type the command that writes the file.",
             "Type the echo command and press Enter.",
             "pyautogui.write('echo héllo 世界 > /tmp/out.txt')\npyautogui.press('enter')"),
        kimi("The command ran; check it by printing the file.", "Show the file.",
             "pyautogui.write('cat /tmp/out.txt\\n')"),
        kimi("The file holds the text. The task is complete.", "Finish the task.", "DONE"),
    ]


def setup(sb: Sandbox):
    sb.launch(XTERM)
    return sb.wait_window("shell")


def record(out: str, slow: float = 0.0) -> str:
    with Sandbox(WIDTH, HEIGHT) as sb:
        win = setup(sb)
        script = replies(win)

        def responder(body: dict) -> str:
            time.sleep(slow)
            return script.pop(0)

        with StubOpenAI(responder=responder) as stub:
            model = OpenAIModel(base_url=stub.base_url, model="Kimi-VL-A3B-Thinking")
            agent = Agent(model, get_profile("kimi-vl-thinking"), model_name="Kimi-VL-A3B-Thinking")
            outcome = asyncio.run(agent.run(XtermTask(), sb, out))
        return outcome.status


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--slow", type=float, default=0.0)
    a = ap.parse_args()
    print(record(a.out, a.slow), flush=True)
    sys.exit(0)
