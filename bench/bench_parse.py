"""Benchmark: reading a model reply into checked screen actions, and reading hostile replies in linear time.

Run: ``python bench/bench_parse.py`` (prints two tables; ``--watchdog S`` stops a reader after S seconds,
for measuring old code). First, per format, a typical reply through parse (ast + literal walker +
pydantic validation), Transform.action_to_screen and Policy.check, and the refusal of a 1 MB reply.
Then the worst case of every reader of model text (``tests/hostile_replies.READERS``: parsers, grounding
points, prompt and UI text helpers) over hostile replies at the 200k reply cap (the named shapes of issue
11 and a fixed sample of random ones), against the 50 ms target. Times are the fastest of a few runs, wall
clock and this process's CPU time (on a loaded machine the CPU time is the one to compare).
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


def worst_cases(watchdog: float, samples: int) -> list[tuple[str, float, float, str]]:
    """(reader, wall s, cpu s, shape) of each reader's slowest hostile reply at the reply cap."""
    import random
    import signal

    from tests.hostile_replies import ATOMS, MAX_REPLY_CHARS, NAMED, READERS, hostile
    from tools.parse._text import point_in_text

    class Runaway(BaseException):  # not an Exception, which the parsers catch
        pass

    def fire(signum: int, frame: object) -> None:
        raise Runaway

    signal.signal(signal.SIGALRM, fire)
    rng = random.Random(11)
    shapes = dict(NAMED)
    for i in range(samples):
        shapes[f"random {i}"] = tuple("".join(rng.choice(ATOMS) for _ in range(rng.randint(lo, 3))) for lo in (0, 1, 0))
    worst: dict[str, tuple[float, float, str]] = {}
    for shape, parts in shapes.items():
        text = hostile(*parts, size=MAX_REPLY_CHARS)
        for name, reader in READERS.items():
            wall = cpu = float("inf")
            for _ in range(3):
                if hasattr(point_in_text, "cache_clear"):
                    point_in_text.cache_clear()  # each run reads the reply afresh
                signal.setitimer(signal.ITIMER_REAL, watchdog)
                start, start_cpu = time.perf_counter(), time.process_time()
                try:
                    reader(text)
                except Runaway:
                    wall = cpu = watchdog
                    break
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                wall, cpu = min(wall, time.perf_counter() - start), min(cpu, time.process_time() - start_cpu)
            if name not in worst or cpu > worst[name][1]:
                worst[name] = (wall, cpu, shape)
    return [(name, *worst[name]) for name in READERS]


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

    width = max(len(name) for name, _ in rows)
    print(f"{'case':<{width}}  {'median µs':>10}  {'p95 µs':>10}  {'runs':>5}")
    for name, samples in rows:
        print(f"{name:<{width}}  {statistics.median(samples) * 1e6:>10.1f}  {pct(samples, 0.95) * 1e6:>10.1f}  {len(samples):>5}")
    kimi_median = statistics.median(rows[0][1]) * 1e6
    print(f"target: kimi-vl median <= 1000 µs -> {'met' if kimi_median <= 1000 else 'MISSED'} ({kimi_median:.0f} µs)")

    args = sys.argv[1:]
    watchdog = float(args[args.index("--watchdog") + 1]) if "--watchdog" in args else 10.0
    cases = worst_cases(watchdog, samples=40)
    width = max(len(name) for name, *_ in cases)
    print(f"\nworst case per reader over hostile replies of 200k characters (the reply cap); target <= 50 ms")
    print(f"{'reader':<{width}}  {'wall ms':>9}  {'cpu ms':>9}  slowest shape")
    for name, wall, cpu, shape in cases:
        shown = lambda t: f"> {watchdog:g} s" if t >= watchdog else f"{t * 1e3:.1f}"  # noqa: E731
        print(f"{name:<{width}}  {shown(wall):>9}  {shown(cpu):>9}  {shape}")
    slowest = max(cases, key=lambda c: c[2])
    print(f"target: every reader <= 50 ms cpu at the cap -> {'met' if slowest[2] <= 0.05 else 'MISSED'} "
          f"(slowest: {slowest[0]}, {slowest[2] * 1e3:.1f} ms cpu, {slowest[1] * 1e3:.1f} ms wall)")


if __name__ == "__main__":
    main()
