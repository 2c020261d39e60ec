"""The screenact browser front end (Chainlit): only its handlers. Start it with ``screenact ui``.

Three modes, picked in the message composer, each in its own module under ``agent.ui.modes``:

- **Chat** — ask the model about images (upload or paste them). Answers stream in; Kimi-VL's
  thinking streams into a collapsible block of its own. History is kept within the context length.
- **Agent** — type an instruction (a fresh sandboxed desktop with a terminal opens) or a bundled
  task's id (or click one in the welcome message). Each step appears as it is recorded: the
  screenshot the model saw with a marker where it acted, its thought and its actions. Beside them,
  the desktop live with Pause / Take over / Resume (``agent.ui.watch``); actions the approval rules
  mark wait for Approve / Reject. Stop with the stop button; the checker's verdict and the episode
  folder come at the end.
- **Grounding** — attach a screenshot and describe an element; the screenshot comes back with the
  predicted point drawn on it.

The settings live in ``agent.ui.settings``, the streamed view of a reply in ``agent.ui.streaming``.
Model output is data: it is rendered as Markdown with HTML disabled, and everything that must read
literally (thoughts, actions, errors, file names) is escaped. Failures of the server, an upload or
the sandbox become readable messages; nothing here lets an exception reach the user as a crash.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import chainlit as cl

from agent.ui.agent_view import load_bundled
from agent.ui.chat import Conversation, clip, code_span, describe_error, md_escape
from agent.ui.modes.agent import agent_turn, live_control, run_task_button, stop_run
from agent.ui.modes.chat import chat_turn, conversation
from agent.ui.modes.grounding import grounding_turn
from agent.ui.settings import Settings, server_models, settings, settings_widgets

log = logging.getLogger("screenact.ui")

MODES = [cl.Mode(id="mode", name="Mode", options=[
    cl.ModeOption(id="chat", name="Chat", description="Ask about images; streamed answers, thinking apart.",
                  icon="message-circle", default=True),
    cl.ModeOption(id="agent", name="Agent", description="Type an instruction or a bundled task id; the model "
                  "operates a fresh sandboxed desktop.", icon="bot"),
    cl.ModeOption(id="grounding", name="Grounding", description="Attach a screenshot and describe an element; "
                  "get the predicted point drawn on it.", icon="crosshair"),
])]


@cl.on_chat_start
async def on_chat_start() -> None:
    """A new chat: settings from the server's models, the modes, and the welcome message with the tasks."""
    st = Settings.initial(None)
    cl.user_session.set("settings", st)
    models, problem = await server_models(st)
    if not st.model and len(models) == 1:
        st.model = models[0]
    cl.user_session.set("conversation", Conversation(st.system_prompt))
    await cl.ChatSettings(settings_widgets(st, models)).send()
    await cl.context.emitter.set_modes(MODES)
    try:
        tasks = load_bundled()
        task_problem = None
    except Exception as exc:  # noqa: BLE001 - a broken task file must not break the app
        tasks, task_problem = [], describe_error(exc)
    cl.user_session.set("bundled", {t.id: t for t in tasks})
    lines = [
        "## screenact",
        f"Model server {code_span(st.base_url)} · model {code_span(st.model or '(the server’s only model)')} · "
        f"profile {code_span(st.profile)} — change them under ⚙ settings.",
        "",
        "Pick a **mode** in the composer below:",
        "- **Chat** — ask about an image: attach or paste it, then ask. The model's thinking appears in a "
        "collapsible block above its answer.",
        "- **Agent** — type an instruction: a fresh sandboxed desktop with a terminal opens and the model "
        "operates it. Or type the id of a bundled task, or click one below.",
        "- **Grounding** — attach a screenshot and describe an element; the predicted point comes back drawn on it.",
    ]
    if problem:
        lines += ["", f"⚠ **The model server is not reachable:** {md_escape(problem)}"]
    if task_problem:
        lines += ["", f"⚠ The bundled tasks could not be loaded: {md_escape(task_problem)}"]
    elif tasks:
        lines += ["", f"**Bundled tasks** ({len(tasks)}) — click to run one in Agent mode:"]
    actions = [cl.Action(name="run_task", payload={"id": t.id}, label=t.id, tooltip=clip(t.instruction, 200),
                         icon="play") for t in tasks]
    await cl.Message(content="\n".join(lines), actions=actions).send()


@cl.on_settings_update
async def on_settings_update(values: dict[str, Any]) -> None:
    """The ⚙ panel was confirmed: take its values; a new server (or key) is asked for its models."""
    st = settings()
    old_system, old_url = st.system_prompt, st.base_url
    problems = st.apply(values)
    if st.system_prompt != old_system:
        conversation().system = st.system_prompt
    if problems:
        await cl.ErrorMessage(content="Some settings were not taken: " + md_escape("; ".join(problems))).send()
    if st.base_url != old_url or values.get("api_key"):
        models, problem = await server_models(st)
        # shown again with an empty key field: a typed key must not ride along with a later URL change
        await cl.ChatSettings(settings_widgets(st, models)).send()
        if problem:
            await cl.ErrorMessage(content=md_escape(problem)).send()
        else:
            await cl.Message(content=f"Connected to {code_span(st.base_url)}; it serves "
                                     f"{', '.join(code_span(m) for m in models) or 'no models'}.").send()


@cl.on_message
async def on_message(message: cl.Message) -> None:
    """A message, answered by the mode picked in the composer."""
    mode = (getattr(message, "modes", None) or {}).get("mode", "chat")
    try:
        if mode == "agent":
            await agent_turn(message)
        elif mode == "grounding":
            await grounding_turn(message)
        else:
            await chat_turn(message)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence: say what happened, keep the app up
        log.exception("handling a message failed")
        await cl.ErrorMessage(content=f"Something went wrong: {md_escape(describe_error(exc))}").send()


@cl.action_callback("run_task")
async def on_run_task(action: cl.Action) -> None:
    """A bundled task's button in the welcome message."""
    await run_task_button(str((action.payload or {}).get("id", "")))


@cl.action_callback("live_control")
async def on_live_control(action: cl.Action) -> None:
    """Pause / Take over / Resume beside the live desktop (the ``LiveView`` element's buttons)."""
    what = str((action.payload or {}).get("do", ""))
    if what in ("pause", "takeover", "resume"):
        await live_control(what)


@cl.on_stop
async def on_stop() -> None:
    """The composer's stop button."""
    stop_run()
