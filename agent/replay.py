"""Replaying recorded episodes: offline (re-parse every reply) or live (the same replies drive a fresh sandbox).

Offline replay is a parser regression test: each recorded reply is parsed again with the episode's
profile and the actions must equal the recorded ones. Live replay feeds the recorded replies to the
loop through the ``replay`` backend in a fresh sandbox and compares the executed actions step by step;
the first diverging step is reported with both sides.

A scripted episode (steps in words, grounded on the screen) has no replies to parse: offline, each
recorded action is checked to validate on the recorded screen and to sit at its recorded grounding;
live, the scripted driver runs the same steps again with a :class:`RecordedGrounder` that answers
every grounding with the recorded point, so the clicks land where they landed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.episode import Episode, load_episode
from agent.grounders import Grounding
from agent.grounders.base import Point
from agent.loop import Agent, AgentConfig
from agent.models.replay_backend import ReplayModel
from agent.profiles import get_profile
from agent.step import StepRecord
from tools.parse import ParseError, parse
from tools.policy import Policy, Rejection


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
    done: str = "replayed"  # "checked" for an offline look at a scripted episode's recorded actions

    @property
    def ok(self) -> bool:
        return not self.divergences

    def summary(self) -> str:
        """A few lines for people."""
        head = f"{self.episode}: {self.steps} steps {self.done}, " + (
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


def is_scripted(ep: Episode) -> bool:
    """Whether the episode was recorded by the scripted driver (steps in words, grounded)."""
    return (ep.task or {}).get("mode") == "scripted" or any(s.kind == "scripted" for s in ep.steps)


def replay_offline(folder: str | Path, profile: str | None = None) -> ReplayReport:
    """Parse every recorded reply again and compare with the recorded actions; needs no sandbox. A scripted
    episode is checked instead (see :func:`check_scripted`)."""
    ep = load_episode(folder)
    if is_scripted(ep) or acts_only(ep):
        return check_scripted(ep)
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


def check_scripted(ep: Episode) -> ReplayReport:
    """Offline check of a scripted (or MCP) episode: every recorded action validates on the recorded screen (the
    policy's bounds and limits), and every pointer action of a scripted step sits at the point its grounding
    recorded."""
    report = ReplayReport(ep.folder, 0, problems=list(ep.problems), done="checked")
    width, height = _screen_size(ep)
    policy = Policy(max_wait=600.0)
    acted = acts_only(ep)
    for step in (s for s in ep.steps if s.kind == "scripted" or (acted and s.executed)):
        report.steps += 1
        for e in step.executed:
            verdict = policy.check(e.action, width, height)
            if isinstance(verdict, Rejection):
                report.divergences.append(Divergence(step.index, e.action.model_dump(mode="json"), verdict.message,
                                                     "a recorded action does not validate"))
        if step.kind != "scripted":
            continue
        pointed = [p for e in step.executed for p in _points(e.action.model_dump(mode="json"))]
        grounded = [tuple(g.point) for g in step.grounding if g.point is not None]
        if any(p not in grounded for p in pointed):
            report.divergences.append(Divergence(step.index, f"grounded at {grounded}", f"acted at {pointed}",
                                                 "an action is not at its recorded grounding"))
    return report


def _points(action: dict) -> list[tuple[float, float]]:
    """The screen points a recorded action acts at."""
    pairs = [("x", "y"), ("x1", "y1"), ("x2", "y2")]
    return [(float(action[a]), float(action[b])) for a, b in pairs if action.get(a) is not None and action.get(b) is not None]


def _screen_size(ep: Episode) -> tuple[int, int]:
    """The recorded screen's size: the task's ``screen``, else the first frame's size."""
    screen = ((ep.task or {}).get("task") or {}).get("screen") or {}
    if screen.get("width") and screen.get("height"):
        return int(screen["width"]), int(screen["height"])
    frame = next((ep.frame_path(s) for s in ep.steps if ep.frame_path(s)), None)
    if frame is None:
        raise ValueError(f"{ep.folder}: no task screen size and no frame on disk to take it from")
    from PIL import Image

    with Image.open(frame) as img:
        return img.size


class RecordedGrounder:
    """A grounder that answers with the points a scripted episode recorded, in order: replayed clicks land where
    the recorded ones did. A description other than the recorded one finds nothing, which the replay reports."""

    def __init__(self, ep: Episode) -> None:
        self._recorded = [g for s in ep.steps if s.kind == "scripted" for g in s.grounding]
        self._next = 0
        used = {g.grounder for g in self._recorded if g.grounder}
        self.name = "recorded" + (f":{','.join(sorted(used))}" if used else "")

    async def locate(self, frame: Any, description: str) -> Grounding:
        """The next recorded grounding, if it was for ``description``."""
        rec = self._recorded[self._next] if self._next < len(self._recorded) else None
        self._next += 1
        if rec is None or rec.description != description or rec.point is None:
            why = "not recorded" if rec is None else f"recorded {rec.description!r}, point {rec.point}"
            return Grounding(None, description, self.name, details={"reason": why})
        return Grounding(Point(round(rec.point[0]), round(rec.point[1])), description, self.name)

    async def ground(self, frame: Any, description: str) -> Point | None:
        """The next recorded point, if it was for ``description``."""
        return (await self.locate(frame, description)).point


def acts_only(ep: Episode) -> bool:
    """Whether the episode's steps are an MCP client's actions (``agent.mcp``), without replies or groundings:
    such an episode replays by running its executed actions again (:class:`ActionReplayer`)."""
    return (ep.task or {}).get("mode") == "mcp"


def _replayed_steps(step: StepRecord, acted: bool = False) -> bool:
    return step.reply is not None or step.kind == "scripted" or (acted and bool(step.executed))


def _executed(ep: Episode) -> list[tuple[int, list[dict]]]:
    acted = acts_only(ep)
    return [(s.index, [e.action.model_dump(mode="json") for e in s.executed]) for s in ep.steps
            if _replayed_steps(s, acted)]


def _driver(ep: Episode, profile: str | None, config: AgentConfig | None) -> Any:
    """What replays the episode: the MCP client's actions again, the scripted driver with the recorded groundings,
    or an agent with the replies."""
    if acts_only(ep):
        return ActionReplayer(ep)
    if is_scripted(ep):
        from agent.scripted import ScriptedRunner

        return ScriptedRunner(RecordedGrounder(ep))
    return _replay_agent(ep, profile, config)


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
                                             f"{len(replayed)} steps", "the number of steps differs"))
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
        steps = [s.instruction or "" for s in ep.steps if s.kind == "scripted"] or None
        task = _TaskView(t.get("id", ep.folder.name), t.get("instruction", ""), max(1, len(ep.steps)), steps)
    outcome = asyncio.run(_driver(ep, profile, config).run(task, sandbox, out))
    return _compare(ep, Path(out), outcome.status)


