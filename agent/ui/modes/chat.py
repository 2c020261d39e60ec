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
from agent.ui.chat import ChatFit, Conversation, describe_error, md_escape
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
        budget = ContextBudget(profile, BudgetSettings(context_len=st.context_len), counter=model)
        fit = await conv.fit(budget, st.max_tokens, floor=min(st.max_tokens, CHAT_FLOOR))
        notes += _left_out(fit, st.context_len)
        reply = await _complete(model, st, profile, fit, view)
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


def _left_out(fit: ChatFit, context_len: int) -> list[str]:
    """A note saying which earlier turns and images were left out to fit the context, if any."""
    if not fit.trimmed:
        return []
    left = []
    if fit.turns_left_out:
        left.append(f"{fit.turns_left_out} earlier turn(s)")
    if fit.images_left_out:
        left.append(f"{fit.images_left_out} earlier image(s)")
    return [f"ℹ {' and '.join(left)} left out to fit the {context_len}-token context."]


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
