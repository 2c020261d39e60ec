"""Profiles: image preparation (sizes, exact token counts, transforms), prompts and message shape."""

from __future__ import annotations

import functools
import io
import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from agent.images import MoonViTRule, SmartResizeRule, count_images, decode_data_url, strip_images
from agent.profiles import DEFAULT_PROFILE, PROFILES, get_profile
from agent.prompts import HistoryStep, build_agent_messages, build_grounding_messages, clip
from tests.stub_openai import moonvit_tokens as stub_moonvit_tokens
from tools.frame import Frame
from tools.parse import parse, parse_point

CORPUS = Path(__file__).parent / "corpus" / "kimi"

# (profile, screen) -> (sent size, image tokens)
EXPECTED = {
    ("kimi-vl-thinking", (1920, 1080)): ((1920, 1080), 1032),
    ("kimi-vl-thinking", (1280, 800)): ((1280, 800), 1066),
    ("kimi-vl-thinking-2506", (1920, 1080)): ((1920, 1080), 2691),
    ("kimi-vl-thinking-2506", (1280, 800)): ((1280, 800), 1334),
    ("kimi-vl-instruct", (1920, 1080)): ((1920, 1080), 1032),
    ("kimi-vl-instruct", (1280, 800)): ((1280, 800), 1066),
    ("ui-tars-1.5", (1920, 1080)): ((1932, 1092), 2691),
    ("ui-tars-1.5", (1280, 800)): ((1288, 812), 1334),
    ("qwen2.5-vl", (1920, 1080)): ((1932, 1092), 2691),
    ("qwen2.5-vl", (1280, 800)): ((1288, 812), 1334),
    ("qwen-thousand", (1920, 1080)): ((1920, 1080), 2691),
    ("qwen-thousand", (1280, 800)): ((1280, 800), 1334),
    ("qwen3-vl", (1920, 1080)): ((1920, 1080), 2040),
    ("qwen3-vl", (1280, 800)): ((1280, 800), 1000),
    ("openai-pyautogui", (1920, 1080)): ((1920, 1080), 2691),
    ("openai-pyautogui", (1280, 800)): ((1280, 800), 1334),
}