def recorded_task(folder: str | Path) -> Any:
    """The ``tasks.Task`` an episode was recorded from (``screenact run`` stores it in task.json), or None."""
    from tasks import task_from_data

    ep = load_episode(folder)
    data = (ep.task or {}).get("task")
    return task_from_data(data, Path(folder) / "task.json") if isinstance(data, dict) else None


def replay_task_episode(folder: str | Path, out: str | Path, *, isolate: bool = True) -> ReplayReport:
    """Replay a ``screenact run`` episode end to end (``agent.pipeline.run_episode``): a fresh sandbox of the
    task's size, the task's own setup, the recorded replies (an MCP episode's actions), then the task's checker,
    whose verdict is printed and recorded in the replay's ``result.json``; a verdict unlike the recorded one
    diverges too."""
    from agent.pipeline import run_episode

    task = recorded_task(folder)
    ep = load_episode(folder)
    judge = task is not None
    if task is None and acts_only(ep):  # an MCP session that started no task: its screen, no setup
        task = _bare_task(ep)
    if task is None:
        raise ValueError("task.json holds no task to set up; replay it with --launch instead")
    meta = {"task": (ep.task or {}).get("task"), "replay_of": str(ep.folder), "screen": (ep.task or {}).get("screen")}
    episode = asyncio.run(run_episode(task, _driver(ep, None, None), out, isolate=isolate, judge=judge,
                                      meta={k: v for k, v in meta.items() if v is not None}))
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


