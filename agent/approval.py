"""Asking a person before a risky action runs: the rules (``tools.approval``) pick the actions, an asker
answers, and every decision is kept for the step record. See docs/approval.md."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from agent.step import ApprovalRecord
from tools.actions import Action, describe
from tools.approval import DEFAULT_RULES, ApprovalRules

Asker = Callable[[Action, str], tuple[bool, str]]
"""``ask(action in screen pixels, rule in words) -> (approved, who decided)``; called off the event loop."""

_TERMINAL = threading.Lock()  # parallel tasks ask one at a time


def ask_terminal(action: Action, why: str) -> tuple[bool, str]:
    """Ask on the controlling terminal (``/dev/tty``, not stdin, which may be a pipe); no terminal: reject."""
    what = describe(action)
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False, "no terminal"
    try:
        with _TERMINAL:
            os.write(fd, f"\napprove {what}? (needs approval: {why}) [y/N] ".encode())
            answer = b""
            while not answer.endswith(b"\n") and (chunk := os.read(fd, 256)):  # b"": end of input, a no
                answer += chunk
    finally:
        os.close(fd)
    return answer.decode(errors="replace").strip().lower() in ("y", "yes"), "terminal"


@dataclass
class Approval:
    """The rules and who answers; :meth:`decide` is None for an action no rule marks."""

    rules: ApprovalRules = DEFAULT_RULES
    ask: Asker = ask_terminal

    def decide(self, action: Action) -> ApprovalRecord | None:
        """Ask about ``action`` (screen pixels) when a rule marks it, and record the answer."""
        rule = self.rules.match(action)
        if rule is None:
            return None
        try:
            approved, by = self.ask(action, rule)
        except Exception as exc:  # an asker that fails has not approved anything
            approved, by = False, f"asker failed ({type(exc).__name__})"
        return ApprovalRecord(action=action, rule=rule, approved=approved, by=by, at=round(time.time(), 3))


def rejection_message(record: ApprovalRecord) -> str:
    """What the model reads about a rejected action, like a policy rejection."""
    return (f"{describe(record.action)} needs a person's approval ({record.rule}) and was rejected "
            f"({record.by}); choose a different way that does not need it")
