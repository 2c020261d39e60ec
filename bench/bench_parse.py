"""Benchmark: reading a model reply into checked screen actions, and refusing hostile replies.

Run: ``python bench/bench_parse.py`` (prints a table; no arguments). Measures, per format, a typical
reply through parse (ast + literal walker + pydantic validation), Transform.action_to_screen and
Policy.check; then the time to refuse a 1 MB hostile reply (refused on its length), and the slowest
of a set of pathological replies that fit under the 200 kB limit (nested brackets, operator chains,
thousands of empty fences, …) in the format where it is slowest.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.coords import Transform  # noqa: E402
from tools.parse import ParseError, parse  # noqa: E402
from tools.policy import Policy, Rejection  # noqa: E402

SCREEN = (1920, 1080)

KIMI = (
    "◁think▷The user wants to save the document under a new name. The File menu is at the top-left corner "
    "of the LibreOffice Writer window, so I should open it first and then choose Save As.◁/think▷## Action:\n"
    "Click the \"File\" menu in the top-left corner.\n\n## Code:\n```python\npyautogui.click(x=0.204, y=0.149)\n```"
)
TYPICAL = {
    "kimi-vl": (KIMI, Transform("normalized", *SCREEN)),
    "pyautogui": (
        "I will rename the file.\n```python\nimport pyautogui\nimport time\npyautogui.rightClick(412, 288)\n"
        "time.sleep(0.5)\npyautogui.click(470, 402)\npyautogui.hotkey('ctrl', 'a')\npyautogui.write('report.txt')\n"
        "pyautogui.press('enter')\n```",
        Transform("pixels", *SCREEN, *SCREEN),
    ),
    "computer_13": ('```json\n{"action_type": "CLICK", "x": 1058, "y": 712, "button": "left", "num_clicks": 1}\n```', Transform("pixels", *SCREEN, *SCREEN)),
    "ui-tars": ("Thought: I need to open the File menu.\nAction: click(start_box='<|box_start|>(197,525)<|box_end|>')", Transform.for_smart_resize(*SCREEN, *SCREEN)),
    "thousand": (
        'Action: Click Sign in.\n<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [912, 48]}}\n</tool_call>',
        Transform("thousand", *SCREEN),
    ),
}


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpus} CPUs (nproc), {model}, Python {platform.python_version()}"


def timings(fn: Callable[[], object], runs: int, warmup: int = 50) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def pipeline(text: str, fmt: str, transform: Transform, policy: Policy) -> list[object]:
    """parse → transform → policy, as the loop does it."""
    results = []
    for action in parse(text, fmt).actions:
        mapped = transform.action_to_screen(action)
        results.append(mapped if isinstance(mapped, Rejection) else policy.check(mapped, *SCREEN))
    return results


def refuse(text: str, fmt: str) -> None:
    try:
        parse(text, fmt)
    except ParseError:
        return
    raise AssertionError("a hostile reply was accepted")


N = 199_000
PATHOLOGICAL = {
    "nested parens": "(" * N, "operator chain": "1+" * (N // 2), "empty fences": "```" * (N // 3), "quotes": "'" * N,
    "open calls": "click(" * (N // 6), "section headers": "## Action:\n" * (N // 11), "tool tags": "<tool_call>" * (N // 11),
    "nested json": "[" * N, "half points": "(1," * (N // 3), "x= pairs": "x=1, " * (N // 5),
    "many arguments": "Action: click(" + "a='1'," * (N // 6) + ")", "action labels": "Action: " * (N // 8),
    "quote content": "Action: type(content='" + "'" * (N - 30) + "')", "newlines": "\n" * N,
    "box tokens": "<|box_start|>(1,2)" * (N // 18), "open code lines": "pyautogui.click(\n" * (N // 17),
}


def refuse_or_parse(text: str, fmt: str) -> None:
    """Parse a hostile reply the way the loop would (ParseError expected; a harmless click is fine)."""
    try:
        parse(text, fmt)
    except ParseError:
        pass


def _once(text: str, fmt: str) -> float:
    start = time.perf_counter()
    refuse_or_parse(text, fmt)
    return time.perf_counter() - start


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    print(f"machine: {machine()}")
    policy = Policy()
    rows = []
    for fmt, (text, transform) in TYPICAL.items():
        out = pipeline(text, fmt, transform, policy)
        assert out and not any(isinstance(r, Rejection) for r in out), (fmt, out)
        samples = timings(lambda: pipeline(text, fmt, transform, policy), runs=3000)
        rows.append((f"{fmt}: typical reply -> checked screen actions ({len(out)})", samples))

    megabyte = "```python\npyautogui.click(x=" + "(" * 500_000 + "1" + ")" * 500_000 + ", y=1)\n```"
    rows.append(("refuse a 1 MB hostile reply (kimi-vl)", timings(lambda: refuse(megabyte, "kimi-vl"), runs=200, warmup=5)))
    slowest = max(PATHOLOGICAL.items(), key=lambda kv: max(_once(kv[1], f) for f in TYPICAL))
    name, text = slowest
    fmt = max(TYPICAL, key=lambda f: _once(text, f))
    rows.append((f"refuse the slowest 199 kB pathological reply ({name}, {fmt})", timings(lambda: refuse_or_parse(text, fmt), runs=20, warmup=2)))

    width = max(len(name) for name, _ in rows)
    print(f"{'case':<{width}}  {'median µs':>10}  {'p95 µs':>10}  {'runs':>5}")
    for name, samples in rows:
        print(f"{name:<{width}}  {statistics.median(samples) * 1e6:>10.1f}  {pct(samples, 0.95) * 1e6:>10.1f}  {len(samples):>5}")
    kimi_median = statistics.median(rows[0][1]) * 1e6
    print(f"target: kimi-vl median <= 1000 µs -> {'met' if kimi_median <= 1000 else 'MISSED'} ({kimi_median:.0f} µs)")


if __name__ == "__main__":
    main()
