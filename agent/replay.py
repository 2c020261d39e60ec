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
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.episode import Episode, load_episode
from agent.frame_diff import DiffSettings
from agent.grounders import Grounding
from agent.grounders.base import Point
from agent.loop import Agent, AgentConfig
from agent.models.replay_backend import ReplayModel
from agent.profiles import get_profile
from agent.replay_steps import StepCheck, action_points, check_step
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
    image: Path | None = None  # recorded | replayed | difference, for a screen or pointer-target divergence

    def __str__(self) -> str:
        text = f"step {self.step}: {self.what}\n  recorded: {self.recorded}\n  replayed: {self.replayed}"
        return text + (f"\n  diff image: {self.image}" if self.image else "")


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
    recorded_verdict: bool | None = None
    done: str = "replayed"  # "checked" for an offline look at a scripted episode's recorded actions
    checks: list[StepCheck] = field(default_factory=list)  # a live replay's step-by-step comparison
    notes: list[str] = field(default_factory=list)  # differences that do not fail the replay (healed ones)

    @property
    def ok(self) -> bool:
        return not self.divergences

    def summary(self) -> str:
        """A few lines for people."""
        head = f"{self.episode}: {self.steps} steps {self.done}, " + (
            "identical" if self.ok else f"{len(self.divergences)} diverging")
        lines = [c.line() for c in self.checks] + [head] + [str(d) for d in self.divergences[:5]]
        lines += [f"note: {p}" for p in self.problems + self.notes]
        if self.recorded_verdict is not None:
            lines.append(f"recorded verdict: {'passed' if self.recorded_verdict else 'failed'}")
        if self.verdict is not None:
            lines.append(f"verdict: {'passed' if self.verdict else 'failed'}"
                         + (f" ({self.verdict_reason})" if self.verdict_reason else ""))
        return "\n".join(lines)

    @property
    def first(self) -> Divergence | None:
        """The first diverging step (the lowest step number)."""
        return min(self.divergences, key=lambda d: d.step, default=None)


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
    policy = Policy(max_wait=600.0, max_reply_wait=600.0)
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
        pointed = [p for e in step.executed for p in action_points(e.action.model_dump(mode="json"))]
        grounded = [tuple(g.point) for g in step.grounding if g.point is not None]
        if any(p not in grounded for p in pointed):
            report.divergences.append(Divergence(step.index, f"grounded at {grounded}", f"acted at {pointed}",
                                                 "an action is not at its recorded grounding"))
    return report


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


def _compared(ep: Episode) -> list[StepRecord]:
    """The steps a live replay compares: those that replay (a reply, a scripted step, an MCP action)."""
    acted = acts_only(ep)
    return [s for s in ep.steps if _replayed_steps(s, acted)]


def _actions(step: StepRecord) -> list[dict]:
    return [e.action.model_dump(mode="json") for e in step.executed]


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


def _compare(ep: Episode, out: Path, status: str | None, diff: DiffSettings | None = None,
             healed: dict[int, list[tuple[int, int]]] | None = None) -> ReplayReport:
    """The replay in ``out`` against the recording: step by step the executed actions, the screen and the
    pointer targets (``agent.replay_steps``), then the final status. ``healed`` maps a step to the offsets
    regrounding moved its targets by: its target differences are healed, and screen differences are notes."""
    diff, reground = diff or DiffSettings(), healed is not None
    healed = healed or {}
    new = load_episode(out)
    report = ReplayReport(ep.folder, len(new.steps), problems=list(ep.problems), status=status, replay_folder=out)
    recorded, replayed = _compared(ep), _compared(new)
    imaged = False
    for rec, rep in zip(recorded, replayed):
        same = _same_actions(_actions(rec), _actions(rep))
        if not same:
            report.divergences.append(Divergence(rec.index, _actions(rec), _actions(rep), "executed actions differ"))
        check, findings = check_step(ep, rec, new, rep, same, diff, imaged)
        check.moved = healed.get(rec.index, [])
        report.checks.append(check)
        imaged = imaged or any(f.image for f in findings)
        for f in findings:
            if reground and (f.what == "the screen differs" or check.moved):
                image = f"; diff image: {f.image}" if f.image else ""
                report.notes.append(f"step {f.step}: {f.what} ({f.replayed}){image}")
            else:
                report.divergences.append(Divergence(f.step, f.recorded, f.replayed, f.what, f.image))
    if len(recorded) != len(replayed):
        report.divergences.append(Divergence(min(len(recorded), len(replayed)) + 1, f"{len(recorded)} steps",
                                             f"{len(replayed)} steps", "the number of steps differs"))
    recorded_status = (ep.result or {}).get("status")
    if recorded_status and recorded_status != status:
        report.divergences.append(Divergence(len(replayed), recorded_status, status, "final status differs"))
    return report


