"""Agent mode's person in the loop: the live desktop beside the steps, Pause / Take over / Resume, and
Approve / Reject for actions the approval rules mark.

- :class:`LivePanel` is an episode observer (``agent.recorder.Observer``). When the desktop opens it
  registers it with :data:`agent.ui.live.VIEWS` and shows the ``LiveView`` custom element
  (``agent/ui/elements/LiveView.jsx``) in Chainlit's element sidebar: the noVNC page in an iframe, the
  run's state and three buttons. The buttons call the ``live_control`` action, which lands in
  :meth:`LivePanel.act`. While the run's :class:`agent.control.RunControl` holds for a takeover the
  iframe shows the page with input; Resume cuts that connection before the driver goes on.
- :class:`UIApprover` is an ``agent.approval.Asker``: the approval rules' marked action is shown with
  the screen as it is now and a marker where it would act, with Approve / Reject buttons; no answer
  within :data:`ANSWER_S` seconds, or the run ending, is a rejection.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from typing import Any

import chainlit as cl

from agent.control import RunControl
from agent.ui.chat import code_span, md_escape
from agent.ui.live import VIEWS, page_url, view_problem
from tools.actions import Action, describe

log = logging.getLogger("screenact.ui")

ANSWER_S = 300  # how long an approval question waits for a click before it counts as a rejection
ELEMENT = "LiveView"
LABELS = {"running": "The agent is running.", "pausing": "Pausing after the current step…",
          "paused": "Paused. Resume to let the agent go on.",
          "taken over": "You have the desktop: click and type in it. Resume hands it back to the agent."}


def person(default: str = "the UI's user") -> str:
    """Who is at this browser session: its signed-in user's name when there is one."""
    user = getattr(cl.context.session, "user", None)
    return getattr(user, "identifier", None) or default


class LivePanel:
    """The sidebar of one run: its desktop live and the Pause / Take over / Resume buttons."""

    def __init__(self, control: RunControl, width: int, height: int) -> None:
        self.control = control
        self.size = (width, height)
        self.key: str | None = None
        self.problem = view_problem()
        self.ended = False
        self._shown: dict[str, Any] | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()  # refreshes under way (the loop keeps only weak references)

    # ------------------------------------------------------------ observer side (on the event loop)
    def on_desktop(self, desktop: Any) -> None:
        if self.problem is None:
            self.key = VIEWS.add(desktop, self.control)
        self._later()

    def on_status(self, status: str, _text: str) -> None:
        if status in ("paused", "running"):
            self._later()

    def _later(self) -> None:
        """Refresh the sidebar soon (observers must not wait)."""
        task = asyncio.ensure_future(self.refresh())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ the buttons
    async def act(self, what: str) -> None:
        """A button: ``pause``, ``takeover`` or ``resume``."""
        if self.ended:
            return
        if what == "pause":
            self.control.pause(person())
        elif what == "takeover":
            self.control.take_over(person())
        elif what == "resume":
            VIEWS.revoke(self.key)  # the person's input stops before the agent goes on
            self.control.resume()
        await self.refresh()

    # ------------------------------------------------------------ the sidebar
    def props(self) -> dict[str, Any]:
        """What the ``LiveView`` element shows now."""
        state = "ended" if self.ended else self.control.state.word
        control = not self.ended and self.control.holding == "takeover"
        src = page_url(self.key, control) if self.key and not self.ended else ""
        label = "The run is over; its desktop is closed." if self.ended else LABELS[state]
        return {"src": src, "control": control, "state": state, "label": label, "problem": self.problem or "",
                "width": self.size[0], "height": self.size[1]}

    async def refresh(self) -> None:
        """Show the element again when anything it shows changed."""
        async with self._lock:
            props = self.props()
            if props == self._shown:
                return
            self._shown = props
            try:
                await cl.ElementSidebar.set_elements([cl.CustomElement(name=ELEMENT, props=props, display="side")])
                await cl.ElementSidebar.set_title("Live desktop")
            except Exception:  # noqa: BLE001 - the view must never stop a run
                log.exception("showing the live view failed")

    async def close(self) -> None:
        """The run is over: stop serving its desktop and say so in the sidebar."""
        self.ended = True
        VIEWS.remove(self.key)
        self.control.resume()
        await self.refresh()


class UIApprover:
    """Approve / Reject buttons for an action the approval rules mark (an ``agent.approval.Asker``)."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.desktop: Any = None
        self._pending: set[concurrent.futures.Future] = set()

    def on_desktop(self, desktop: Any) -> None:
        self.desktop = desktop

    def __call__(self, action: Action, why: str) -> tuple[bool, str]:
        """Ask in the page and wait for the click (called in a worker thread, never on the event loop)."""
        future = asyncio.run_coroutine_threadsafe(self._ask(action, why), self.loop)
        self._pending.add(future)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            return False, "the run ended before an answer"
        finally:
            self._pending.discard(future)

    async def _ask(self, action: Action, why: str) -> tuple[bool, str]:
        elements = []
        png = await asyncio.to_thread(self._marked, action)
        if png is not None:
            elements.append(cl.Image(name="needs-approval.png", content=png, display="inline", size="large",
                                     mime="image/png"))
        await cl.Message(content=f"⚠ The model wants to run {code_span(describe(action))}, which needs a person's "
                                 f"approval: {md_escape(why)}. The marker shows where it would act on the screen "
                                 "as it is now.", elements=elements).send()
        text = (f"**Approve this action?** {code_span(describe(action))} — rejected, the model is told and tries "
                "another way.")
        answer = await cl.AskActionMessage(content=text, timeout=ANSWER_S, actions=[
            cl.Action(name="approve", payload={"approved": True}, label="Approve", icon="check"),
            cl.Action(name="reject", payload={"approved": False}, label="Reject", icon="x")]).send()
        if answer is None:
            return False, f"no answer within {ANSWER_S} s"
        return bool((answer.get("payload") or {}).get("approved")), person()

    def _marked(self, action: Action) -> bytes | None:
        """The screen now, with a marker where ``action`` would act."""
        from agent.ui.drawing import mark_actions, to_png

        if self.desktop is None:
            return None
        try:
            img = self.desktop.screenshot().image()
        except Exception:  # noqa: BLE001 - ask without the picture rather than not at all
            log.exception("the approval screenshot failed")
            return None
        mark_actions(img, [action.model_dump(mode="json")])
        return to_png(img, max_width=1600)

    def close(self) -> None:
        """The run ended: a question still open is answered no."""
        for future in list(self._pending):
            future.cancel()
