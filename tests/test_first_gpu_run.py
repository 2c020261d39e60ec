"""The first real GPU run, rehearsed against the stub HTTP server: a 4K ScreenSpot-Pro-format sample
grounded with every profile, each model answering in its own published format, against a server that
publishes its context length like vLLM. At 32768 every profile succeeds; at 8192 a run that asks for
more, or whose screenshot cannot fit, is refused at start with a clear message and nothing is asked."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest

from agent.cli import main as cli
from agent.profiles import PROFILES, Profile, get_profile
from tests.stub_openai import StubOpenAI

W, H = 3840, 2160
BOX = [1800, 1000, 2040, 1160]  # the Save button, centred on the screen
INSTRUCTION = "the Save button"


@pytest.fixture(scope="module")
def pro_4k(tmp_path_factory) -> Path:
    """A ScreenSpot-Pro-format dataset with one 3840x2160 screenshot and one sample."""
    from PIL import Image, ImageDraw

    root = tmp_path_factory.mktemp("pro4k")
    (root / "annotations").mkdir()
    (root / "images" / "editor_linux").mkdir(parents=True)
    img = Image.new("RGB", (W, H), (236, 236, 236))
    ImageDraw.Draw(img).rectangle(BOX, fill=(40, 110, 200))
    img.save(root / "images" / "editor_linux" / "shot.png", compress_level=1)
    record = {"img_filename": "editor_linux/shot.png", "bbox": BOX, "instruction": INSTRUCTION,
              "instruction_cn": "保存按钮", "id": "editor_linux_0", "application": "editor", "platform": "linux",
              "img_size": [W, H], "ui_type": "icon", "group": "Office"}
    (root / "annotations" / "editor_linux.json").write_text(json.dumps([record]), encoding="utf-8")
    return root


def sent_size(body: dict) -> tuple[int, int]:
    from PIL import Image

    for msg in body["messages"]:
        for part in msg["content"] if isinstance(msg["content"], list) else []:
            if part["type"] == "image_url":
                raw = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                return Image.open(io.BytesIO(raw)).size
    raise AssertionError("no image in the request")


def published_reply(profile: Profile, body: dict) -> str:
    """What each family answers to its own grounding prompt, pointing at the centre of the screen."""
    w, h = sent_size(body)
    if profile.family == "kimi-vl":
        think = "◁think▷The Save button is in the middle of the screen.◁/think▷" if profile.thinking else ""
        return f"{think}## Action:\nClick the Save button.\n## Code:\n```python\npyautogui.click(x=0.5, y=0.5)\n```"
    if profile.fmt == "ui-tars":  # UI-TARS-1.5: pixels of the smart_resize image it was sent
        return f"Action: click(point='<point>{w // 2} {h // 2}</point>')"
    if profile.fmt == "qwen-tool":  # Qwen2.5-VL: pixels of the image it was sent; Qwen3-VL: the 1000 grid
        xy = [500, 500] if profile.space == "thousand" else [w // 2, h // 2]
        call = {"name": "computer_use", "arguments": {"action": "left_click", "coordinate": xy}}
        return f"<tool_call>\n{json.dumps(call)}\n</tool_call>"
    if profile.grounding_prompt == "os-atlas":  # special tokens kept: the profile asks vLLM for them
        return f"<|object_ref_start|>{INSTRUCTION}<|object_ref_end|><|box_start|>(480,470),(520,530)<|box_end|>"
    return f"```python\npyautogui.click({w // 2}, {h // 2})\n```"


def stub_for(profile: Profile, max_model_len: int) -> StubOpenAI:
    # the stub counts image tokens by the family's own rule (MoonViT's for Kimi-VL, its default)
    rule = None if profile.family == "kimi-vl" else profile.image_rule.tokens
    return StubOpenAI(responder=lambda body: published_reply(profile, body), max_model_len=max_model_len,
                      models=[profile.served_model_name or "some-vlm"], image_tokens=rule)


def ground(stub: StubOpenAI, name: str, dataset: Path, out: Path, *extra: str) -> int:
    return cli(["ground", str(dataset), "--base-url", stub.base_url, "--profile", name, "--out", str(out),
                "--no-progress", *extra])


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_4k_sample_succeeds_with_every_profile_at_32768(name, pro_4k, tmp_path, capsys):
    profile = get_profile(name)
    out = tmp_path / "results.json"
    with stub_for(profile, 32768) as stub:
        code = ground(stub, name, pro_4k, out)
        request = stub.chat_requests[0]
    assert code == 0, capsys.readouterr().err
    doc = json.loads(out.read_text())
    row = doc["details"][0]
    assert row["correctness"] == "correct", row
    assert row["pred"] == pytest.approx([W / 2, H / 2], abs=W / 100)
    assert request.prompt_tokens + request.body["max_tokens"] <= 32768
    assert row["grounding"]["max_tokens"] == profile.grounding_sampling.max_tokens  # nothing had to be cut
    if profile.family == "kimi-vl":
        assert request.image_sizes == [(W, H)]  # native pixels: the benchmark's own file


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_4k_run_asking_for_more_than_an_8192_server_has_is_refused_at_start(name, pro_4k, tmp_path, capsys):
    profile = get_profile(name)
    out = tmp_path / "results.json"
    with stub_for(profile, 8192) as stub:
        code = ground(stub, name, pro_4k, out, "--context-len", "32768")
        assert stub.chat_requests == []
    err = capsys.readouterr().err
    assert code == 2 and "--context-len 32768" in err and "8192" in err and "--max-model-len" in err
    assert not out.exists()


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_4k_screenshot_that_cannot_fit_8192_is_refused_at_start(name, pro_4k, tmp_path, capsys):
    """ScreenSpot-Pro's 4K images cost ui-tars-1.5 / Qwen about 10.5k tokens and Qwen3-VL about 8.2k: at 8192 the
    run is refused before any request, naming the need and the fix; Kimi-VL's budgeted image fits."""
    profile = get_profile(name)
    need = profile.image_tokens(W, H) + profile.grounding_sampling.max_tokens_floor + 16
    with stub_for(profile, 8192) as stub:
        code = ground(stub, name, pro_4k, tmp_path / "results.json")
        asked = len(stub.chat_requests)
    err = capsys.readouterr().err
    if need > 8192:
        assert code == 2 and asked == 0, err
        assert f"needs at least {need} tokens" in err and "3840x2160" in err and "context length is 8192" in err
        assert f"screenact serve --profile {name}" in err
    else:
        assert code == 0 and asked == 1, err
    if name in ("ui-tars-1.5", "qwen2.5-vl", "qwen3-vl"):
        assert need > 8192  # the numbers: ~10.5k and ~8.2k image tokens


def test_os_atlas_cannot_plan_an_autonomous_run(tmp_path, capsys):
    code = cli(["run", "suite", "--filter", "xterm-echo-file", "--profile", "qwen-thousand", "--base-url",
                "http://127.0.0.1:9/v1", "--out", str(tmp_path / "run")])
    assert code == 2 and "grounding-only" in capsys.readouterr().err and not (tmp_path / "run").exists()
