"""``screenact run --ray``: every task one Ray task, in a fresh sandbox on a node that offers one.

The launching machine sends each task as data (the parsed task, the host files its ``write_file``
steps copy in, the run's settings). The node runs it with :func:`agent.runner.run_one`, the path a
local run takes, into a scratch folder, and answers with the result line and the episode's files;
the launching machine writes them into its run folder (:mod:`agent.cluster.episodes`) as each task
ends. The code itself does not travel: every node runs the installed project, and a node whose code
differs from the launching machine's refuses the task, naming both versions (docs/ray.md says why).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.cluster import RESOURCE
from agent.cluster.episodes import pack, unpack
from agent.runner import RunSettings, TaskResult

_PACKAGES = ("agent", "tools", "sandbox", "tasks")
_CODE_SUFFIXES = (".py", ".yaml", ".yml", ".json", ".txt", ".xml")


@dataclass
class TaskJob:
    """What travels to the node for one task."""

    task: Any  # a tasks.Task
    settings: RunSettings
    sources: dict[str, bytes]  # host path → bytes of the files the task's write_file steps copy in
    code: str  # code_version() of the launching machine


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the project's code and bundled files here: equal on two machines → the same screenact."""
    import importlib

    digest = hashlib.sha256()
    for package in _PACKAGES:
        root = Path(importlib.import_module(package).__file__).parent  # type: ignore[arg-type]
        for path in sorted(p for p in root.rglob("*") if p.suffix in _CODE_SUFFIXES and "__pycache__" not in p.parts):
            digest.update(f"{package}/{path.relative_to(root).as_posix()}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def make_job(task: Any, settings: RunSettings, turn: int = 0) -> TaskJob:
    """The job for ``task``, the ``turn``-th of the run: its host files read here, so that they travel with it;
    with several model servers, the one it starts on is its turn's (``server_pool.servers_from``)."""
    from agent.models.server_pool import servers_from

    sources = {}
    for step in [*task.setup, *task.before_check]:
        if getattr(step, "kind", None) == "write_file" and step.source is not None:
            try:
                sources[step.source] = Path(step.source).read_bytes()
            except OSError:  # the node's setup fails naming the path, as a local run's would
                pass
    return TaskJob(task, replace(settings, ray=None, resume=False, base_url=servers_from(settings.base_url, turn)),
                   sources, code_version())


def run_on_node(job: TaskJob) -> dict[str, Any]:
    """On a node: run the task into a scratch folder; its result line and episode files."""
    mine = code_version()
    if job.code != mine:
        raise RuntimeError(f"this node runs other screenact code ({mine}) than the machine that launched the run "
                           f"({job.code}); install the same version of the project on every node")
    from agent.runner import run_one

    scratch = _scratch()
    settings = replace(job.settings, out=scratch / "episodes", parallel=1, pool=0)
    folder = settings.out / job.task.id
    try:
        task = _with_sources(job.task, job.sources, scratch / "sources")
        shared = _shared(settings)
        shared.open_desktop = _WARM.get((task.screen.width, task.screen.height), settings.isolate).open
        result = run_one(task, settings, shared, threading.Event())
        files = pack(folder) if folder.is_dir() else {}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(scratch / "sources", ignore_errors=True)
    return {"result": asdict(result), "files": files}


_SCRATCH_PREFIX = "screenact-node-"


@functools.lru_cache(maxsize=1)
def _scratch() -> Path:
    """This worker process's scratch folder (episodes live here until they are sent back). Folders of workers
    that are gone (killed by a cancel) are removed first."""
    base = Path(tempfile.gettempdir())
    for old in base.glob(f"{_SCRATCH_PREFIX}*-*"):
        pid = old.name[len(_SCRATCH_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{_SCRATCH_PREFIX}{os.getpid()}-", dir=base))


_SHARED: dict[str, Any] = {}


def _shared(settings: RunSettings) -> Any:
    """What tasks of one run share in this worker process (the OCR engine loads once per process)."""
    from agent.runner import _Shared

    key = repr(settings)
    if key not in _SHARED:
        _SHARED.clear()
        _SHARED[key] = _Shared(settings)
    return _SHARED[key]


class _WarmDesktop:
    """This worker's warm sandbox: after each task one of its screen size is started for the worker's next task
    (as a local run's pool does); a task of another size replaces the pool with one of that size."""

    PLANNED = 1000  # tasks of one size a pool plans for; then a fresh pool

    def __init__(self) -> None:
        self.pool: Any = None
        self.key: tuple[Any, ...] = ()
        self.used = 0

    def get(self, size: tuple[int, int], isolate: bool) -> Any:
        from agent.sandbox_pool import SandboxPool

        if self.pool is None or self.key != (size, isolate) or self.used >= self.PLANNED:
            if self.pool is not None:
                self.pool.close()
            self.pool, self.key, self.used = SandboxPool([size] * self.PLANNED, 1, isolate=isolate), (size, isolate), 0
        self.used += 1
        return self.pool


_WARM = _WarmDesktop()


def _with_sources(task: Any, sources: dict[str, bytes], folder: Path) -> Any:
    """``task`` with each write_file ``source`` pointing at the bytes that came with it, saved under ``folder``."""
    if not sources:
        return task
    folder.mkdir(parents=True, exist_ok=True)
    local = {}
    for host_path, data in sources.items():
        path = folder / hashlib.sha256(data).hexdigest()
        path.write_bytes(data)
        local[host_path] = str(path)

    def moved(steps: list[Any]) -> list[Any]:
        return [s.model_copy(update={"source": local[s.source]}) if getattr(s, "source", None) in local else s
                for s in steps]

    return task.model_copy(update={"setup": moved(task.setup), "before_check": moved(task.before_check)})


@contextmanager
def on_cluster(address: str, settings: RunSettings, parallel: int | None, *, needs_key: bool) -> Iterator[Any]:
    """Connected to the cluster for a run: refuses one with no node that offers sandboxes, and sets
    ``settings.parallel`` (``parallel``, else all the sandboxes the nodes offer)."""
    from agent.cluster.connect import ClusterError, connect

    key = os.environ.get("OPENAI_API_KEY")
    with connect(address, env={"OPENAI_API_KEY": key} if needs_key and key else None) as cluster:
        nodes = cluster.nodes()
        capacity = sum(n.sandboxes for n in nodes)
        if capacity < 1:
            raise ClusterError(f"--ray {address}: none of its {len(nodes)} node(s) offers the {RESOURCE} resource; "
                               "start nodes with the flags `screenact doctor --ray-resources` prints")
        settings.parallel = parallel or capacity
        print(f"cluster: {len(nodes)} node(s) at {address} host {capacity} sandbox(es) at once; "
              f"{settings.parallel} task(s) in flight", file=sys.stderr)
        yield cluster


class _Answer(BaseModel):
    """A node's result line, checked before it is believed (a node is not trusted with our run folder)."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["passed", "failed", "error", "cancelled"]
    steps: int = Field(0, ge=0)
    unusable: int = Field(0, ge=0)
    time_s: float = Field(0.0, ge=0)
    reason: str | None = Field(None, max_length=20_000)
    tokens: dict[str, int] = {"prompt": 0, "completion": 0}


class ClusterTasks:
    """The run's tasks on the cluster: ``finished()`` yields each TaskResult with its episode written locally;
    ``stop()`` cancels the rest (running → cancelled, waiting → not_started)."""

    def __init__(self, tasks: list[Any], settings: RunSettings, cluster: Any) -> None:
        self.out = settings.out
        jobs = [make_job(t, settings, turn) for turn, t in enumerate(tasks)]
        self.submission = cluster.map(run_on_node, jobs, in_flight=settings.parallel, resources={RESOURCE: 1},
                                      retries=settings.ray_retries)

    def finished(self) -> Iterator[TaskResult]:
        for done in self.submission:
            yield self._land(done)

    def stop(self) -> list[TaskResult]:
        running, waiting = self.submission.cancel()
        return ([TaskResult(j.task.id, "cancelled", reason="interrupted", episode=None) for j in running]
                + [TaskResult(j.task.id, "not_started") for j in waiting])

    def close(self) -> None:
        self.submission.__exit__()

    def _land(self, done: Any) -> TaskResult:
        """The TaskResult of a finished call, its episode written into the run folder."""
        task_id = done.item.task.id
        result = TaskResult(task_id, "error", reason=done.error, time_s=done.seconds)
        if done.ok:
            try:
                answer = _Answer.model_validate(done.value["result"])
                refused = unpack(done.value["files"], self.out / task_id)
            except (ValueError, TypeError, KeyError, OSError) as exc:
                result.reason = f"on node {done.node}: the answer could not be used: {str(exc).splitlines()[0]}"
            else:
                result = TaskResult(task_id, answer.status, answer.steps, answer.unusable, answer.time_s,
                                    answer.reason, task_id, dict(answer.tokens))
                if refused:
                    result.reason = "; ".join([*([result.reason] if result.reason else []), *refused[:3]])
        result.node, result.retries = done.node, list(done.retries)
        return result
