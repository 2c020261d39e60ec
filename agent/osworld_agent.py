"""screenact's agent behind OSWorld's agent interface, for OSWorld's own harness and VMs.

OSWorld's scripts (``run.py``, ``run_multienv*.py``) make an agent, call ``reset()`` before each task,
then ``predict(instruction, obs)`` each step with ``obs["screenshot"]`` as PNG bytes, and execute the
returned actions: pyautogui code strings, or ``WAIT`` / ``DONE`` / ``FAIL``. This class asks the model
with screenact's profile (prompt, image rule, sampling), fits the prompt to the context budget with the
history, reads the reply with the profile's parser, checks every action with the action policy, and
returns canonical pyautogui code rendered from the validated actions (:mod:`tools.render`) in screen
pixels — never the model's own code.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

from agent.budget import BudgetSettings, ContextBudget
from agent.profiles import DEFAULT_PROFILE, get_profile
from agent.prompts import HistoryStep
from tools.actions import Done, Fail, Wait, describe
from tools.frame import Frame
from tools.policy import Rejection
from tools.render import action_code


class ScreenactAgent:
    """OSWorld's agent interface (``reset``, ``predict``) over an OpenAI-compatible server."""

    def __init__(self, base_url: str, model: str | None = None, profile: str = DEFAULT_PROFILE, *,
                 context_len: int | None = None, request_timeout: float = 300.0) -> None:
        self.base_url, self.model_name, self.request_timeout = base_url, model, request_timeout
        self.profile = get_profile(profile)
        self.context_len = context_len  # None: the server's own, asked on the first step
        self.reset()

    def reset(self, *args: Any, **kwargs: Any) -> None:
        """Forget the history before a new task (OSWorld passes a logger and other options; they are unused)."""
        self.history: list[HistoryStep] = []
        self.policy = self.profile.policy()
        self.budget: ContextBudget | None = None

    def predict(self, instruction: str, obs: dict[str, Any]) -> tuple[str, list[str]]:
        """(the model's reply, actions): pyautogui code strings, or ``["WAIT"]``/``["DONE"]``/``["FAIL"]``;
        an empty list when no action of the reply could be used (the model is told why next step)."""
        from PIL import Image

        with Image.open(io.BytesIO(obs["screenshot"])) as img:
            frame = Frame.from_image(img)
        image = self.profile.prepare(frame)
        text = asyncio.run(self._ask(instruction, image, frame.size))
        read, usable = self.profile.read(text)
        actions, feedback = self._validated(read.actions if usable else [], image, frame.size)
        if not usable:
            feedback = "; ".join(read.errors) or "the reply had no action"
        done = tuple(describe(a) for a in read.actions) if usable else ()
        self.history.append(HistoryStep(len(self.history) + 1, read.answer, read.thought, read.action_text, done,
                                        feedback, image))
        return text, actions

    async def _ask(self, instruction: str, image: Any, screen: tuple[int, int]) -> str:
        from agent.commands._common import check_server
        from agent.models import OpenAIModel

        async with OpenAIModel(model=self.model_name, base_url=self.base_url, read_timeout=self.request_timeout) as m:
            if self.budget is None:
                self.context_len = await check_server(m, self.context_len)
                self.budget = ContextBudget(self.profile, BudgetSettings(context_len=self.context_len,
                                                                         use_server_count=False))
            fitted = await self.budget.fit_agent(instruction, self.history, image, screen,
                                                 max_tokens=self.profile.agent_sampling.max_tokens)
            sampling = {**self.profile.sampling("agent").params(), "max_tokens": fitted.max_tokens}
            return (await m.complete(fitted.messages, **sampling)).text

    def _validated(self, actions: list, image: Any, screen: tuple[int, int]) -> tuple[list[str], str | None]:
        """Code for each action the transform and the policy accept; the rejections as feedback."""
        code, problems = [], []
        rejected = self.policy.check_reply(actions)
        for action in [] if rejected else actions:
            on_screen = image.transform.action_to_screen(action)
            checked = on_screen if isinstance(on_screen, Rejection) else self.policy.check(on_screen, *screen)
            if isinstance(checked, Rejection):
                problems.append(f"{describe(action)}: {checked}")
                continue
            if isinstance(checked, (Done, Fail, Wait)):
                return code + [action_code(checked, lambda x, y: (x, y))], None
            code.append(action_code(checked, lambda x, y: (round(x), round(y))))
        if rejected:
            problems.append(str(rejected))
        return code, "; ".join(problems) or None


__all__ = ["ScreenactAgent"]