def frame(w: int, h: int, seed: int = 0) -> Frame:
    img = Image.new("RGB", (w, h), (230, 232, 236))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, w - 1, 30), fill=(40, 50, 80))
    d.rectangle((w // 4 + seed, h // 3, w // 4 + 160 + seed, h // 3 + 36), fill=(30, 110, 210))
    d.text((w // 4 + 20 + seed, h // 3 + 10), "Save", fill=(255, 255, 255))
    return Frame.from_image(img)


FRAMES = {size: frame(*size) for size in [(1920, 1080), (1280, 800)]}


@functools.lru_cache(maxsize=None)
def prepared(name: str, screen: tuple[int, int], seed: int):
    """A prepared screenshot, encoded once per test session."""
    return get_profile(name).prepare(FRAMES[screen] if seed == 0 else frame(*screen, seed=seed))


def test_every_profile_is_covered():
    assert {name for name, _ in EXPECTED} == set(PROFILES)


@pytest.mark.parametrize("name,size", sorted(EXPECTED))
def test_prepare_sizes_tokens_and_encoding(name, size):
    profile = get_profile(name)
    image = profile.prepare(FRAMES[size])
    sent, tokens = EXPECTED[(name, size)]
    assert image.sent_size == sent and image.screen_size == size
    assert image.image_tokens == tokens
    assert profile.image_tokens(*size) == tokens + profile.image_overhead_tokens
    with Image.open(io.BytesIO(image.data)) as img:  # lossless PNG of exactly the sent size
        assert img.format == "PNG" and img.size == sent
        if sent == size:
            assert img.convert("RGB").tobytes() == FRAMES[size].image().tobytes()
    mime, data = decode_data_url(image.data_url())
    assert mime == "image/png" and data == image.data


def test_kimi_token_counts_match_the_stub_servers_own_rule():
    for size in [(1920, 1080), (2560, 1440), (1280, 800), (3840, 2160), (800, 600)]:
        for limit in (4096, 16384):
            assert MoonViTRule(limit).tokens(*size) == stub_moonvit_tokens(*size, limit)
    assert MoonViTRule(4096).tokens(2560, 1440) == 1075 and MoonViTRule(16384).tokens(2560, 1440) == 4214


def test_smart_resize_rule_is_a_fixed_point_of_its_own_output():
    rule = SmartResizeRule(min_pixels=100 * 28 * 28)
    for size in [(1920, 1080), (1280, 800), (2560, 1440), (1366, 768)]:
        sent = rule.sent_size(*size)
        assert rule.sent_size(*sent) == sent and rule.tokens(*sent) == rule.tokens(*size)


@pytest.mark.parametrize("name,model_point,screen,expected", [
    ("kimi-vl-thinking", (0.5, 0.25), (1920, 1080), (960, 270)),
    ("kimi-vl-thinking", (0.5, 0.25), (1280, 800), (640, 200)),
    ("kimi-vl-thinking-2506", (0.999, 0.001), (1920, 1080), (1918, 1)),
    ("ui-tars-1.5", (197, 525), (1920, 1080), (195, 519)),  # docs/model-interface.md §3 test vector
    ("ui-tars-1.5", (644, 406), (1280, 800), (640, 400)),
    ("qwen2.5-vl", (966, 546), (1920, 1080), (960, 540)),
    ("qwen-thousand", (500, 250), (1920, 1080), (960, 270)),
    ("qwen3-vl", (1000, 1000), (1280, 800), (1279, 799)),
    ("openai-pyautogui", (100, 200), (1920, 1080), (100, 200)),
])
def test_transform_maps_model_points_to_screen_pixels(name, model_point, screen, expected):
    image = prepared(name, screen, 0)
    assert image.transform.to_screen(*model_point) == expected


def test_jpeg_is_an_option():
    profile = get_profile("kimi-vl-thinking").with_(encoding="jpeg")
    image = profile.prepare(FRAMES[(1920, 1080)])
    assert image.mime == "image/jpeg" and image.data_url().startswith("data:image/jpeg;base64,")
    assert image.image_tokens == 1032


def test_image_size_reads_headers_of_data_and_file_urls(tmp_path):
    from agent.images import image_size, messages_with_file_urls

    png = prepared("ui-tars-1.5", (1280, 800), 0)
    jpeg = get_profile("kimi-vl-thinking").with_(encoding="jpeg").prepare(FRAMES[(1280, 800)])
    assert image_size(png.data_url()) == (1288, 812) and image_size(jpeg.data_url()) == (1280, 800)
    msgs = messages_with_file_urls([{"role": "user", "content": [png.content_part()]}], tmp_path)
    assert image_size(msgs[0]["content"][0]["image_url"]["url"]) == (1288, 812)
    with pytest.raises(ValueError):
        image_size("https://example.com/a.png")


def test_get_profile_and_unknown_names():
    assert get_profile().name == DEFAULT_PROFILE == "kimi-vl-thinking"
    with pytest.raises(ValueError) as err:
        get_profile("kimi-vl-thinkin")
    assert "kimi-vl-thinkin" in str(err.value) and all(n in str(err.value) for n in PROFILES)


def test_sampling_defaults():
    thinking = get_profile("kimi-vl-thinking")
    # the Kimi-VL README: temperature 0.6 for the Thinking model; 0.8 belongs to Thinking-2506 (its card)
    assert thinking.agent_sampling.params() == {"temperature": 0.6, "max_tokens": 8192}
    assert get_profile("kimi-vl-thinking-2506").agent_sampling.temperature == 0.8
    assert thinking.grounding_sampling.params() == {"temperature": 0.0, "max_tokens": 8192}
    assert thinking.thinking == ("◁think▷", "◁/think▷")
    assert get_profile("kimi-vl-instruct").agent_sampling.temperature == 0.2
    assert get_profile("kimi-vl-instruct").thinking is None
    assert get_profile("kimi-vl-thinking-2506").agent_sampling.max_tokens == 32768
    assert get_profile("qwen3-vl").agent_sampling.params()["top_k"] == 20


# ---------------------------------------------------------------------- messages
def assert_valid_chat(messages: list[dict]) -> None:
    """Plain OpenAI chat messages: known roles, string or part-list content, nothing else."""
    json.dumps(messages)
    assert messages and messages[-1]["role"] == "user"
    for msg in messages:
        assert set(msg) == {"role", "content"}
        role, content = msg["role"], msg["content"]
        assert role in ("system", "user", "assistant")
        if role in ("system", "assistant"):
            assert isinstance(content, str) and content.strip()
            continue
        if isinstance(content, str):
            continue
        assert isinstance(content, list) and content
        for part in content:
            if part["type"] == "text":
                assert set(part) == {"type", "text"} and isinstance(part["text"], str) and part["text"]
            else:
                assert part["type"] == "image_url" and set(part) == {"type", "image_url"}
                assert part["image_url"]["url"].startswith("data:image/")


def history_for(profile, screen, n=4):
    steps = []
    for i in range(1, n + 1):
        steps.append(HistoryStep(
            index=i,
            thought=f"Step {i} thinking: the button is near the top." + (" 很长的思考。" * 200 if i == n else ""),
            answer=f"## Action:\nClick button {i}.\n## Code:\n```python\npyautogui.click(x=0.{i}, y=0.5)\n```",
            action_text=f"Click button {i}.",
            executed=(f"click(0.{i}, 0.5)",),
            feedback="that click landed outside the window" if i == 2 else None,
            image=prepared(profile.name, screen, i * 7),
        ))
    return steps


@pytest.mark.parametrize("name", sorted(n for n, p in PROFILES.items() if not p.grounding_only))
@pytest.mark.parametrize("screen", [(1920, 1080), (1280, 800)])
def test_agent_messages(name, screen):
    profile = get_profile(name)
    image = prepared(name, screen, 0)
    history = history_for(profile, screen)
    msgs = build_agent_messages(profile, "Save the document.", history, image, screen, keep_images=2, thought_chars=300)
    assert_valid_chat(msgs)
    assert count_images(msgs) == 3  # two recent steps + the current screenshot
    assert msgs[-1]["content"][0]["image_url"]["url"] == image.data_url()
    flat = json.dumps(strip_images(msgs), ensure_ascii=False)
    assert "Save the document." in flat
    w, h = screen
    if profile.agent_prompt == "ui-tars":
        first = msgs[1]["content"][0]["text"]
        assert "Thought: ...\nAction: ..." in first and "## User Instruction" in first
        assert "click(point='<point>x1 y1</point>')" in first and "start_box" not in first  # 1.5's action space
        assert msgs[-1]["content"][0]["type"] == "image_url"
    else:
        system = msgs[0]["content"]
        assert msgs[0]["role"] == "system" and f"{w}x{h}" in system
        if profile.agent_prompt == "qwen-tool":
            resolution = "1000x1000" if profile.space == "thousand" else f"{image.width}x{image.height}"
            assert "<tool_call>" in system and f"The screen's resolution is {resolution}." in system
        else:
            assert "## Action:" in system and "## Code:" in system and "```python" in system
            assert "WAIT" in system and "DONE" in system and "FAIL" in system
        assert "Earlier steps" in msgs[1]["content"] and "Step 1: Click button 1." in msgs[1]["content"]
        assert "[feedback: that click landed outside the window]" in msgs[1]["content"]
    if profile.space == "normalized":
        assert "between 0 and 1" in flat
    elif profile.space == "thousand":
        assert "1000" in flat
    elif profile.agent_prompt != "ui-tars":
        assert f"{image.width}x{image.height}" in flat


def test_kimi_thinking_replays_thoughts_in_markers_and_clips_them():
    profile = get_profile("kimi-vl-thinking")
    screen = (1280, 800)
    history = history_for(profile, screen)
    msgs = build_agent_messages(profile, "Save.", history, prepared(profile.name, screen, 0), screen,
                                keep_images=3, thought_chars=120)
    replies = [m["content"] for m in msgs if m["role"] == "assistant"][1:]
    assert len(replies) == 3
    assert replies[0].startswith("◁think▷Step 2 thinking") and "◁/think▷## Action:\nClick button 2." in replies[0]
    assert all(len(r.split("◁/think▷")[0]) <= len("◁think▷") + 122 for r in replies)
    assert replies[-1].split("◁/think▷")[0].endswith("…")
    instruct = get_profile("kimi-vl-instruct")
    msgs = build_agent_messages(instruct, "Save.", history, instruct.prepare(FRAMES[screen]), screen, keep_images=3)
    assert all("◁think▷" not in m["content"] for m in msgs if m["role"] == "assistant")


def test_feedback_of_the_last_step_reaches_the_final_turn():
    profile = get_profile("kimi-vl-thinking")
    screen = (1280, 800)
    step = HistoryStep(index=1, answer="## Action:\nx\n## Code:\n```python\npyautogui.click(x=2, y=2)\n```",
                       feedback="click at (2, 2) is outside the screenshot", image=profile.prepare(FRAMES[screen]))
    msgs = build_agent_messages(profile, "Do it.", [step], profile.prepare(FRAMES[screen]), screen)
    assert "Feedback on your previous step: click at (2, 2) is outside" in msgs[-1]["content"][-1]["text"]


def test_history_without_images_is_all_text():
    profile = get_profile("kimi-vl-thinking")
    steps = [HistoryStep(index=i, answer=f"## Action:\nStep {i}\n## Code:\n```\nWAIT\n```") for i in (1, 2)]
    msgs = build_agent_messages(profile, "Go.", steps, profile.prepare(FRAMES[(1280, 800)]), (1280, 800))
    assert count_images(msgs) == 1 and [m["role"] for m in msgs] == ["system", "assistant", "user"]


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_grounding_messages(name):
    profile = get_profile(name)
    image = prepared(name, (1920, 1080), 0)
    msgs = build_grounding_messages(profile, image, "the Save button")
    assert_valid_chat(msgs)
    assert count_images(msgs) == 1
    text = json.dumps(strip_images(msgs), ensure_ascii=False)
    assert "the Save button" in text
    if name in ("kimi-vl-thinking", "kimi-vl-thinking-2506"):
        assert msgs[0]["role"] == "system" and "## Action:" in msgs[0]["content"] and "## Code:" in msgs[0]["content"]
        assert "between 0 and 1" in msgs[0]["content"]
        assert msgs[1]["content"][0]["type"] == "image_url"
        assert msgs[1]["content"][1]["text"] == "## Task Instruction:\nthe Save button"
        assert profile.grounding_sampling.params() == {"temperature": 0.0, "max_tokens": 8192}
    elif name == "kimi-vl-instruct":
        assert msgs[0]["content"][1]["text"] == ("Please observe the screenshot, please locate the following "
                                                 "elements with action and point.<instruction> the Save button")
    elif name == "ui-tars-1.5":
        assert "## Action Space\nclick(point='<point>x1 y1</point>')" in msgs[1]["content"][0]["text"]
        assert "start_box" not in msgs[1]["content"][0]["text"]
    elif name in ("qwen2.5-vl", "qwen3-vl"):
        system = msgs[0]["content"]
        tool = json.loads(system.split("<tools>\n", 1)[1].split("\n</tools>", 1)[0])
        assert tool["function"]["name"] == "computer_use" and "<tool_call>" in system
        # 2.5 answers in pixels of the image it was sent, 3 on a 1000x1000 grid
        resolution = f"{image.width}x{image.height}" if name == "qwen2.5-vl" else "1000x1000"
        assert f"The screen's resolution is {resolution}." in tool["function"]["description"]
        assert ("answer" in tool["function"]["parameters"]["properties"]["action"]["enum"]) == (name == "qwen3-vl")
        user = [p["type"] for p in msgs[1]["content"]]
        assert user == (["text", "image_url"] if name == "qwen2.5-vl" else ["image_url", "text"])
    elif name == "qwen-thousand":
        assert msgs == [{"role": "user", "content": [msgs[0]["content"][0], {"type": "text", "text": (
            "In this UI screenshot, what is the position of the element corresponding to the command "
            "\"the Save button\" (with bbox)?")}]}]
        assert profile.grounding_sampling.params()["skip_special_tokens"] is False


def test_os_atlas_is_grounding_only():
    profile = get_profile("qwen-thousand")
    assert profile.grounding_only and not any(p.grounding_only for p in PROFILES.values() if p is not profile)
    with pytest.raises(ValueError, match="grounding-only"):
        build_agent_messages(profile, "Save.", [], prepared("qwen-thousand", (1280, 800), 0), (1280, 800))


def test_served_model_names_follow_the_seeds_style():
    """The seed served Kimi-VL-A3B-Thinking under its repository's own name; every profile does the same."""
    for profile in PROFILES.values():
        assert profile.served_model_name == profile.hf_model.rsplit("/", 1)[-1], profile.name


def test_clip():
    assert clip("short", 10) == "short"
    assert clip("one two three four", 15) == "one two three …"
    assert clip("abcdefghij klm", 8) == "abcdefgh …"
    assert clip("x" * 50, None) == "x" * 50


# ---------------------------------------------------------------------- replies in the profile's format
@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.txt")))
def test_corpus_parses_with_the_kimi_profile(name):
    """Cross-check with tools.parse: the recorded-shape replies give the indexed actions and points."""
    meta = json.loads((CORPUS / "index.json").read_text())[name]
    profile = get_profile(meta.get("profile", "kimi-vl-thinking"))
    text = (CORPUS / name).read_text(encoding="utf-8")
    if meta["mode"] == "grounding":
        assert parse_point(text, profile.fmt) == tuple(meta["point"])
        return
    parsed = parse(text, profile.fmt)
    got = [a.model_dump() for a in parsed.actions]
    for want, have in zip(meta["expect"], got, strict=True):
        assert {k: have[k] for k in want} == want
    assert parsed.thinking_unclosed == (not meta["thinking_complete"])
