"""VLMGrounder against the real HTTP stub server, with replies in the models' own output formats."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from agent.budget import BudgetError
from agent.grounders import Grounder, Grounding, Point, VLMGrounder
from agent.images import decode_data_url
from agent.models import OpenAIModel, RetryPolicy, ServerError
from agent.profiles import Sampling, get_profile
from tests.stub_openai import StubOpenAI
from tools.frame import Frame

CORPUS = Path(__file__).parent / "corpus" / "kimi"

# Kimi-VL-A3B-Thinking grounding replies in the shape of the published ScreenSpot-Pro run.
SAVE = (
    "◁think▷The user wants the Save button. The toolbar at the top has New, Open and Save; Save is the "
    "third item, a little left of the middle of the screen, near the top. Its centre is at about 45% of the "
    "width and 12% of the height.◁/think▷## Action:\nclick the Save button\n## Code:\n```python\n"
    "pyautogui.click(x=0.4531, y=0.1234)\n```"
)
CHINESE = (
    "◁think▷用户要点击“保存”按钮。它在对话框右下角，确定按钮的左边。◁/think▷## Action:\n点击“保存”按钮\n"
    "## Code:\n```python\npyautogui.click(x=0.8125, y=0.9021)\n```"
)
NO_POINT = (
    "◁think▷I looked for a Save button but the screenshot only shows a terminal.◁/think▷## Action:\n"
    "There is no Save button on this screen.\n## Code:\n```python\nFAIL\n```"
)
UNCLOSED = (
    "◁think▷The instruction asks for the Save button. Let me scan the toolbar from left to right: first an "
    "icon of a blank page, which is probably New; then a folder, Open; then a floppy disk at x=0.45, y=0.12 "
    "which might be"
)
OUTSIDE = (
    "◁think▷It is to the right.◁/think▷## Action:\nclick Save\n## Code:\n```python\n"
    "pyautogui.click(x=1.7, y=0.2)\n```"
)
FAST = RetryPolicy(max_retries=0, base_delay=0.01, max_delay=0.02, jitter=0.0)


def screen(w: int, h: int) -> Frame:
    img = Image.new("RGB", (w, h), (236, 236, 236))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, w, 40), fill=(60, 70, 100))
    d.rectangle((int(w * 0.43), int(h * 0.1), int(w * 0.48), int(h * 0.14)), fill=(40, 120, 220))
    return Frame.from_image(img)


def run(coro):
    return asyncio.run(coro)


def ground_with(stub: StubOpenAI, frame: Frame, description: str, profile: str = "kimi-vl-thinking",
                **kw) -> Grounding:
    async def go() -> Grounding:
        async with OpenAIModel(base_url=stub.base_url, retry=FAST) as model:
            return await VLMGrounder(model, get_profile(profile), **kw).locate(frame, description)
    return run(go())


@pytest.mark.parametrize("size,expected", [((1920, 1080), (869, 133)), ((1280, 800), (579, 98))])
def test_kimi_screenspot_reply_maps_to_the_screen_pixel(size, expected):
    frame = screen(*size)
    with StubOpenAI([SAVE]) as stub:
        g = ground_with(stub, frame, "click the Save button")
        req = stub.chat_requests[0]
    # 0.4531 × 1920 = 869.95 → pixel 869; 0.1234 × 1080 = 133.27 → 133 (truncation, like pyautogui)
    assert g.point == Point(*expected)
    assert g.reply == SAVE and g.grounder == "vlm:kimi-vl-thinking" and g.latency_s > 0
    assert g.details["model_point"] == [0.4531, 0.1234]
    assert g.details["usage"]["prompt_tokens"] == req.prompt_tokens > 0
    # the request: system prompt, then the native screenshot and the ScreenSpot-Pro instruction text
    body = req.body
    assert body["temperature"] == 0.0
    assert req.prompt_tokens + body["max_tokens"] <= 8192
    assert req.image_sizes == [size]
    system, user = body["messages"]
    assert system["role"] == "system" and "## Code:" in system["content"] and "between 0 and 1" in system["content"]
    parts = user["content"]
    assert [p["type"] for p in parts] == ["image_url", "text"]
    mime, data = decode_data_url(parts[0]["image_url"]["url"])
    assert mime == "image/png"
    assert Frame.from_image(Image.open(io.BytesIO(data))).bgra == frame.bgra  # lossless
    assert parts[1]["text"] == "## Task Instruction:\nclick the Save button"


def test_chinese_reply_and_ground_returns_the_point():
    frame = screen(1280, 800)
    with StubOpenAI([CHINESE]) as stub:
        async def go():
            async with OpenAIModel(base_url=stub.base_url, retry=FAST) as model:
                return await VLMGrounder(model, get_profile("kimi-vl-thinking")).ground(frame, "点击 保存 按钮")
        point = run(go())
        text = stub.chat_requests[0].body["messages"][1]["content"][1]["text"]
    assert point == Point(1040, 721)  # 0.8125 × 1280 = 1040.0; 0.9021 × 800 = 721.68
    assert text == "## Task Instruction:\n点击 保存 按钮"


def test_corpus_screenspot_reply():
    reply = (CORPUS / "08_grounding_screenspot.txt").read_text(encoding="utf-8")
    with StubOpenAI([reply]) as stub:
        g = ground_with(stub, screen(1920, 1080), "the Export button")
    assert g.point == Point(1560, 50)  # 0.8125 × 1920 = 1560; 0.0463 × 1080 = 50.004


def test_reply_without_a_point_is_none():
    with StubOpenAI([NO_POINT]) as stub:
        g = ground_with(stub, screen(1280, 800), "the Save button")
    assert g.point is None and not g.found
    assert g.details["reason"] == "the reply names no point" and g.reply == NO_POINT


def test_unclosed_thinking_is_none_even_with_a_point_inside_the_thought():
    with StubOpenAI([UNCLOSED]) as stub:
        g = ground_with(stub, screen(1280, 800), "the Save button")
    assert g.point is None
    assert "ended inside its thinking" in g.details["reason"]


def test_thinking_cut_by_the_length_limit_is_none():
    profile = get_profile("kimi-vl-thinking")
    tiny = profile.with_(grounding_sampling=Sampling(temperature=0.0, max_tokens=20, max_tokens_floor=20))
    with StubOpenAI([SAVE]) as stub:
        async def go():
            async with OpenAIModel(base_url=stub.base_url, retry=FAST) as model:
                return await VLMGrounder(model, tiny).locate(screen(1280, 800), "the Save button")
        g = run(go())
    assert g.point is None and g.details["finish_reason"] == "length" and g.details["max_tokens"] == 20
    assert "ended inside its thinking" in g.details["reason"]


def test_point_far_outside_is_none_with_the_reason():
    with StubOpenAI([OUTSIDE]) as stub:
        g = ground_with(stub, screen(1920, 1080), "the Save button")
    assert g.point is None and g.details["model_point"] == [1.7, 0.2]
    assert "outside the screenshot" in g.details["reason"] and "between 0 and 1" in g.details["reason"]


def test_point_just_outside_is_clamped_onto_the_screen():
    reply = SAVE.replace("x=0.4531, y=0.1234", "x=1.002, y=0.5")
    with StubOpenAI([reply]) as stub:
        g = ground_with(stub, screen(1920, 1080), "the right edge")
    assert g.point == Point(1919, 540)


def test_ui_tars_pixels_of_the_resized_image():
    # docs/model-interface.md §3 vector: 1920×1080 → smart_resize 1932×1092; model (197, 525) → screen (195, 519)
    reply = "Action: click(start_box='<|box_start|>(197,525)<|box_end|>')"
    with StubOpenAI([reply], models=["ui-tars-1.5"], max_model_len=32768,
                    image_tokens=lambda w, h: (w // 28) * (h // 28)) as stub:
        g = ground_with(stub, screen(1920, 1080), "the Save button", profile="ui-tars-1.5", context_len=32768)
        sizes = stub.chat_requests[0].image_sizes
    assert sizes == [(1932, 1092)]
    assert g.point == Point(195, 519) and g.grounder == "vlm:ui-tars-1.5"


def test_request_that_cannot_fit_raises_budget_error():
    with StubOpenAI([SAVE], max_model_len=1500) as stub:
        with pytest.raises(BudgetError, match="context length is 1500"):
            ground_with(stub, screen(1920, 1080), "the Save button", context_len=1500)
        assert stub.chat_requests == []


def test_budget_follows_the_servers_number_from_tokenize():
    # the caller believes 1500, the server's /tokenize answer says 8192: the request is fitted to 8192
    with StubOpenAI([SAVE], max_model_len=8192) as stub:
        g = ground_with(stub, screen(1920, 1080), "the Save button", context_len=1500)
    assert g.point is not None and g.details["max_tokens"] > 1500


def test_server_failure_propagates_not_none():
    with StubOpenAI([SAVE]) as stub:
        stub.fail_next("500", times=5)
        with pytest.raises(ServerError):
            ground_with(stub, screen(1280, 800), "the Save button")


def test_vlm_grounder_satisfies_the_protocol():
    grounder = VLMGrounder(OpenAIModel(base_url="http://127.0.0.1:9/v1"), get_profile())
    assert isinstance(grounder, Grounder)
    g = Grounding(Point(3, 4), "x", "test", details={"a": 1})
    assert g.found and not Grounding(None, "x", "test").found