class ActionReplayer:
    """A driver (``agent.pipeline.Driver``) that runs an episode's executed actions again, step by step,
    each through the policy and followed by a settle, as the MCP server ran them; the recorded final
    action (``check_task``'s done or fail) goes to the checker."""

    mode = "replay"

    def __init__(self, episode: Episode) -> None:
        self.episode = episode

    def describe(self) -> dict[str, Any]:
        """An MCP episode again: its steps compare as the recording's do."""
        return {"mode": "mcp", "driver": self.mode}

    async def run(self, task: Any, sandbox: Any, folder: str | Path) -> Any:
        """Drive a desktop prepared by the caller (``replay --launch``), into a new episode ``folder``."""
        from agent.episode import EpisodeWriter
        from agent.recorder import Recorder

        writer = EpisodeWriter(folder, {"id": task.id, "instruction": task.instruction, **self.describe()})
        return await self.drive(task, sandbox, Recorder(writer))

    async def drive(self, task: Any, desktop: Any, recorder: Any) -> Any:
        from agent.recorder import recorded

        async def body(outcome: Any) -> Any:
            await self._steps(desktop, recorder)
            result = self.episode.result or {}
            final = result.get("final_action")
            outcome.status, outcome.reason = "done", "replayed"
            outcome.final_action = final if isinstance(final, dict) else None
            return outcome

        return await recorded(recorder, body)

    async def _steps(self, desktop: Any, recorder: Any) -> None:
        from agent.execute import capture, execute
        from agent.step import StepRecord
        from tools.policy import Policy

        policy = Policy(max_wait=600.0)
        launches = [x for x in (self.episode.task or {}).get("launches", []) if isinstance(x, dict)]
        for n, recorded_step in enumerate(self.episode.steps):
            await self._launch(desktop, [x for x in launches if x.get("after_step") == n])
            if not recorded_step.executed:
                continue
            step = StepRecord.start(recorder.count + 1, action_text=recorded_step.action_text,
                                    parsed=recorded_step.parsed)
            frame, _ = await capture(desktop)
            step.frame = recorder.save_frame(step.index, frame)
            await execute(desktop, recorded_step.executed_actions, step, policy=policy, deadline=float("inf"))
            recorder.step(step)
        await self._launch(desktop, [x for x in launches if x.get("after_step") == len(self.episode.steps)])

    @staticmethod
    async def _launch(desktop: Any, launches: list[dict[str, Any]]) -> None:
        """Start the apps the client launched at this point (a program name or a bundled app, as the server allows)."""
        from agent.mcp import apps

        for item in launches:
            argv = item.get("argv")
            name = argv[0] if isinstance(argv, list) and argv and isinstance(argv[0], str) else ""
            plan = apps.plan_launch(argv, (apps.check_app_name(name),))
            await asyncio.to_thread(apps.start, desktop, plan)


def _bare_task(ep: Episode) -> Any:
    """What ``run_episode`` needs to replay an MCP session that started no task: its screen, no setup."""
    from types import SimpleNamespace

    t = ep.task or {}
    screen = t.get("screen") if isinstance(t.get("screen"), dict) else {}
    size = SimpleNamespace(width=int(screen.get("width", 1280)), height=int(screen.get("height", 800)))
    return SimpleNamespace(id=str(t.get("id", ep.folder.name)), instruction=str(t.get("instruction", "")),
                           screen=size, setup=[], max_steps=max(1, len(ep.steps)))


@dataclass
class _TaskView:
    id: str
    instruction: str
    max_steps: int
    steps: list[str] | None = None


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
