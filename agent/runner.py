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
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal, TextIO

from agent.episode import RESULT_FILE
from agent.step import StepRecord
from tools.actions import describe
from tools.safe_files import atomic_write

Status = Literal["passed", "failed", "error", "cancelled", "not_started", "skipped"]
UNFINISHED = ("cancelled", "not_started", "skipped")
"""Statuses of tasks that did not run to an end: counted apart, never as failed."""


@dataclass
class RunSettings:
    """How to run: the mode, what drives it, where it goes, how many at once."""

    mode: Literal["auto", "scripted"] = "scripted"
    out: Path = Path("runs/latest")
    parallel: int = 1
    resume: bool = False
    profile: str = "kimi-vl-thinking"
    model: str | None = None
    base_url: str | None = None  # the model server, or several comma-separated: each episode keeps one of them
    grounder: Literal["ocr", "vlm"] = "ocr"
    isolate: bool = True
    max_steps: int | None = None
    context_len: int = 8192
    request_timeout: float = 300.0
    estimate_tokens: bool = False
    approve: bool = False  # auto mode: actions the approval rules mark wait for a yes on the terminal
    approval_rules: Any = None  # tools.approval.ApprovalRules from --approve-rules; None: the profile's
    record_video: bool = False  # episode.webm next to each episode (agent/video.py)
    pool: int | None = None  # sandboxes started ahead for the next tasks (None: agent.sandbox_pool.default_capacity)
    ray: str | None = None  # the Ray cluster the tasks run on (agent.cluster); None: this machine's thread pool
    ray_retries: int = 1  # times a task lost with its node or worker is sent again

    def budget(self) -> Any:
        """The context budget every model request is fitted to."""
        from agent.budget import BudgetSettings

        return BudgetSettings(context_len=self.context_len, use_server_count=not self.estimate_tokens)


@dataclass
class TaskResult:
    """One line of the results table."""

    id: str
    status: Status
    steps: int = 0  # actions taken: steps with an executed action
    unusable: int = 0  # steps whose reply or actions could not be used (told to the model, not counted above)
    time_s: float = 0.0
    reason: str | None = None
    episode: str | None = None
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0})
    node: str | None = None  # the Ray node it ran on (runs with --ray only)
    retries: list[str] = field(default_factory=list)  # why earlier attempts were lost (a node or worker died)

    def to_json(self) -> dict[str, Any]:
        """The line in results.json: the cluster's fields only when the task ran on one."""
        line = asdict(self)
        for key in ("node", "retries"):
            if not line[key]:
                del line[key]
        return line


@dataclass
class RunSummary:
    """Everything ``results.json`` holds."""

    run: dict[str, Any]
    tasks: list[TaskResult]

    @property
    def passed(self) -> int:
        return sum(t.status == "passed" for t in self.tasks)

    def counts(self) -> dict[str, Any]:
        """passed, failed (a failed verdict or an error; ``errors`` says how many were errors), cancelled,
        not_started, total, and pass_rate over the tasks that ran to an end."""
        count = {s: sum(t.status == s for t in self.tasks) for s in ("error", *UNFINISHED)}
        ended = len(self.tasks) - sum(count[s] for s in UNFINISHED)
        return {"passed": self.passed, "failed": ended - self.passed, "errors": count["error"],
                "cancelled": count["cancelled"], "not_started": count["not_started"], "skipped": count["skipped"],
                "total": len(self.tasks),
                "pass_rate": round(self.passed / ended, 4) if ended else 0.0}

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run, "tasks": [t.to_json() for t in self.tasks], "summary": self.counts()}


