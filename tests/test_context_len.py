"""The context length comes from the server: vLLM's /v1/models model card and /tokenize answer carry
``max_model_len``; ``--context-len`` is only an override, and one the server contradicts is refused at
start (exit 2) with both numbers named. Every test talks to the real stub HTTP server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from agent.budget import DEFAULT_CONTEXT_LEN, ContextMismatch, context_len_from
from agent.cli import main as cli
from agent.models import OpenAIModel
from agent.models.base import ContextLengthExceeded
from agent.models.openai_backend import TooManyImages
from tests.stub_openai import StubOpenAI

PRO = Path(__file__).parent / "corpus" / "grounding" / "screenspot_pro"
CLICK = "◁think▷It is there.◁/think▷## Action:\nClick it.\n## Code:\n```python\npyautogui.click(x=0.5, y=0.5)\n```"
RED = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"


def run(coro):
    return asyncio.run(coro)


def test_the_model_card_and_the_tokenize_answer_carry_the_context_length():
    with StubOpenAI(models=["a", "b"], max_model_len=32768) as stub:
        async def go():
            async with OpenAIModel(model="b", base_url=stub.base_url) as model:
                served = await model.served_model()
                assert (served.name, served.max_model_len, model.max_model_len) == ("b", 32768, 32768)
            async with OpenAIModel(model="a", base_url=stub.base_url) as model:
                assert model.max_model_len is None
                await model.count_tokens([{"role": "user", "content": "hello"}])
                assert model.max_model_len == 32768  # vLLM's /tokenize answer says it too
        run(go())


def test_a_server_without_the_field_leaves_it_unknown():
    with StubOpenAI(models=["m"]) as stub:
        stub.max_model_len = None  # an OpenAI-compatible server that publishes no context length
        async def go():
            async with OpenAIModel(base_url=stub.base_url) as model:
                return await model.served_model()
        assert run(go()).max_model_len is None


@pytest.mark.parametrize("server, override, expected", [
    (32768, None, 32768), (32768, 32768, 32768), (None, 16384, 16384), (None, None, DEFAULT_CONTEXT_LEN)])
def test_the_servers_number_wins_and_the_override_fills_in(server, override, expected):
    assert context_len_from(server, override) == expected


def test_a_contradicting_override_names_both_numbers():
    with pytest.raises(ContextMismatch, match=r"--context-len 32768 .* context length 8192"):
        context_len_from(8192, 32768)


def test_ground_refuses_a_contradicting_context_len_at_start(tmp_path, capsys):
    out = tmp_path / "r.json"
    with StubOpenAI(responder=lambda body: CLICK, max_model_len=8192) as stub:
        code = cli(["ground", str(PRO), "--base-url", stub.base_url, "--context-len", "32768", "--out", str(out),
                    "--no-progress"])
        assert stub.chat_requests == []
    err = capsys.readouterr().err
    assert code == 2 and "32768" in err and "8192" in err and "--max-model-len" in err
    assert not out.exists()


def test_ground_budgets_for_the_servers_number_without_a_flag(tmp_path, capsys):
    out = tmp_path / "r.json"
    with StubOpenAI(responder=lambda body: CLICK, max_model_len=32768) as stub:
        code = cli(["ground", str(PRO), "--base-url", stub.base_url, "--out", str(out), "--no-progress",
                    "--limit", "2", "--profile", "kimi-vl-thinking-2506"])
        asked = [r.body["max_tokens"] for r in stub.chat_requests]
    assert code == 0, capsys.readouterr().err
    assert "context length 32768" in capsys.readouterr().err
    assert asked == [8192, 8192]  # the profile's full answer budget: at 8192 it would have been cut down
    assert json.loads(out.read_text())["details"][0]["grounding"]["max_tokens"] == 8192


def test_run_refuses_a_contradicting_context_len_before_any_sandbox(tmp_path, capsys):
    with StubOpenAI(responder=lambda body: CLICK, max_model_len=8192) as stub:
        code = cli(["run", "suite", "--filter", "xterm-echo-file", "--base-url", stub.base_url,
                    "--context-len", "16384", "--out", str(tmp_path / "run")])
        assert stub.chat_requests == []
    err = capsys.readouterr().err
    assert code == 2 and "16384" in err and "8192" in err
    assert not (tmp_path / "run").exists()


def test_run_against_no_server_stops_before_any_task(tmp_path, capsys):
    code = cli(["run", "suite", "--filter", "xterm-echo-file", "--base-url", "http://127.0.0.1:9/v1",
                "--out", str(tmp_path / "run")])
    assert code == 1 and "cannot reach the model server" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_vllm_refusals_are_typed():
    """Both of vLLM's 400s become errors the caller can act on: the context length, and the image limit
    with its number (vLLM's --limit-mm-per-prompt)."""
    messages = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": RED}}] * 3}]
    with StubOpenAI(["x"] * 3, max_model_len=600, limit_images=2) as stub:
        async def go():
            async with OpenAIModel(base_url=stub.base_url) as model:
                with pytest.raises(TooManyImages) as too_many:
                    await model.complete(messages, max_tokens=10)
                assert too_many.value.limit == 2 and too_many.value.status == 400
                with pytest.raises(ContextLengthExceeded, match="maximum context length is 600"):
                    await model.complete([{"role": "user", "content": "hi"}], max_tokens=4000)
        run(go())
        assert len(stub.chat_requests) == 2


@pytest.mark.parametrize("message, limit", [
    ("At most 4 image(s) may be provided in one prompt.", 4),
    ("At most 1 image(s) may be provided in one request. You can set `--limit-mm-per-prompt` to increase this "
     "limit if the model supports it.", 1),
    ("You set image=2 (or defaulted to 1) in `--limit-mm-per-prompt`, but passed 3 image items in the same prompt.", 2),
    ("This model's maximum context length is 8192 tokens.", None)])
def test_every_vllm_wording_of_the_image_limit_is_read(message, limit):
    from agent.models.openai_backend import _image_limit

    assert _image_limit(message) == limit


def test_the_budget_asks_the_server_before_trusting_a_larger_setting():
    """A caller that believes 8192 (the UI's default, say) against a server at 4096: even a request the
    estimate would let through unchecked is fitted to the server's 4096, so vLLM never refuses it."""
    from agent.budget import BudgetSettings, ContextBudget
    from agent.profiles import get_profile

    messages = [{"role": "user", "content": "hello " * 200}]
    with StubOpenAI(max_model_len=4096) as stub:
        async def go():
            async with OpenAIModel(base_url=stub.base_url) as model:
                budget = ContextBudget(get_profile("kimi-vl-instruct"), BudgetSettings(context_len=8192), counter=model)
                fitted = await budget.fit_messages(messages, 6000, floor=512)
                return budget.context_len, fitted
        context_len, fitted = run(go())
    assert context_len == 4096 and fitted.context_len == 4096 and fitted.total <= 4096 - 16
