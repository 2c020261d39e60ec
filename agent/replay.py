"""Replaying recorded episodes: offline (re-parse every reply) or live (the same replies drive a fresh sandbox).

Offline replay is a parser regression test: each recorded reply is parsed again with the episode's
profile and the actions must equal the recorded ones. Live replay feeds the recorded replies to the
loop through the ``replay`` backend in a fresh sandbox and compares the executed actions step by step;
the first diverging step is reported with both sides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.episode import Episode, load_episode
from agent.loop import Agent, AgentConfig
from agent.models.replay_backend import ReplayModel
from agent.profiles import get_profile
from tools.parse import ParseError, parse


@dataclass
class Divergence:
    """One step where the replay did something else than the recording."""

    step: int
    recorded: Any
    replayed: Any
    what: str

    def __str__(self) -> str:
        return f"step {self.step}: {self.what}\n  recorded: {self.recorded}\n  replayed: {self.replayed}"


@dataclass
class ReplayReport:
    """The outcome of a replay: ``ok`` when nothing diverged."""

    episode: Path
    steps: int
    divergences: list[Divergence] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what was missing in the recorded episode
    status: str | None = None
    replay_folder: Path | None = None
    verdict: bool | None = None  # the checker's verdict after a task replay
    verdict_reason: str | None = None

    @property
    def ok(self) -> bool:
        return not self.divergences

    def summary(self) -> str:
        """A few lines for people."""
        head = f"{self.episode}: {self.steps} steps replayed, " + (
            "identical" if self.ok else f"{len(self.divergences)} diverging")
        lines = [head] + [str(d) for d in self.divergences[:5]] + [f"note: {p}" for p in self.problems]
        if self.verdict is not None:
            lines.append(f"verdict: {'passed' if self.verdict else 'failed'}"
                         + (f" ({self.verdict_reason})" if self.verdict_reason else ""))
        return "\n".join(lines)


def _profile_name(ep: Episode, override: str | None) -> str:
    name = override or (ep.task or {}).get("profile")
    if not name:
        raise ValueError(f"{ep.folder}/task.json names no profile; pass one explicitly")
    return name


def replay_offline(folder: str | Path, profile: str | None = None) -> ReplayReport:
    """Parse every recorded reply again and compare with the recorded actions; needs no sandbox."""
    ep = load_episode(folder)
    fmt = get_profile(_profile_name(ep, profile)).fmt
    report = ReplayReport(ep.folder, 0, problems=list(ep.problems))
    for step in ep.steps:
        if step.reply is None:
            continue
        report.steps += 1
        try:
            actions = [a.model_dump(mode="json") for a in parse(step.reply, fmt).actions]
        except ParseError:
            actions = []
        recorded = [a.model_dump(mode="json") for a in step.parsed]
        if actions != recorded:
            report.divergences.append(Divergence(step.index, recorded, actions, "parsed actions differ"))
    return report


def _executed(ep: Episode) -> list[tuple[int, list[dict]]]:
    return [(s.index, [e.action.model_dump(mode="json") for e in s.executed]) for s in ep.steps if s.reply is not None]


def _replay_agent(ep: Episode, profile: str | None, config: AgentConfig | None) -> Agent:
    """An agent whose model answers with the episode's recorded replies, in order."""
    prof = get_profile(_profile_name(ep, profile))
    model = ReplayModel(ep.replies, thinking_markers=prof.thinking)
    return Agent(model, prof, config=config or AgentConfig(max_bad_replies=len(ep.steps) + 1))


def _compare(ep: Episode, out: Path, status: str | None) -> ReplayReport:
    """The replay in ``out`` against the recording: executed actions step by step, then the final status."""
    new = load_episode(out)
    report = ReplayReport(ep.folder, len(new.steps), problems=list(ep.problems), status=status, replay_folder=out)
    recorded, replayed = _executed(ep), _executed(new)
    for (i, rec), (_, rep) in zip(recorded, replayed):
        if not _same_actions(rec, rep):
            report.divergences.append(Divergence(i, rec, rep, "executed actions differ"))
    if len(recorded) != len(replayed):
        report.divergences.append(Divergence(min(len(recorded), len(replayed)) + 1, f"{len(recorded)} steps",
                                             f"{len(replayed)} steps", "the number of model steps differs"))
    recorded_status = (ep.result or {}).get("status")
    if recorded_status and recorded_status != status:
        report.divergences.append(Divergence(len(replayed), recorded_status, status, "final status differs"))
    return report


