"""Chat mode: ask the model about images; answers stream in with the thinking apart, and the history
is kept within the context length."""

from __future__ import annotations

import asyncio
from typing import Any

import chainlit as cl

from agent.budget import BudgetSettings, ContextBudget
from agent.models import ModelError, OpenAIModel, Reply
from agent.profiles import Profile
from agent.ui.attachments import uploads
from agent.ui.chat import ChatFit, Conversation, describe_error, left_out_note, md_escape, send
from agent.ui.settings import Settings, make_model, profile_named, settings
from agent.ui.streaming import DeltaPump, ReplyView

CHAT_FLOOR = 256  # an answer gets at least this many tokens before history is left out


def conversation() -> Conversation:
    """This browser session's conversation (made on first use)."""
    conv = cl.user_session.get("conversation")
    if conv is None:
        conv = Conversation(settings().system_prompt)
        cl.user_session.set("conversation", conv)
    return conv


async def chat_turn(message: cl.Message) -> None:
    """Answer a chat message: its images and text join the conversation, the reply streams in."""
    st = settings()
    conv = conversation()
    images, problems = uploads(message)
    if problems:
        await cl.ErrorMessage(content="The upload cannot be used: " + md_escape(" ".join(problems))
                              + "\n\nAttach a PNG, JPEG or WebP image (or paste one) and send again.").send()
        return
    text = message.content or ""
    if not text.strip() and not images:
        return
    notes = [f"ℹ {md_escape(img.name)}: {md_escape(img.note)}" for img in images if img.note]
    if images:
        cl.user_session.set("last_image", images[-1])
    profile = profile_named(st.profile)
    conv.system = st.system_prompt
    conv.ask(text, images)
    view = ReplyView(profile)
    model = make_model(st)
    try:
        await _server_context(model)  # the budget follows the server's max_model_len once the model knows it
        budget = ContextBudget(profile, BudgetSettings(context_len=st.context_len), counter=model)
        limit = cl.user_session.get("image_limit") or profile.images_per_prompt
        reply, fit = await send(conv, budget, lambda f: _complete(model, st, profile, f, view),
                                max_tokens=st.max_tokens, floor=min(st.max_tokens, CHAT_FLOOR), image_limit=limit)
        cl.user_session.set("image_limit", fit.image_limit)  # a lower limit the server named holds from now on
        note = left_out_note(fit, budget.context_len)
        notes += [note] if note else []
    except ModelError as exc:
        conv.abandon()
        if view.step is not None or view.msg is not None:
            await view.finish(None, note=f"⚠ **The reply broke off:** {md_escape(describe_error(exc))}")
        else:
            await cl.ErrorMessage(content=md_escape(describe_error(exc))).send()
        return
    except asyncio.CancelledError:
        conv.abandon()
        raise
    finally:
        await model.aclose()
    conv.answer(reply.answer)
    await view.finish(reply, note="\n".join(notes) or None)


async def _server_context(model: OpenAIModel) -> None:
    """Ask the server for the model's context length (vLLM lists it); a server that cannot say is no error."""
    try:
        await model.served_model()
    except ModelError:
        pass  # the request itself will report an unreachable server or an unknown model


async def _complete(model: OpenAIModel, st: Settings, profile: Profile, fit: ChatFit, view: ReplyView) -> Reply:
    """The model's reply to the fitted messages, streamed into ``view`` when streaming is on."""
    sampling: dict[str, Any] = {**profile.agent_sampling.extra, "temperature": st.temperature, "top_p": st.top_p,
                                "max_tokens": fit.max_tokens}
    if not st.stream:
        return await model.complete(fit.messages, stream=False, **sampling)
    pump = DeltaPump(view.delta)
    try:
        return await model.complete(fit.messages, stream=True, on_delta=pump.push, **sampling)
    finally:
        await pump.close()  # what streamed is shown before the reply (or the error) is
