"""Context budget: no request ever exceeds the context, measured by the stub server's own counting."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from agent.budget import BudgetError, BudgetSettings, ContextBudget, estimate_message_tokens, estimate_text_tokens
from agent.images import count_images
from agent.models import OpenAIModel, ReplayModel, RetryPolicy
from agent.profiles import get_profile
from agent.prompts import HistoryStep
from tests.stub_openai import StubOpenAI, text_tokens
from tools.frame import Frame
from tools.parse import ParseError, action_line, parse

CORPUS = Path(__file__).parent / "corpus" / "kimi"
AGENT_REPLIES = [
    (CORPUS / name).read_text(encoding="utf-8")
    for name, meta in json.loads((CORPUS / "index.json").read_text()).items()
    if not name.startswith("_") and meta["mode"] == "agent"
]


def run(coro):
    return asyncio.run(coro)


def frame(w: int, h: int, step: int) -> Frame:
    rng = random.Random(step)
    img = Image.new("RGB", (w, h), (228, 230, 234))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, w, 28), fill=(45, 55, 85))
    for _ in range(6):
        x, y = rng.randrange(w - 200), rng.randrange(40, h - 60)
        d.rectangle((x, y, x + rng.randrange(60, 200), y + 40), fill=tuple(rng.randrange(256) for _ in range(3)))
    d.text((20, 8), f"step {step}", fill=(255, 255, 255))
    return Frame.from_image(img)


def to_history(index: int, reply, image, fmt: str) -> HistoryStep:
    """What the loop would record: the parsed reply, and feedback when it could not be used."""
    feedback = None
    executed: tuple[str, ...] = ()
    action_text = None
    try:
        parsed = parse(reply.text, fmt)
        action_text = parsed.action_text
        executed = tuple(a.type for a in parsed.actions)
        if parsed.errors:
            feedback = parsed.errors[0]
    except ParseError as e:
        feedback = str(e)
    return HistoryStep(index=index, answer=reply.answer, thought=reply.thinking, action_text=action_text,
                       executed=executed, feedback=feedback, image=image)


async def episode(profile_name: str, screen: tuple[int, int], steps: int, *, tokenize: bool,
                  context: int = 8192) -> list[tuple]:
    profile = get_profile(profile_name)
    cycle = itertools.cycle(AGENT_REPLIES)
    limit = profile.image_rule.in_token_limit  # type: ignore[attr-defined]
    seen = []
    with StubOpenAI(responder=lambda body: next(cycle), models=[profile.served_model_name], max_model_len=context,
                    in_token_limit=limit, tokenize=tokenize) as stub:
        model = OpenAIModel(profile.served_model_name, stub.base_url, thinking_markers=profile.thinking,
                            retry=RetryPolicy(max_retries=0))
        budget = ContextBudget(profile, BudgetSettings(context_len=context), counter=model)
        history: list[HistoryStep] = []
        images = [profile.prepare(frame(*screen, i)) for i in range(4)]  # encoding 40 frames would dominate
        for i in range(1, steps + 1):
            image = images[i % len(images)]
            fitted = await budget.fit_agent("Export the sheet as CSV into ~/out.csv and close the app.",
                                            history, image, screen)
            reply = await model.complete(fitted.messages, **{**profile.agent_sampling.params(),
                                                              "max_tokens": fitted.max_tokens})
            got = stub.chat_requests[-1]
            seen.append((fitted, got.prompt_tokens, got.body["max_tokens"], len(got.image_sizes)))
            history.append(to_history(i, reply, image, profile.fmt))
        await model.aclose()
    return seen


@pytest.mark.parametrize("profile_name,screen,tokenize", [
    ("kimi-vl-thinking", (1920, 1080), True),
    ("kimi-vl-thinking", (1280, 800), False),
    ("kimi-vl-thinking-2506", (1920, 1080), True),
])
def test_forty_step_episode_never_exceeds_the_context(profile_name, screen, tokenize):
    seen = run(episode(profile_name, screen, 40, tokenize=tokenize))
    assert len(seen) == 40
    for fitted, server_prompt, sent_max, images in seen:
        # the server's own count of what it received, plus the completion budget, fits
        assert server_prompt + sent_max <= 8192
        assert sent_max == fitted.max_tokens
        assert sent_max >= get_profile(profile_name).agent_sampling.max_tokens_floor
        assert images == fitted.images
        if fitted.exact:
            assert fitted.prompt_tokens == server_prompt  # exact text count + exact image rule
        else:
            assert fitted.prompt_tokens >= server_prompt  # the estimate never under-counts
    last = seen[-1][0]
    keep = get_profile(profile_name).keep_images
    assert last.image_steps <= keep and last.images == last.image_steps + 1
    assert last.dropped_steps + last.text_steps + last.image_steps == 39
    assert any(f.text_steps > 0 for f, *_ in seen)  # older steps became text
    assert [f.exact for f, *_ in seen] == [tokenize] * 40


def test_max_tokens_shrinks_before_history_is_dropped():
    profile = get_profile("kimi-vl-thinking")
    screen = (1280, 800)
    history = [HistoryStep(index=i, answer="## Action:\nClick.\n## Code:\n```python\npyautogui.click(x=0.5, y=0.5)\n```",
                           thought="short", image=profile.prepare(frame(*screen, i))) for i in range(1, 4)]
    image = profile.prepare(frame(*screen, 9))
    budget = ContextBudget(profile, BudgetSettings(context_len=8192))
    fitted = run(budget.fit_agent("Do it.", history, image, screen))
    assert fitted.dropped_steps == 0 and fitted.image_steps == 3 and fitted.images == 4
    assert profile.agent_sampling.max_tokens_floor <= fitted.max_tokens < profile.agent_sampling.max_tokens
    assert fitted.total == 8192 - budget.settings.safety_margin


def long_text_history(profile, screen, sentences: int) -> list[HistoryStep]:
    answer = "## Action:\n" + "Open the long menu and pick the right entry. " * sentences + "\n## Code:\n```\nWAIT\n```"
    return [HistoryStep(index=i, answer=answer, action_text=action_line(answer), executed=("wait",),
                        image=profile.prepare(frame(*screen, i)) if i > 27 else None) for i in range(1, 31)]


def test_oldest_text_steps_are_dropped_first():
    profile = get_profile("kimi-vl-thinking")
    screen = (1280, 800)
    history = long_text_history(profile, screen, sentences=3)
    fitted = run(ContextBudget(profile, BudgetSettings(keep_images=3)).fit_agent(
        "Do it.", history, profile.prepare(frame(*screen, 99)), screen))
    assert fitted.image_steps == 3 and 0 < fitted.dropped_steps < 27 and fitted.text_steps == 27 - fitted.dropped_steps
    assert fitted.text_steps >= 8
    oldest_kept = 1 + fitted.dropped_steps
    assert f"Step {oldest_kept}:" in fitted.messages[1]["content"]
    assert f"Step {oldest_kept - 1}:" not in fitted.messages[1]["content"]
    # one more text step would not have fitted
    bigger = run(ContextBudget(profile, BudgetSettings(keep_images=3)).count(
        __import__("agent.prompts", fromlist=["x"]).build_agent_messages(
            profile, "Do it.", history[fitted.dropped_steps - 1:], profile.prepare(frame(*screen, 99)), screen,
            keep_images=3, thought_chars=1500)))[0]
    assert bigger + fitted.max_tokens > 8192 - 16 or 8192 - 16 - bigger < profile.agent_sampling.max_tokens_floor


def test_a_screenshot_step_becomes_text_to_keep_min_text_steps():
    profile = get_profile("kimi-vl-thinking")
    screen = (1280, 800)
    history = long_text_history(profile, screen, sentences=8)  # ~200 tokens a summary line
    settings = BudgetSettings(keep_images=3, min_text_steps=8)
    fitted = run(ContextBudget(profile, settings).fit_agent("Do it.", history, profile.prepare(frame(*screen, 99)), screen))
    assert fitted.image_steps == 2 and fitted.text_steps >= 8 and fitted.images == 3
    assert "Step 28:" in fitted.messages[1]["content"]  # the step whose screenshot went is now a text line


def test_screenshots_that_cannot_fit_become_text():
    profile = get_profile("kimi-vl-thinking-2506")  # 2691 tokens per 1080p screenshot
    screen = (1920, 1080)
    history = [HistoryStep(index=i, answer="## Action:\nx\n## Code:\n```\nWAIT\n```",
                           image=profile.prepare(frame(*screen, i))) for i in range(1, 4)]
    fitted = run(ContextBudget(profile, BudgetSettings(context_len=8192, keep_images=3)).fit_agent(
        "Go.", history, profile.prepare(frame(*screen, 8)), screen))
    # 3 x 2695 image tokens + the 2048 floor cannot fit 8192: screenshots turn into text, nothing is lost
    assert fitted.images < 3 and count_images(fitted.messages) == fitted.images
    assert fitted.dropped_steps == 0 and fitted.image_steps + fitted.text_steps == 3
    assert fitted.total <= 8192 - 16


def test_budget_error_when_even_the_screenshot_does_not_fit():
    profile = get_profile("kimi-vl-thinking-2506")
    screen = (1920, 1080)
    with pytest.raises(BudgetError) as err:
        run(ContextBudget(profile, BudgetSettings(context_len=4096)).fit_agent(
            "Go.", [], profile.prepare(frame(*screen, 1)), screen))
    msg = str(err.value)
    assert "4096" in msg and "2695" in msg and "--max-model-len" in msg


def test_grounding_request_lowers_max_tokens_or_fails_clearly():
    from agent.prompts import build_grounding_messages

    profile = get_profile("kimi-vl-thinking")
    image = profile.prepare(frame(1920, 1080, 1))
    msgs = build_grounding_messages(profile, image, "the Save button")
    budget = ContextBudget(profile, BudgetSettings(context_len=8192))
    fitted = run(budget.fit_messages(msgs, profile.grounding_sampling.max_tokens,
                                     floor=profile.grounding_sampling.max_tokens_floor))
    assert fitted.images == 1 and fitted.image_tokens == 1036
    assert fitted.total == 8192 - budget.settings.safety_margin and fitted.max_tokens < 8192
    with pytest.raises(BudgetError, match="1036 for 1 image"):
        run(ContextBudget(profile, BudgetSettings(context_len=1500)).fit_messages(msgs, 8192, floor=1024))


def test_replay_backend_counts_by_estimate():
    profile = get_profile("kimi-vl-thinking")
    budget = ContextBudget(profile, counter=ReplayModel(["x"]))
    msgs = [{"role": "user", "content": [profile.prepare(frame(640, 400, 1)).content_part(),
                                         {"type": "text", "text": "hello"}]}]
    total, image_tokens, images, exact = run(budget.count(msgs))
    assert not exact and images == 1 and image_tokens == profile.image_tokens(640, 400)
    assert total == image_tokens + estimate_message_tokens(msgs)


@pytest.mark.parametrize("text", [
    "plain ASCII words, numbers 0.52 and code pyautogui.click(x=0.52, y=0.31)",
    "用户要求在姓名输入框中填写 Alice。观察截图：窗口中间有一个表单",
    "◁think▷ emoji 🙂🚀 and accents éàü, symbols ←→ ◁/think▷",
    "한국어 텍스트와 日本語のテキスト",
    "",
])
def test_estimate_never_undercounts_the_stand_in_tokenizer(text):
    assert estimate_text_tokens(text) >= text_tokens(text)


def test_estimate_never_undercounts_random_text():
    rng = random.Random(7)
    alphabet = "abc XYZ 0123456789(),.=_'\n" + "的一是在不了有和人这中大为上个国" + "éü←◁▷🙂"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 400)))
        assert estimate_text_tokens(text) >= text_tokens(text)
