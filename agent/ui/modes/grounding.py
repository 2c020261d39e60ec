"""Grounding mode: a screenshot and a description of an element come back with the predicted point
drawn on the screenshot."""

from __future__ import annotations

from pathlib import Path

import chainlit as cl
from chainlit.utils import utc_now

from agent.models import ModelError, Reply
from agent.ui.attachments import uploads
from agent.ui.chat import clip, code_block, describe_error, md_escape
from agent.ui.grounding_view import ground_upload
from agent.ui.settings import make_model, profile_named, settings
from agent.ui.streaming import DeltaPump, ReplyView


async def grounding_turn(message: cl.Message) -> None:
    """Ground the message's description on its screenshot (or the last one) and show the point drawn."""
    st = settings()
    images, problems = uploads(message)
    if problems:
        await cl.ErrorMessage(content="The upload cannot be used: " + md_escape(" ".join(problems))).send()
        return
    upload = images[-1] if images else cl.user_session.get("last_image")
    if images:
        cl.user_session.set("last_image", images[-1])
    description = (message.content or "").strip()
    if upload is None:
        await cl.Message(content="Attach a screenshot (or paste one) and describe the element to find, "
                                 "e.g. “the Save button”.").send()
        return
    if not description:
        await cl.Message(content=f"Got {md_escape(upload.name)} ({upload.width}×{upload.height}). Now describe the "
                                 "element to find, e.g. “the Save button”.").send()
        return
    profile = profile_named(st.profile)
    if st.model:
        profile = profile.with_(served_model_name=st.model)
    view = ReplyView(profile, answer=False)
    pump = DeltaPump(view.delta) if st.stream else None
    model = make_model(st, on_delta=pump.push if pump else None)
    try:
        result = await ground_upload(model, profile, upload, description, context_len=st.context_len)
    except ModelError as exc:
        if pump is not None:
            await pump.close()
        await view.finish(None)
        await cl.ErrorMessage(content=md_escape(describe_error(exc))).send()
        return
    finally:
        if pump is not None:
            await pump.close()
        await model.aclose()
    await view.finish(Reply.build(result.reply, profile.thinking))
    answer = cl.Step(name="Model answer", type="llm", parent_id=view.parent_id, show_input=False)
    answer.output = code_block(clip(result.answer or result.reply or "(empty reply)", 4000))
    answer.start = answer.end = utc_now()
    await answer.send()
    if result.point is not None:
        head = (f"**{md_escape(clip(description, 120))}** → point **({result.point[0]}, {result.point[1]})** "
                f"on the {upload.width}×{upload.height} screenshot")
    else:
        head = f"**No point found** for {md_escape(clip(description, 120))}: {md_escape(result.reason or 'no reason given')}"
    image = cl.Image(name=f"grounding-{Path(upload.name).stem}.png", content=result.image_png, display="inline",
                     size="large", mime="image/png")
    await cl.Message(content=head, elements=[image]).send()