class _Shared:
    """Things built once per run and shared by the task threads (the OCR engine is slow to load)."""

    def __init__(self, settings: RunSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._ocr = None
        self._servers: Any = None
        from agent.pipeline import open_sandbox

        self.open_desktop: Callable[[int, int, bool], Any] = open_sandbox  # a warm pool's, when the run has one

    def grounder(self, model: Any) -> Any:
        if self.settings.grounder == "ocr":
            with self._lock:
                if self._ocr is None:
                    from agent.grounders.ocr import OCRGrounder

                    self._ocr = OCRGrounder()
                return self._ocr
        from agent.grounders import VLMGrounder
        from agent.profiles import get_profile

        return VLMGrounder(model, get_profile(self.settings.profile), budget=self.settings.budget())

    def model(self) -> Any:
        """The model client of one episode: it keeps the server with the fewest episodes when it starts (and
        moves to another only when that one goes down; see ``agent.models.server_pool``)."""
        from agent.models.server_pool import ServerPool

        with self._lock:
            if self._servers is None:
                urls = self.settings.base_url.split(",") if self.settings.base_url else [None]
                self._servers = ServerPool(urls, model=self.settings.model,
                                           max_model_len=self.settings.context_len,
                                           request_timeout=self.settings.request_timeout)
        return self._servers.model_client(sticky=True)


def _previous(folder: Path) -> TaskResult | None:
    path = folder / RESULT_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    verdict = data.get("verdict")
    if not isinstance(verdict, dict) or data.get("status") == "cancelled":
        return None
    steps, unusable = step_counts(folder)
    return TaskResult(folder.name, "passed" if verdict.get("passed") else "failed", steps, unusable,
                      data.get("duration_s", 0.0), verdict.get("reason"), folder.name,
                      {"prompt": data.get("usage", {}).get("prompt_tokens", 0),
                       "completion": data.get("usage", {}).get("completion_tokens", 0)})


def step_counts(folder: Path) -> tuple[int, int]:
    """(actions taken, unusable steps) of an episode: a step counts when one of its actions was executed; a reply
    that could not be parsed or whose every action was rejected is unusable."""
    from agent.episode import load_episode

    try:
        steps = load_episode(folder).steps
    except (OSError, ValueError):
        return 0, 0
    taken = sum(any(e.ok for e in step.executed) for step in steps)
    return taken, len(steps) - taken


def read_results(out: Path) -> dict[str, Any]:
    """The ``results.json`` of the run in ``out`` ({} when there is none or it cannot be read)."""
    try:
        data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _earlier(out: Path, ids: set[str]) -> list[TaskResult]:
    """Results of an earlier run in ``out`` for tasks this run does not touch, kept as they were."""
    kept = []
    for item in read_results(out).get("tasks", []):
        try:
            result = TaskResult(**item)
        except TypeError:
            continue
        if result.id not in ids:
            kept.append(result)
    return kept


def run_one(task: Any, settings: RunSettings, shared: _Shared, cancel: threading.Event,
            observers: Sequence[Any] = ()) -> TaskResult:
    """Run ``task`` in a fresh sandbox in the chosen mode and judge it (``agent.pipeline.run_episode``);
    never raises."""
    folder = settings.out / task.id
    if folder.exists():
        shutil.rmtree(folder)
    t0 = time.monotonic()

    async def go() -> Any:
        from agent.pipeline import run_episode

        model = shared.model() if settings.mode == "auto" or settings.grounder == "vlm" else None
        try:
            meta = {"task": task.model_dump(mode="json"), **_served(settings, model)}
            return await run_episode(task, _driver(settings, shared, model, cancel), folder, observers=observers,
                                     isolate=settings.isolate, open_desktop=_opener(task, shared), meta=meta,
                                     record_video=settings.record_video)
        finally:
            if model is not None and hasattr(model, "aclose"):
                await model.aclose()

    try:
        episode = asyncio.run(go())
    except Exception as exc:  # building the driver failed (a bad profile, the OCR engine): recorded
        result = TaskResult(task.id, "error", reason=f"{type(exc).__name__}: {exc}", episode=task.id)
    else:
        result = _task_result(task.id, episode)
    result.time_s = round(time.monotonic() - t0, 2)
    return result


def _opener(task: Any, shared: _Shared) -> Callable[[int, int, bool], Any]:
    """The desktop factory for ``task``: a task with its own home (OSWorld's) gets a sandbox of its own with that
    ``HOME``; the others the run's (a warm pool's, when there is one)."""
    if getattr(task, "home", None):
        from agent.pipeline import open_sandbox

        return partial(open_sandbox, home=task.home)
    return shared.open_desktop


def _served(settings: RunSettings, model: Any = None) -> dict[str, Any]:
    """The model and server a run used (the name as the server answered it), for task.json and results.json;
    with an episode's ``model`` client, the server that episode talks to."""
    if settings.mode == "scripted" and settings.grounder == "ocr":
        return {}
    return {"model": settings.model, "base_url": getattr(model, "base_url", settings.base_url)}


def _driver(settings: RunSettings, shared: _Shared, model: Any, cancel: threading.Event) -> Any:
    """The driver of the run's mode: the scripted runner with its grounder, or the autonomous agent."""
    if settings.mode == "scripted":
        from agent.scripted import ScriptedRunner

        return ScriptedRunner(shared.grounder(model), cancel=cancel)
    from agent.loop import Agent, AgentConfig
    from agent.profiles import get_profile

    from agent.approval import Approval

    config = AgentConfig(max_steps=settings.max_steps, budget=settings.budget())
    profile = get_profile(settings.profile)
    approval = Approval(settings.approval_rules or profile.approval) if settings.approve else None
    return Agent(model, profile, config=config, model_name=settings.model, cancel=cancel, approval=approval)


def _task_result(task_id: str, episode: Any) -> TaskResult:
    """One line of results.json from how the episode went."""
    result = TaskResult(task_id, "error", episode=task_id, reason=episode.error)
    outcome = episode.outcome
    if outcome is not None:
        result.steps, result.unusable = step_counts(episode.folder)
        result.tokens = {"prompt": outcome.usage.get("prompt_tokens", 0),
                         "completion": outcome.usage.get("completion_tokens", 0)}
        if outcome.status in ("cancelled", "error"):
            result.status, result.reason = ("cancelled" if outcome.status == "cancelled" else "error"), outcome.reason
    if episode.cancelled:
        result.status = "cancelled"
    if episode.verdict is not None:
        verdict = episode.verdict
        result.status = "passed" if verdict.passed else "failed"
        result.reason = None if verdict.passed else verdict.reason
        if outcome.status in ("max_steps", "time_limit") and not verdict.passed:
            result.reason = f"{outcome.reason}; {verdict.reason}"
    return result


class ProgressLine:
    """The terminal progress line, an episode observer: on a terminal, one line rewritten in place with the
    latest step of a running task (``task: step N click(…)``); elsewhere (logs, CI) silent."""

    def __init__(self, task_id: str, stream: TextIO | None = None) -> None:
        self.task_id = task_id
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty()

    def on_step(self, step: StepRecord) -> None:
        if not self.live:
            return
        acts = ", ".join(describe(a) for a in step.executed_actions) or "no action"
        line = f"{self.task_id}: step {step.index} {acts}"
        width = shutil.get_terminal_size((100, 20)).columns - 1
        self.stream.write(f"\r\x1b[K{line[:width]}")
        self.stream.flush()


def _say(line: str) -> None:
    """A line of the run's log on stderr, over the progress line when there is one."""
    print(("\r\x1b[K" if sys.stderr.isatty() else "") + line, file=sys.stderr, flush=True)


def _resumed(tasks: list[Any], settings: RunSettings) -> tuple[dict[str, TaskResult], list[Any]]:
    """(results of tasks already judged in ``settings.out`` when resuming, the tasks still to run)."""
    results: dict[str, TaskResult] = {}
    todo = []
    lines = {line.get("id"): line for line in read_results(settings.out).get("tasks", []) if isinstance(line, dict)}
    for task in tasks:
        prev = _previous(settings.out / task.id) if settings.resume else None
        if prev is not None:
            where = lines.get(task.id, {})  # where it ran, when an earlier run on a cluster ran it
            prev.node = where.get("node") if isinstance(where.get("node"), str) else None
            lost = where.get("retries")
            prev.retries = [r for r in lost if isinstance(r, str)] if isinstance(lost, list) else []
            results[task.id] = prev
        else:
            todo.append(task)
    return results, todo


def run_tasks(tasks: list[Any], settings: RunSettings, *, progress: Callable[[str], None] | None = None,
              suite: str | None = None, skipped: Sequence[tuple[str, str | None]] = (),
              cluster: Any = None) -> RunSummary:
    """Run ``tasks`` (``settings.parallel`` at once) into ``settings.out``; returns the summary. ``skipped``
    (id, reason) are tasks that cannot run here: listed in the results as skipped, never run. With a
    ``cluster`` (``agent.cluster.connect``) each task runs on a node of it; the run folder is the same."""
    say = progress or _say
    settings.out.mkdir(parents=True, exist_ok=True)
    run_info = {"started_at": time.time(), "finished_at": None, "model": None, "base_url": None,
                **_served(settings), "profile": settings.profile, "mode": settings.mode,
                "grounder": settings.grounder if settings.mode == "scripted" else None,
                "suite": suite, "parallel": settings.parallel, "machine": f"{os.cpu_count()} cores"}
    if cluster is not None:
        run_info["cluster"] = {"address": settings.ray, "nodes": len(cluster.nodes())}
    earlier = _earlier(settings.out, {t.id for t in tasks} | {i for i, _ in skipped}) if settings.resume else []
    results, todo = _resumed(tasks, settings)
    not_run = [TaskResult(ident, "skipped", reason=reason) for ident, reason in skipped]
    if settings.resume and results:
        say(f"resuming: {len(results)} task(s) already finished, {len(todo)} to run")
    summary = RunSummary(run_info, [])

    def write() -> None:
        summary.tasks = earlier + [results[t.id] for t in tasks if t.id in results] + not_run
        atomic_write(settings.out / "results.json", json.dumps(summary.to_json(), indent=2, ensure_ascii=False))

    write()
    if cluster is not None:
        from agent.cluster.tasks import ClusterTasks

        running: Any = ClusterTasks(todo, settings, cluster)
    else:
        running = _LocalTasks(todo, settings)
    try:
        for res in running.finished():
            results[res.id] = res
            why = f" — {res.reason}" if res.reason and res.status != "passed" else ""
            where = f" on {res.node}" + (f" after {len(res.retries)} lost" if res.retries else "") if res.node else ""
            say(f"[{len(results)}/{len(tasks)}] {res.status:9} {res.id} ({steps_text(res)} steps, "
                f"{res.time_s:.1f} s{where}){why}")
            write()
    except KeyboardInterrupt:
        say("interrupted: stopping the running tasks (they end as cancelled)…")
        results.update((res.id, res) for res in running.stop())
        run_info["interrupted"] = True
    finally:
        running.close()
        run_info["finished_at"] = time.time()
        write()
    return summary


class _LocalTasks:
    """The run's tasks on this machine: a thread pool of ``settings.parallel`` and a warm sandbox pool."""

    def __init__(self, todo: list[Any], settings: RunSettings) -> None:
        self.shared, self.cancel = _Shared(settings), threading.Event()
        self.sandboxes = _warm_pool(todo, settings)
        if self.sandboxes is not None:
            self.shared.open_desktop = self.sandboxes.open
        self.pool = ThreadPoolExecutor(max_workers=max(1, settings.parallel), thread_name_prefix="task")
        self.futures = {self.pool.submit(run_one, task, settings, self.shared, self.cancel, [ProgressLine(task.id)]):
                        task for task in todo}

    def finished(self) -> Any:
        """Each TaskResult as its task ends."""
        pending = set(self.futures)
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()

    def stop(self) -> list[TaskResult]:
        """Cancel: running tasks stop between steps (cancelled), queued ones never start (not_started)."""
        self.cancel.set()
        not_started = {fut for fut in self.futures if fut.cancel()}  # first stop the queue, then wait for the rest
        return [TaskResult(task.id, "not_started") if fut in not_started else fut.result()
                for fut, task in self.futures.items()]

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self.sandboxes is not None:
            self.sandboxes.close()


def _warm_pool(tasks: list[Any], settings: RunSettings) -> Any:
    """The run's warm sandbox pool (:mod:`agent.sandbox_pool`), or None when it is off or there is one task."""
    from agent.sandbox_pool import SandboxPool, default_capacity

    capacity = default_capacity(settings.parallel) if settings.pool is None else settings.pool
    if capacity <= 0 or len(tasks) <= 1:
        return None
    sizes = [(t.screen.width, t.screen.height) for t in tasks if not getattr(t, "home", None)]  # see _opener
    return SandboxPool(sizes, capacity, isolate=settings.isolate) if len(sizes) > 1 else None


def steps_text(result: TaskResult) -> str:
    """The steps column: actions taken, and unusable replies apart (``4 +2 unusable``)."""
    return f"{result.steps}" + (f" +{result.unusable} unusable" if result.unusable else "")


def results_table(summary: RunSummary) -> str:
    """The results as a plain-text table."""
    rows = [("task", "status", "steps", "time", "reason")]
    for t in summary.tasks:
        reason = (t.reason or "").replace("\n", " ")
        rows.append((t.id, t.status, steps_text(t), f"{t.time_s:.1f}s", reason[:70] + ("…" if len(reason) > 70 else "")))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows]
    lines.insert(1, "-" * min(120, sum(widths) + 8 + 20))
    lines.append("\n" + summary_line(summary.counts()))
    return "\n".join(lines)


def summary_line(c: dict[str, Any]) -> str:
    """``3/4 passed (75%); 1 failed (1 error); 2 cancelled; 5 not started`` from ``RunSummary.counts()``."""
    ended = c["passed"] + c["failed"]
    parts = [f"{c['passed']}/{ended} passed" + (f" ({100 * c['pass_rate']:.0f}%)" if ended else "")]
    if c["failed"]:
        parts.append(f"{c['failed']} failed" + (f" ({c['errors']} error{'s' * (c['errors'] > 1)})" if c["errors"] else ""))
    parts += [f"{c[k]} {k.replace('_', ' ')}" for k in ("cancelled", "not_started", "skipped") if c.get(k)]
    return "; ".join(parts)
