"""Replay benchmark: a live replay's wall time per step beside the recording's, and the frame comparison's cost.

1. form-country-canada is recorded by ``screenact run --mode auto`` against the stub model server (no model
   latency: a real model adds its own seconds per step to the recording, never to the replay), then replayed
   live ``--rounds`` times with its setup and checker; per step = the episode's wall time / its steps, the
   sandbox start and the task's setup included on both sides.
2. At 1920x1080, two real screens of the form app (as recorded, and with its dropdown entries moved): one
   step's comparison = both PNGs decoded to gray, the block difference, the pointer-target squares; the diff
   image (written once, for the first differing step) is timed apart.
Run: python bench/bench_replay.py [--rounds N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._machine import machine, median, ms  # noqa: E402

FORM = ROOT / "tasks" / "suite" / "form-country-canada.yaml"


def record(out: Path) -> Path:
    """The task recorded through the stub model server, as the replay tests do."""
    from agent.cli import main
    from tests.stub_openai import StubOpenAI
    from tests.test_replay_regressions import REPLIES

    with StubOpenAI(list(REPLIES)) as stub, contextlib.redirect_stdout(io.StringIO()):
        code = main(["run", str(FORM), "--mode", "auto", "--base-url", stub.base_url,
                     "--model", "Kimi-VL-A3B-Thinking", "--out", str(out)])
    if code != 0:
        raise SystemExit(f"recording failed with exit code {code}")
    return out / "form-country-canada"


def per_step(folder: Path) -> float:
    """The episode's own duration (result.json) per step."""
    result = json.loads((folder / "result.json").read_text())
    return float(result["duration_s"]) / max(1, int(result.get("steps") or 1))


def replay_per_step(episode: Path, rounds: int, tmp: Path) -> tuple[list[float], list[float]]:
    """(the replay's own seconds per step, its wall seconds per step with the sandbox and the comparison)."""
    from agent.replay import replay_task_episode

    own, wall = [], []
    for n in range(rounds):
        t = time.perf_counter()
        report = replay_task_episode(episode, tmp / f"replay-{n}")
        wall.append((time.perf_counter() - t) / max(1, report.steps))
        own.append(per_step(tmp / f"replay-{n}"))
        assert report.ok, report.summary()
    return own, wall


def screens_1080p(episode: Path, tmp: Path) -> tuple[Path, Path]:
    """The form app at 1920x1080 with its dropdown open, as recorded and with the entries moved."""
    from agent.replay import recorded_task
    from sandbox import Sandbox
    from tasks import run_setup
    from tools.actions import Click

    task, paths = recorded_task(episode), []
    for switch in ("", "move"):
        with Sandbox(1920, 1080, env={"SCREENACT_TEST_FORM": switch}) as sb:
            run_setup(task, sb)
            sb.act(Click(x=222, y=222))
            time.sleep(0.5)
            paths.append(sb.screenshot().save(tmp / f"form-{switch or 'same'}.png"))
    return paths[0], paths[1]


def compare_cost(a: Path, b: Path, rounds: int) -> tuple[list[float], list[float], float]:
    """(seconds per step comparison, seconds per diff image, the similarity measured)."""
    from agent.frame_diff import DiffSettings, compare, diff_image, gray, target_change

    settings, steps, images, sim = DiffSettings(), [], [], 1.0
    for _ in range(rounds):
        t = time.perf_counter()
        diff, mask = compare(gray(a), gray(b), settings)
        target_change(mask, (177, 366), settings)
        steps.append(time.perf_counter() - t)
        sim = diff.similarity
        t = time.perf_counter()
        diff_image(a, b, mask, a.with_name("diff.png"), [(177, 366)])
        images.append(time.perf_counter() - t)
    return steps, images, sim


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    print(f"bench_replay on {machine()}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        episode = record(tmp / "run")
        own, wall = replay_per_step(episode, max(1, args.rounds // 2), tmp)
        print(f"form-country-canada, {len(own)} replays: recorded {per_step(episode):.2f} s/step (stub model, "
              f"no latency), replayed {median(own):.2f} s/step; replay wall {median(wall):.2f} s/step with the "
              "sandbox start, setup, checker and comparison")
        same, moved = screens_1080p(episode, tmp)
        steps, images, _ = compare_cost(same, same, args.rounds * 4)
        print(f"1080p comparison per step, same screens:  {ms(steps)}")
        steps, images, sim = compare_cost(same, moved, args.rounds * 4)
        print(f"1080p comparison per step, moved entries: {ms(steps)}  (similarity {sim:.1%})")
        print(f"1080p diff image (first differing step only): {ms(images)}")


if __name__ == "__main__":
    main()
