"""Acting on the desktop, shared by both drivers: policy → act → settle, timed, into the step record.

The autonomous loop hands over the model's actions with the image's transform to screen pixels;
scripted mode hands over screen actions already (the identity transform). :func:`execute` runs them in
order, stops at the first that is rejected or fails, never runs past DONE/FAIL, never waits past the
run's deadline, and lets the screen settle when anything ran.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.approval import Approval, rejection_message
from agent.step import Executed, Rejected, Settle, StepRecord
from tools.actions import ACTION_ADAPTER, TERMINAL_ACTIONS, Action, Wait
from tools.policy import Policy, Rejection
from tools.settle import settle


class Desktop(Protocol):
    """What a driver needs of a sandbox (``sandbox.Sandbox`` provides it)."""

    width: int
    height: int

    def screenshot(self) -> Any: ...
    def act(self, action: Action) -> Any: ...


@dataclass(frozen=True)
class SettleSettings:
    """When the screen counts as settled after acting: quiet for ``quiet_s``, giving up after ``timeout_s``."""

    quiet_s: float = 0.12
    timeout_s: float = 3.0


@dataclass
class RunLimits:
    """When a run must stop: steps taken, the deadline, unusable replies in a row, or a cancel request.

    ``cancel`` is anything with ``is_set()`` (a ``threading.Event``): set, the run ends as cancelled.
    """

    max_steps: int
    time_limit_s: float = 600.0
    max_bad_replies: int = 3
    cancel: Any = None
    started: float = field(default_factory=time.monotonic)

    @property
    def deadline(self) -> float:
        """The ``time.monotonic()`` at which the run's time is up."""
        return self.started + self.time_limit_s

    def check(self, taken: int, bad_in_a_row: int = 0, last_problem: str | None = None) -> tuple[str, str] | None:
        """(status, reason) when the run must stop now, else None."""
        if self.cancel is not None and self.cancel.is_set():
            return "cancelled", "stopped by the user"
        if bad_in_a_row >= self.max_bad_replies:
            return "error", f"{bad_in_a_row} unusable or rejected replies in a row; last: {last_problem}"
        if taken >= self.max_steps:
            return "max_steps", f"no DONE or FAIL within {self.max_steps} steps"
        if time.monotonic() > self.deadline:
            return "time_limit", f"time limit of {self.time_limit_s:g} s reached"
        return None


@dataclass
class Acted:
    """What :func:`execute` leaves for the next step: the screen now, and whether the episode ended."""

    frame: Any
    capture_s: float
    terminal: Action | None
    ran: bool  # at least one action reached the desktop (or ended the episode)


def ms(seconds: float) -> float:
    """Seconds as the milliseconds a step's timings record."""
    return round(seconds * 1000, 2)


async def capture(desktop: Desktop) -> tuple[Any, float]:
    """A screenshot taken off the event loop, and the seconds it took."""
    t = time.perf_counter()
    frame = await asyncio.to_thread(desktop.screenshot)
    return frame, time.perf_counter() - t


def identity(action: Action) -> Action:
    """The transform of actions that are in screen pixels already."""
    return action


async def execute(desktop: Desktop, actions: Sequence[Action], step: StepRecord, *, policy: Policy,
                  deadline: float, to_screen: Callable[[Action], Action | Rejection] = identity,
                  settling: SettleSettings | None = SettleSettings(), approval: Approval | None = None) -> Acted:
    """Run ``actions`` (``to_screen`` maps each to screen pixels) and record them in ``step``.

    Fills ``step.executed``, ``step.rejections``, ``step.approvals``, ``step.settle`` and the
    ``act``/``settle`` timings. ``approval``: actions its rules mark run only when a person says yes.
    ``deadline`` (``time.monotonic()``) cuts a long wait short and stops before an action past it.
    ``settling=None`` neither settles nor captures: ``Acted.frame`` is None (a caller that wants no screen).
    """
    terminal: Action | None = None
    act_s = 0.0
    refused = policy.check_reply(actions)  # the plan as a whole (its total waiting) before any of it runs
    if refused is not None:
        step.rejections.append(Rejected(action=ACTION_ADAPTER.validate_python(refused.action), message=refused.message))
        actions = ()
    for action in actions:
        screen = _checked(action, to_screen, policy, desktop, deadline)
        if approval is not None and not isinstance(screen, Rejected):
            screen = await _approved(approval, action, screen, step)
        if isinstance(screen, Rejected):
            step.rejections.append(screen)
            break
        if isinstance(screen, TERMINAL_ACTIONS):
            terminal = screen
            step.executed.append(Executed(action=screen))
            break
        t = time.perf_counter()
        result = await asyncio.to_thread(desktop.act, screen)
        act_s += time.perf_counter() - t
        step.executed.append(Executed(action=screen, ok=result.ok, error=result.error))
        if not result.ok:
            step.rejections.append(Rejected(action=action, message=result.error or "the action failed"))
            break
    step.timings["act"] = ms(act_s)
    ran = bool(step.executed)
    if terminal is not None or settling is None:
        return Acted(None, 0.0, terminal, ran)
    if not ran:
        return Acted(*await capture(desktop), None, False)
    t = time.perf_counter()
    settled = await asyncio.to_thread(settle, desktop.screenshot, quiet=settling.quiet_s,
                                      timeout=max(0.0, min(settling.timeout_s, deadline - time.monotonic())))
    step.timings["settle"] = ms(time.perf_counter() - t)
    step.settle = Settle(stable=settled.stable, changed=settled.changed, frames=settled.frames)
    return Acted(settled.frame, 0.0, None, ran)


async def _approved(approval: Approval, action: Action, screen: Action, step: StepRecord) -> Action | Rejected:
    """``screen`` when no rule marks it or a person approved it (the decision goes into ``step``)."""
    decision = await asyncio.to_thread(approval.decide, screen)
    if decision is None:
        return screen
    step.approvals.append(decision)
    if decision.approved:
        return screen
    return Rejected(action=action, message=rejection_message(decision), screen_action=screen.model_dump(mode="json"))


def _checked(action: Action, to_screen: Callable[[Action], Action | Rejection], policy: Policy,
             desktop: Desktop, deadline: float) -> Action | Rejected:
    """The screen action to run, or why it will not run (the transform, the policy, the deadline)."""
    screen = to_screen(action)
    if isinstance(screen, Rejection):
        return Rejected(action=action, message=screen.message)
    checked = policy.check(screen, desktop.width, desktop.height)
    if isinstance(checked, Rejection):
        return Rejected(action=action, message=checked.message, screen_action=checked.action)
    if isinstance(checked, TERMINAL_ACTIONS):
        return checked
    left = deadline - time.monotonic()
    if left <= 0:
        return Rejected(action=action, message="the run's time limit was reached before this action")
    if isinstance(checked, Wait) and checked.seconds > left:
        return Wait(seconds=round(left, 3))  # the run's time limit holds within a step
    return checked
