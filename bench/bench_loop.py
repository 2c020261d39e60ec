"""Loop benchmark: per-step framework overhead at 1920x1080 and settle dead time versus a fixed 2 s sleep.

A stub OpenAI server answers instantly with Kimi-VL-format replies (clicks and typing into xterm), so
everything measured is screenact's own work: capture, encode, budget, request/response handling,
parse, transform, policy, act, episode writing. Settle is reported separately beside the 2 s sleep that
Anthropic's computer-use demo uses after every action (OSWorld examples use 3 s).
Run: python bench/bench_loop.py [--steps N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.budget import BudgetSettings  # noqa: E402
from agent.loop import Agent, AgentConfig  # noqa: E402
from agent.models import OpenAIModel  # noqa: E402
from agent.profiles import get_profile  # noqa: E402
from bench._machine import machine  # noqa: E402
from sandbox import Sandbox  # noqa: E402
from tests.stub_openai import StubOpenAI  # noqa: E402


@dataclass
class Task:
    id: str = "bench"
    instruction: str = "Type some commands into the terminal."
    max_steps: int = 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    n = ap.parse_args().steps
    print(f"# loop benchmark — {machine()}")
    with Sandbox(1920, 1080) as sb:
        sb.launch(["xterm", "-geometry", "100x30+50+50", "-title", "bench"])
        win = sb.wait_window("bench")
        cx, cy = (win.x + win.width / 2) / 1920, (win.y + win.height / 2) / 1080
        replies = []
        for i in range(n):
            code = f"pyautogui.click(x={cx:.3f}, y={cy:.3f})" if i % 2 == 0 else f"pyautogui.write('echo step {i}\\n')"
            replies.append(f"◁think▷Step {i}.◁/think▷## Action:\nstep {i}\n## Code:\n```python\n{code}\n```")
        replies.append("◁think▷Finished.◁/think▷## Action:\nfinish\n## Code:\n```python\nDONE\n```")
        with StubOpenAI(replies, max_model_len=32768) as stub, tempfile.TemporaryDirectory() as tmp:
            model = OpenAIModel(base_url=stub.base_url, model="Kimi-VL-A3B-Thinking")
            agent = Agent(model, get_profile("kimi-vl-thinking"),
                          config=AgentConfig(budget=BudgetSettings(context_len=32768)))
            t0 = time.perf_counter()
            asyncio.run(agent.run(Task(), sb, Path(tmp) / "ep"))
            wall = time.perf_counter() - t0
            steps = [json.loads(line) for line in (Path(tmp) / "ep" / "steps.jsonl").read_text().splitlines()]
    overhead, settle, model_ms = [], [], []
    for s in steps[:-1]:
        t = s["timings"]
        settle.append(t.get("settle", 0.0))
        model_ms.append(t["model"])
        overhead.append(sum(v for k, v in t.items() if k not in ("model", "settle")))
    med = statistics.median
    print(f"steps: {len(steps) - 1} actions + DONE in {wall:.2f} s wall")
    print(f"framework overhead per step (capture+encode+parse+act, 1920x1080): median {med(overhead):.1f} ms "
          f"(max {max(overhead):.1f})   target <= 20 ms")
    print("  by phase (median ms): " + ", ".join(
        f"{k} {med([s['timings'].get(k, 0.0) for s in steps[:-1]]):.2f}" for k in ("capture", "encode", "parse", "act")))
    print(f"model round trip to the instant stub (HTTP, JSON, budget): median {med(model_ms):.1f} ms")
    print(f"settle dead time: median {med(settle):.0f} ms (max {max(settle):.0f}) vs a fixed 2000 ms sleep: "
          f"{2000 / med(settle):.1f}x less waiting")


if __name__ == "__main__":
    main()