def replay_live(folder: str | Path, sandbox: Any, out: str | Path, *, profile: str | None = None,
                task: Any = None, config: AgentConfig | None = None) -> ReplayReport:
    """Drive ``sandbox`` (already set up like the original) with the recorded replies; compare executed actions."""
    ep = load_episode(folder)
    if task is None:
        t = ep.task or {}
        task = _TaskView(t.get("id", ep.folder.name), t.get("instruction", ""), max(1, len(ep.steps)))
    outcome = asyncio.run(_replay_agent(ep, profile, config).run(task, sandbox, out))
    return _compare(ep, Path(out), outcome.status)


def recorded_task(folder: str | Path) -> Any:
    """The ``tasks.Task`` an episode was recorded from (``screenact run`` stores it in task.json), or None."""
    from tasks import task_from_data

    ep = load_episode(folder)
    data = (ep.task or {}).get("task")
    return task_from_data(data, Path(folder) / "task.json") if isinstance(data, dict) else None


def replay_task_episode(folder: str | Path, out: str | Path, *, isolate: bool = True) -> ReplayReport:
    """Replay a ``screenact run`` episode end to end (``agent.pipeline.run_episode``): a fresh sandbox of the
    task's size, the task's own setup, the recorded replies, then the task's checker, whose verdict is
    printed and recorded in the replay's ``result.json``; a verdict unlike the recorded one diverges too."""
    from agent.pipeline import run_episode

    task = recorded_task(folder)
    if task is None:
        raise ValueError("task.json holds no task to set up; replay it with --launch instead")
    ep = load_episode(folder)
    episode = asyncio.run(run_episode(task, _replay_agent(ep, None, None), out, isolate=isolate,
                                      meta={"task": task.model_dump(mode="json"), "replay_of": str(ep.folder)}))
    if episode.error:
        raise ValueError(f"the replay could not run: {episode.error}")
    report = _compare(ep, Path(out), episode.outcome.status if episode.outcome else None)
    verdict = episode.verdict
    recorded = ((ep.result or {}).get("verdict") or {}).get("passed")
    if verdict is not None:
        report.verdict, report.verdict_reason = verdict.passed, verdict.reason
    if recorded is not None and recorded != report.verdict:
        report.divergences.append(Divergence(report.steps, f"checker passed={recorded}",
                                             f"checker passed={report.verdict} ({report.verdict_reason})",
                                             "the checker's verdict differs"))
    return report


def _same_actions(a: list[dict], b: list[dict]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x.keys() != y.keys():
            return False
        for k in x:
            if isinstance(x[k], float) and isinstance(y[k], (int, float)):
                if abs(x[k] - y[k]) > 1.0:  # screen pixels: a rounding step is not a divergence
                    return False
            elif x[k] != y[k]:
                return False
    return True


@dataclass
class _TaskView:
    id: str
    instruction: str
    max_steps: int


def assert_replays(folder: str | Path, sandbox_factory: Callable[[], Any] | None = None,
                   tmp: str | Path | None = None, **kw: Any) -> ReplayReport:
    """For users' tests: replay an episode (offline, and live when given a sandbox factory) and fail loudly."""
    report = replay_offline(folder, kw.get("profile"))
    if not report.ok:
        raise AssertionError(report.summary())
    if sandbox_factory is not None:
        if tmp is None:
            raise ValueError("live replay needs a tmp folder for the new episode")
        with sandbox_factory() as sb:
            report = replay_live(folder, sb, Path(tmp) / "replay", **kw)
        if not report.ok:
            raise AssertionError(report.summary())
    return report
