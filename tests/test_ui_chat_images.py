"""The browser chat caps the images of one request at the server's limit (vLLM's --limit-mm-per-prompt):
the oldest go first, the user is told, and the real stub server never accepts a request over its
limit. The context length it budgets for is the server's own."""

from __future__ import annotations

import asyncio

from agent.budget import BudgetSettings, ContextBudget
from agent.models import OpenAIModel
from agent.profiles import get_profile
from agent.ui.chat import IMAGE_OVER_LIMIT, Conversation, left_out_note, load_image_upload, send
from tests.stub_openai import StubOpenAI


def upload(tmp_path, n: int, size=(640, 400)):
    from PIL import Image

    path = tmp_path / f"shot-{n}.png"
    Image.new("RGB", size, (10 * n, 80, 160)).save(path)
    return load_image_upload(path)


def images_in(messages: list[dict]) -> int:
    return sum(1 for m in messages if isinstance(m["content"], list) for p in m["content"] if p["type"] == "image_url")


def chat(stub: StubOpenAI, conv: Conversation, profile, image_limit: int | None, context_len: int = 8192):
    async def go():
        async with OpenAIModel(base_url=stub.base_url) as model:
            await model.served_model()
            budget = ContextBudget(profile, BudgetSettings(context_len=context_len), counter=model)
            reply, fit = await send(conv, budget, lambda f: model.complete(f.messages, max_tokens=f.max_tokens),
                                    max_tokens=512, floor=256, image_limit=image_limit)
            return reply, fit, budget.context_len
    return asyncio.run(go())


def test_more_images_than_the_limit_drops_the_oldest_and_says_so(tmp_path):
    profile = get_profile("kimi-vl-thinking")
    limit = profile.images_per_prompt  # what `screenact serve` starts vLLM with for this profile
    conv = Conversation()
    with StubOpenAI(loop_replies=True, max_model_len=32768, limit_images=limit) as stub:
        stub.push("Noted.")
        for n in range(limit + 2):
            conv.ask(f"screenshot {n}", [upload(tmp_path, n)])
            reply, fit, context_len = chat(stub, conv, profile, limit)
            conv.answer(reply.answer)
        accepted = [r.image_sizes for r in stub.chat_requests]
    assert all(len(sizes) <= limit for sizes in accepted) and len(accepted) == limit + 2
    assert images_in(fit.messages) == limit and fit.images_over_limit == 2 and fit.image_limit == limit
    texts = [p["text"] for m in fit.messages if isinstance(m["content"], list) for p in m["content"]
             if p["type"] == "text"]
    assert texts.count(IMAGE_OVER_LIMIT.format(limit=limit)) == 2
    # the two oldest went: the turns of screenshots 0 and 1 carry the placeholder, the newest keep theirs
    first, second, newest = (next(m["content"] for m in fit.messages if f"screenshot {k}" in str(m["content"]))
                             for k in (0, 1, limit + 1))
    assert images_in([{"content": first}]) == 0 and images_in([{"content": second}]) == 0
    assert images_in([{"content": newest}]) == 1
    note = left_out_note(fit, context_len)
    assert note == f"ℹ 2 older image(s) left out: the server takes at most {limit} image(s) per request."
    assert context_len == 32768  # the server's own number, not the 8192 the settings said


def test_a_server_with_a_lower_limit_is_obeyed_after_its_first_refusal(tmp_path):
    """The server was started with fewer images than the profile assumes: vLLM's 400 names its number, the
    request is fitted again under it, and that limit holds for the turns after."""
    profile = get_profile("ui-tars-1.5")  # assumes 6 images per request
    conv = Conversation()
    for n in range(4):
        conv.ask(f"screenshot {n}", [upload(tmp_path, n)])
        conv.answer("ok")
    conv.ask("which one shows the dialog?", [upload(tmp_path, 9)])
    with StubOpenAI(["The last one."], models=["UI-TARS-1.5-7B"], max_model_len=32768, limit_images=2,
                    image_tokens=profile.image_rule.tokens) as stub:
        reply, fit, _ = chat(stub, conv, profile, profile.images_per_prompt)
        sizes = [r.image_sizes for r in stub.chat_requests]
    assert reply.answer == "The last one." and fit.image_limit == 2 and fit.images_over_limit == 3
    assert [len(s) for s in sizes] == [5, 2]  # one refusal (vLLM's 400), then within the server's limit
    assert "at most 2 image(s)" in left_out_note(fit, 32768)


def test_context_trimming_and_the_limit_are_told_apart(tmp_path):
    profile = get_profile("kimi-vl-thinking")
    conv = Conversation()
    for n in range(3):
        conv.ask(f"screenshot {n}", [upload(tmp_path, n, (1280, 800))])  # ~1300 tokens each
        conv.answer("seen " + "blah " * 50)
    conv.ask("and now?")
    with StubOpenAI(["Fine."], max_model_len=2700) as stub:
        _, fit, context_len = chat(stub, conv, profile, 2)
    assert fit.images_over_limit == 1 and fit.images_left_out == 1 and images_in(fit.messages) == 1
    assert left_out_note(fit, context_len) == ("ℹ 1 older image(s) left out: the server takes at most 2 image(s) "
                                               "per request; 1 earlier image(s) left out to fit the 2700-token context.")