def replay_live(folder: str | Path, sandbox: Any, out: str | Path, *, profile: str | None = None,
                task: Any = None, config: AgentConfig | None = None, diff: DiffSettings | None = None,
                reground: Any = None) -> ReplayReport:
    """Drive ``sandbox`` (already set up like the original) with the recorded replies; compare step by step.
    ``reground`` (a grounder) heals moved pointer targets (``agent.reground``)."""
    ep = load_episode(folder)
    sandbox = SettledStart(sandbox)
    healer = _healer(ep, sandbox, reground, diff)
    if task is None:
        t = ep.task or {}
        steps = [s.instruction or "" for s in ep.steps if s.kind == "scripted"] or None
        task = _TaskView(t.get("id", ep.folder.name), t.get("instruction", ""), max(1, len(ep.steps)), steps)
    outcome = asyncio.run(_driver(ep, profile, config).run(task, healer or sandbox, out))
    return _healed(_compare(ep, Path(out), outcome.status, diff, healer and healer.healed), healer)


class SettledStart:
    """A replay's desktop whose first screenshot waits until the screen has been quiet for half a second: right
    after the setup, the window manager may still be repainting a window's decoration as focused (seen under
    load), and the first frame is compared with the recorded one."""

    def __init__(self, desktop: Any) -> None:
        self.desktop, self._started = desktop, False

    def __getattr__(self, name: str) -> Any:
        if name == "desktop":  # not set yet (copying): no recursion
            raise AttributeError(name)
        return getattr(self.desktop, name)

    def screenshot(self) -> Any:
        """The screen now; the first time, once it has settled."""
        if not self._started:
            self._started = True
            from tools.settle import settle

            return settle(self.desktop.screenshot, quiet=0.5, timeout=5.0).frame
        return self.desktop.screenshot()


def _healer(ep: Episode, desktop: Any, grounder: Any, diff: DiffSettings | None) -> Any:
    """The desktop that heals moved targets with ``grounder``, or None without one."""
    if grounder is None:
        return None
    from agent.reground import HealingDesktop, plan

    return HealingDesktop(desktop, plan(ep, _compared(ep)), grounder, diff or DiffSettings())


def _healed(report: ReplayReport, healer: Any) -> ReplayReport:
    if healer is not None:
        report.notes += [f"regrounding: {f}" for f in healer.failed]
    return report


def recorded_task(folder: str | Path) -> Any:
    """The ``tasks.Task`` an episode was recorded from (``screenact run`` stores it in task.json), or None."""
    from tasks import task_from_data

    ep = load_episode(folder)
    data = (ep.task or {}).get("task")
    return task_from_data(data, Path(folder) / "task.json") if isinstance(data, dict) else None


def replay_task_episode(folder: str | Path, out: str | Path, *, isolate: bool = True, diff: DiffSettings | None = None,
                        open_desktop: Callable[[int, int], Any] | None = None, reground: Any = None) -> ReplayReport:
    """Replay a ``screenact run`` episode end to end (``agent.pipeline.run_episode``): a fresh sandbox of the
    task's size, the task's own setup, the recorded replies (an MCP episode's actions), then the task's checker,
    whose verdict is printed and recorded in the replay's ``result.json``; a verdict unlike the recorded one
    diverges too. ``open_desktop(width, height)`` makes the desktop (default: a fresh sandbox); ``reground``
    (a grounder) heals moved pointer targets (``agent.reground``)."""
    from agent.pipeline import open_sandbox, run_episode

    task = recorded_task(folder)
    ep = load_episode(folder)
    judge = task is not None
    if task is None and acts_only(ep):  # an MCP session that started no task: its screen, no setup
        task = _bare_task(ep)
    if task is None:
        raise ValueError("task.json holds no task to set up; replay it with --launch instead")
    meta = {"task": (ep.task or {}).get("task"), "replay_of": str(ep.folder), "screen": (ep.task or {}).get("screen")}
    healers: list[Any] = []

    def opener(width: int, height: int, isolated: bool) -> Any:
        home = getattr(task, "home", None)  # an OSWorld task's HOME, as run_episode gives its own sandbox
        desktop = SettledStart(open_sandbox(width, height, isolated, home=home) if open_desktop is None
                               else open_desktop(width, height))
        healers.append(_healer(ep, desktop, reground, diff))
        return healers[-1] or desktop

    episode = asyncio.run(run_episode(task, _driver(ep, None, None), out, isolate=isolate, judge=judge,
                                      open_desktop=opener, meta={k: v for k, v in meta.items() if v is not None}))
    if episode.error:
        raise ValueError(f"the replay could not run: {episode.error}")
    healer = healers[0] if healers else None
    report = _healed(_compare(ep, Path(out), episode.outcome.status if episode.outcome else None, diff,
                              healer and healer.healed), healer)
    verdict = episode.verdict
    recorded = ((ep.result or {}).get("verdict") or {}).get("passed")
    report.recorded_verdict = recorded
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

        policy = Policy(max_wait=600.0, max_reply_wait=600.0)
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


