"""Running tasks: one fresh sandbox per task, N at once, each recorded as an episode and judged by its checker.

A run folder holds one episode folder per task and ``results.json`` (rewritten after every task,
so an interrupted run keeps what finished). ``--resume`` skips tasks whose episode already has a
verdict. Ctrl-C stops the running tasks between steps (they end as ``cancelled``) and writes the
results so far.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from agent.episode import RESULT_FILE, EpisodeWriter, update_result

Status = Literal["passed", "failed", "error", "cancelled", "skipped"]


@dataclass
class RunSettings:
    """How to run: the mode, what drives it, where it goes, how many at once."""

    mode: Literal["auto", "scripted"] = "scripted"
    out: Path = Path("runs/latest")
    parallel: int = 1
    resume: bool = False
    profile: str = "kimi-vl-thinking"
    model: str | None = None
    base_url: str | None = None
    grounder: Literal["ocr", "vlm"] = "ocr"
    isolate: bool = True
    max_steps: int | None = None
    context_len: int = 8192


@dataclass
class TaskResult:
    """One line of the results table."""

    id: str
    status: Status
    steps: int = 0
    time_s: float = 0.0
    reason: str | None = None
    episode: str | None = None
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0})


@dataclass
class RunSummary:
    """Everything ``results.json`` holds."""

    run: dict[str, Any]
    tasks: list[TaskResult]

    @property
    def passed(self) -> int:
        return sum(t.status == "passed" for t in self.tasks)

    def to_json(self) -> dict[str, Any]:
        total = len(self.tasks)
        return {"run": self.run, "tasks": [asdict(t) for t in self.tasks],
                "summary": {"passed": self.passed, "failed": total - self.passed, "total": total,
                            "pass_rate": round(self.passed / total, 4) if total else 0.0}}


class _Shared:
    """Things built once per run and shared by the task threads (the OCR engine is slow to load)."""

    def __init__(self, settings: RunSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._ocr = None

    def grounder(self, model: Any) -> Any:
        if self.settings.grounder == "ocr":
            with self._lock:
                if self._ocr is None:
                    from agent.grounders.ocr import OCRGrounder

                    self._ocr = OCRGrounder()
                return self._ocr
        from agent.grounders import VLMGrounder
        from agent.profiles import get_profile

        return VLMGrounder(model, get_profile(self.settings.profile), context_len=self.settings.context_len)

    def model(self) -> Any:
        from agent.models import OpenAIModel

        return OpenAIModel(model=self.settings.model, base_url=self.settings.base_url)


def _previous(folder: Path) -> TaskResult | None:
    path = folder / RESULT_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    verdict = data.get("verdict")
    if not isinstance(verdict, dict) or data.get("status") == "cancelled":
        return None
    return TaskResult(folder.name, "passed" if verdict.get("passed") else "failed", data.get("steps", 0),
                      data.get("duration_s", 0.0), verdict.get("reason"), folder.name,
                      {"prompt": data.get("usage", {}).get("prompt_tokens", 0),
                       "completion": data.get("usage", {}).get("completion_tokens", 0)})


def run_one(task: Any, settings: RunSettings, shared: _Shared, cancel: threading.Event) -> TaskResult:
    """Set up a fresh sandbox for ``task``, run it in the chosen mode, judge it; never raises."""
    from agent.loop import Agent, AgentConfig
    from agent.budget import BudgetSettings
    from agent.profiles import get_profile
    from agent.scripted import ScriptedRunner
    from sandbox import Sandbox, SandboxError
    from tasks import SetupError, check, run_setup

    folder = settings.out / task.id
    if folder.exists():
        shutil.rmtree(folder)
    t0 = time.monotonic()
    result = TaskResult(task.id, "error", episode=task.id)
    writer = EpisodeWriter(folder, {"id": task.id, "instruction": task.instruction, "mode": settings.mode,
                                    "profile": settings.profile, "model": settings.model,
                                    "grounder": settings.grounder if settings.mode == "scripted" else None,
                                    "task": task.model_dump(mode="json")})
    try:
        with Sandbox(task.screen.width, task.screen.height, isolate=settings.isolate,
                     allow_unisolated=not settings.isolate) as sb:
            try:
                run_setup(task, sb)
            except SetupError as exc:
                writer.finish({"status": "error", "reason": f"setup: {exc}"})
                result.reason = f"setup failed: {exc}"
                return result

            async def go() -> Any:
                model = shared.model() if settings.mode == "auto" or settings.grounder == "vlm" else None
                try:
                    if settings.mode == "scripted":
                        runner = ScriptedRunner(shared.grounder(model), cancel=cancel)
                        return await runner.run(task, sb, folder, writer)
                    config = AgentConfig(max_steps=settings.max_steps,
                                         budget=BudgetSettings(context_len=settings.context_len))
                    agent = Agent(model, get_profile(settings.profile), config=config, model_name=settings.model,
                                  cancel=cancel)
                    return await agent.run(task, sb, folder, writer)
                finally:
                    if model is not None and hasattr(model, "aclose"):
                        await model.aclose()

            outcome = asyncio.run(go())
            result.steps = outcome.steps
            result.tokens = {"prompt": outcome.usage.get("prompt_tokens", 0),
                             "completion": outcome.usage.get("completion_tokens", 0)}
            if outcome.status == "cancelled":
                result.status, result.reason = "cancelled", outcome.reason
                return result
            if outcome.status == "error":
                result.reason = outcome.reason
                return result
            verdict = check(task, sb, outcome.final_action)
            update_result(folder, verdict={"passed": verdict.passed, "reason": verdict.reason})
            result.status = "passed" if verdict.passed else "failed"
            result.reason = verdict.reason if not verdict.passed else None
            if outcome.status in ("max_steps", "time_limit") and not verdict.passed:
                result.reason = f"{outcome.reason}; {verdict.reason}"
    except SandboxError as exc:
        result.reason = f"sandbox: {exc}"
    except Exception as exc:  # one task's crash must not end the run; it is recorded
        result.reason = f"{type(exc).__name__}: {exc}"
    finally:
        writer.close()
        result.time_s = round(time.monotonic() - t0, 2)
        if not (folder / RESULT_FILE).exists():
            writer.finish({"status": result.status, "reason": result.reason})
    return result


def run_tasks(tasks: list[Any], settings: RunSettings, *, progress: Callable[[str], None] | None = None,
              suite: str | None = None) -> RunSummary:
    """Run ``tasks`` (``settings.parallel`` at once) into ``settings.out``; returns the summary."""
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    settings.out.mkdir(parents=True, exist_ok=True)
    run_info = {"started_at": time.time(), "finished_at": None, "model": settings.model, "profile": settings.profile,
                "mode": settings.mode, "grounder": settings.grounder if settings.mode == "scripted" else None,
                "suite": suite, "parallel": settings.parallel, "machine": f"{os.cpu_count()} cores"}
    results: dict[str, TaskResult] = {}
    todo = []
    for task in tasks:
        prev = _previous(settings.out / task.id) if settings.resume else None
        if prev is not None:
            results[task.id] = prev
        else:
            todo.append(task)
    if settings.resume and results:
        say(f"resuming: {len(results)} task(s) already finished, {len(todo)} to run")
    summary = RunSummary(run_info, [])
    shared = _Shared(settings)
    cancel = threading.Event()
    n, done = len(tasks), len(results)

    def write() -> None:
        summary.tasks = [results[t.id] for t in tasks if t.id in results]
        path = settings.out / "results.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(summary.to_json(), indent=2, ensure_ascii=False))
        os.replace(tmp, path)

    write()
    pool = ThreadPoolExecutor(max_workers=max(1, settings.parallel), thread_name_prefix="task")
    futures: dict[Future, Any] = {}
    try:
        for task in todo:
            futures[pool.submit(run_one, task, settings, shared, cancel)] = task
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in finished:
                task = futures[fut]
                res = fut.result()
                results[task.id] = res
                done += 1
                why = f" — {res.reason}" if res.reason and res.status != "passed" else ""
                say(f"[{done}/{n}] {res.status:9} {task.id} ({res.steps} steps, {res.time_s:.1f} s){why}")
                write()
    except KeyboardInterrupt:
        cancel.set()
        say("interrupted: stopping the running tasks (they end as cancelled)…")
        for fut, task in futures.items():
            if fut.cancel():
                results[task.id] = TaskResult(task.id, "cancelled", reason="not started")
        for fut, task in futures.items():
            if not fut.cancelled():
                results[task.id] = fut.result()
        run_info["interrupted"] = True
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        run_info["finished_at"] = time.time()
        write()
    return summary


def results_table(summary: RunSummary) -> str:
    """The results as a plain-text table."""
    rows = [("task", "status", "steps", "time", "reason")]
    for t in summary.tasks:
        reason = (t.reason or "").replace("\n", " ")
        rows.append((t.id, t.status, str(t.steps), f"{t.time_s:.1f}s", reason[:70] + ("…" if len(reason) > 70 else "")))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows]
    lines.insert(1, "-" * min(120, sum(widths) + 8 + 20))
    total = len(summary.tasks)
    lines.append(f"\n{summary.passed}/{total} passed" + (f" ({100 * summary.passed / total:.0f}%)" if total else ""))
    return "\n".join(lines)