def assert_replays(folder: str | Path, sandbox_factory: Callable[[int, int], Any] | None = None,
                   tmp: str | Path | None = None, *, tolerance: float = DiffSettings.tolerance,
                   masks: Sequence[tuple[int, int, int, int]] = (), reground: Any = None,
                   launch: Sequence[Sequence[str]] = (), wait_window: str | None = None,
                   profile: str | None = None) -> ReplayReport:
    """For users' tests: replay an episode offline, then live, and fail with the first diverging step.

    An episode recorded from a task (``screenact run``, an MCP session) replays live with the task's own setup
    and checker, in a sandbox of the recorded size, or in ``sandbox_factory(width, height)``'s desktop. Any
    other episode replays live in the factory's desktop, set up like the recording, or in a sandbox of the
    recorded size that starts the ``launch`` commands (argv lists) and waits for ``wait_window``. The
    screens compare within ``tolerance`` (the share of changed 16-px blocks), ``masks`` (x1, y1, x2, y2)
    ignored. ``reground`` (``"ocr"``, ``"vlm"`` or a grounder) heals a moved pointer target; the replay then
    passes when the verdict does. The new episode and any diff image go to ``tmp``/replay (default: a new
    temporary folder)."""
    report = replay_offline(folder, profile)
    if not report.ok:
        raise AssertionError(_failure(report))
    ep = load_episode(folder)
    task_episode = bool((ep.task or {}).get("task")) or acts_only(ep)
    if sandbox_factory is None and not task_episode and not launch:
        return report
    out = Path(tmp if tmp is not None else tempfile.mkdtemp(prefix="screenact-replay-")) / "replay"
    diff = DiffSettings(tolerance=tolerance, masks=tuple(tuple(int(v) for v in m) for m in masks))
    if isinstance(reground, str):
        from agent.reground import make_grounder

        reground = make_grounder(reground)
    if task_episode:
        report = replay_task_episode(folder, out, diff=diff, open_desktop=sandbox_factory, reground=reground)
    else:
        desktop = (sandbox_factory or _launched(launch, wait_window))(*_screen_size(ep))
        try:
            report = replay_live(folder, desktop, out, profile=profile, diff=diff, reground=reground)
        finally:
            desktop.close()
    if not report.ok:
        raise AssertionError(_failure(report))
    return report


def _launched(launch: Sequence[Sequence[str]], wait_window: str | None) -> Callable[[int, int], Any]:
    """A factory of sandboxes that start ``launch`` and wait for the window ``wait_window``."""
    from sandbox import Sandbox

    def make(width: int, height: int) -> Any:
        sb = Sandbox(width, height)
        try:
            for argv in launch:
                sb.launch(list(argv))
            if wait_window:
                sb.wait_window(wait_window)
        except BaseException:
            sb.close()
            raise
        return sb

    return make


def _failure(report: ReplayReport) -> str:
    """The assertion message: the first diverging step and what differed first, then the whole report."""
    first = report.first
    head = f"{report.episode}: replay diverges at step {first.step}: {first.what}" if first else str(report.episode)
    if first is not None and first.image:
        head += f" (diff image: {first.image})"
    return head + "\n" + report.summary()
