"""agent.models against the real HTTP stub server: protocol, streaming, retries, timeouts, errors."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from agent.models import (
    BadResponse,
    ContextLengthExceeded,
    ModelTimeout,
    OpenAIModel,
    ReplayExhausted,
    ReplayModel,
    Reply,
    RequestRejected,
    RetryPolicy,
    ServerError,
    ServerUnreachable,
    UnknownModel,
)
from agent.profiles import KIMI_THINKING, get_profile
from tests.stub_openai import StubOpenAI, text_tokens
from tools.frame import Frame

CORPUS = Path(__file__).parent / "corpus" / "kimi"
MODEL = "Kimi-VL-A3B-Thinking"
FAST = RetryPolicy(max_retries=3, base_delay=0.01, max_delay=0.05, jitter=0.1)


def corpus(name: str) -> str:
    return (CORPUS / name).read_text(encoding="utf-8")


def run(coro):
    return asyncio.run(coro)


def client(stub: StubOpenAI | None = None, **kw) -> OpenAIModel:
    kw.setdefault("retry", FAST)
    kw.setdefault("connect_timeout", 1.0)
    kw.setdefault("read_timeout", 5.0)
    kw.setdefault("thinking_markers", KIMI_THINKING)
    if stub is not None:
        kw.setdefault("base_url", stub.base_url)
        kw.setdefault("model", MODEL)
    return OpenAIModel(**kw)


def screenshot(w: int = 1280, h: int = 800) -> Frame:
    img = Image.new("RGB", (w, h), (236, 236, 236))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, w, 32), fill=(50, 60, 90))
    d.rectangle((w // 2 - 60, h // 3 - 15, w // 2 + 60, h // 3 + 15), fill=(40, 120, 220))
    return Frame.from_image(img)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


USER = [{"role": "user", "content": "Which button saves the file?"}]


# ---------------------------------------------------------------------- protocol
def test_non_stream_reply_usage_and_split():
    text = corpus("01_click_save.txt")
    with StubOpenAI([text]) as stub:
        async def go():
            async with client(stub) as m:
                return await m.complete(USER, temperature=0.8, max_tokens=1000, top_k=40)
        reply = run(go())
        req = stub.chat_requests[0]
    assert reply.text == text
    assert reply.thinking.startswith("The task is to save") and reply.thinking_complete
    assert reply.answer.startswith("## Action:\nClick the \"Save\" button")
    assert reply.finish_reason == "stop" and reply.model == MODEL and reply.latency_s > 0
    assert reply.usage.prompt_tokens == req.prompt_tokens
    assert reply.usage.completion_tokens == text_tokens(text)
    # sampling went out as sent; the vLLM extra rides at the top level of the JSON body
    assert req.body["temperature"] == 0.8 and req.body["max_tokens"] == 1000 and req.body["top_k"] == 40
    assert req.body.get("stream") in (None, False)


def test_stream_assembles_deltas_and_usage():
    text = corpus("02_chinese_thinking_type.txt")
    pieces: list[tuple[str, str]] = []
    with StubOpenAI([text], chunk_chars=5) as stub:
        async def go():
            async with client(stub, stream=True) as m:
                return await m.complete(USER, on_delta=lambda kind, s: pieces.append((kind, s)))
        reply = run(go())
        req = stub.chat_requests[0]
    assert reply.text == text
    assert "".join(s for _, s in pieces) == text and len(pieces) > 10
    assert reply.thinking.startswith("用户要求") and "pyautogui.write('Alice')" in reply.answer
    assert reply.usage.prompt_tokens == req.prompt_tokens > 0
    assert reply.usage.completion_tokens == text_tokens(text)
    assert req.body["stream"] is True and req.body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("stream", [False, True])
def test_reasoning_content_from_server_parser(stream):
    with StubOpenAI([{"content": "## Action:\nClick OK\n## Code:\n```python\npyautogui.click(x=0.5, y=0.5)\n```",
                      "reasoning_content": "The OK button is centred."}]) as stub:
        reply = run(client(stub, stream=stream).complete(USER))
    assert reply.reasoning_content == "The OK button is centred."
    assert reply.thinking == "The OK button is centred." and reply.answer.startswith("## Action:")


def test_length_limit_gives_truncated_thinking():
    text = corpus("03_long_thinking_hotkey.txt")
    with StubOpenAI([text]) as stub:
        reply = run(client(stub).complete(USER, max_tokens=100))
    assert reply.finish_reason == "length" and reply.truncated
    assert reply.thinking_complete is False and reply.answer == "" and reply.thinking


def test_model_none_picks_the_only_served_model():
    with StubOpenAI(["ok"], models=["only-one"]) as stub:
        m = client(stub, model=None)
        reply = run(m.complete(USER))
        assert m.model == "only-one" and reply.model == "only-one"
        assert stub.chat_requests[0].body["model"] == "only-one"


def test_model_none_with_several_models_lists_them():
    with StubOpenAI(["ok"], models=["a-model", "b-model"]) as stub:
        with pytest.raises(UnknownModel) as err:
            run(client(stub, model=None).complete(USER))
    assert "a-model" in str(err.value) and "b-model" in str(err.value)


def test_unknown_model_lists_what_the_server_offers():
    with StubOpenAI(["ok"], models=[MODEL, "other"]) as stub:
        with pytest.raises(UnknownModel) as err:
            run(client(stub, model="kimi-typo").complete(USER))
    e = err.value
    assert e.name == "kimi-typo" and e.available == [MODEL, "other"]
    assert "kimi-typo" in str(e) and MODEL in str(e)


def test_list_models_and_health():
    with StubOpenAI(models=["x", "y"]) as stub:
        m = client(stub)
        assert run(m.list_models()) == ["x", "y"]
        assert run(m.health()) is True
        stub.healthy = False
        assert run(m.health()) is False
    assert run(client(base_url=f"http://127.0.0.1:{free_port()}/v1").health()) is False


# ---------------------------------------------------------------------- retries
def test_retry_on_500_then_success():
    with StubOpenAI(["fine"]) as stub:
        stub.fail_next("500", times=2)
        reply = run(client(stub).complete(USER))
        assert reply.text == "fine" and len(stub.chat_requests) == 3


def test_retry_on_429_honours_retry_after():
    with StubOpenAI(["fine"]) as stub:
        stub.fail_next("429", retry_after=0.3)
        t = time.monotonic()
        reply = run(client(stub).complete(USER))
        assert reply.text == "fine" and time.monotonic() - t >= 0.3 and len(stub.chat_requests) == 2


def test_retry_on_refused_connection_then_success():
    with StubOpenAI(["back again"]) as stub:
        stub.refuse_for(0.4)
        policy = RetryPolicy(max_retries=12, base_delay=0.05, max_delay=0.15, jitter=0.1)
        reply = run(client(stub, retry=policy).complete(USER))
        assert reply.text == "back again"


def test_retry_when_the_server_goes_away_mid_request():
    with StubOpenAI(["restarted"]) as stub:
        stub.fail_next("refuse", delay=0.3)
        policy = RetryPolicy(max_retries=12, base_delay=0.05, max_delay=0.15, jitter=0.1)
        assert run(client(stub, retry=policy).complete(USER)).text == "restarted"
        assert len(stub.chat_requests) == 2


@pytest.mark.parametrize("stream", [False, True])
def test_retry_on_dropped_connection(stream):
    with StubOpenAI(["fine"]) as stub:
        stub.fail_next("drop")
        assert run(client(stub, stream=stream).complete(USER)).text == "fine"
        assert len(stub.chat_requests) == 2


def test_gives_up_after_max_retries_with_server_error():
    with StubOpenAI(["never"]) as stub:
        stub.fail_next("500", times=10)
        with pytest.raises(ServerError) as err:
            run(client(stub).complete(USER))
        assert err.value.status == 500 and len(stub.chat_requests) == FAST.max_retries + 1


def test_backoff_grows_and_is_capped():
    p = RetryPolicy(base_delay=0.5, max_delay=4.0, jitter=0.0)
    assert [p.delay(k) for k in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert p.delay(0, retry_after=3.0) == 3.0
    j = RetryPolicy(base_delay=1.0, max_delay=8, jitter=0.25)
    assert all(0.75 <= j.delay(0) <= 1.25 for _ in range(50))


# ---------------------------------------------------------------------- failures that are not retried
@pytest.mark.timeout(10)
def test_slow_reply_times_out_cleanly():
    with StubOpenAI(["too late"]) as stub:
        stub.fail_next("slow", delay=5)
        t = time.monotonic()
        with pytest.raises(ModelTimeout) as err:
            run(client(stub, read_timeout=0.5).complete(USER))
        assert time.monotonic() - t < 3
        assert "0.5 s" in str(err.value) and len(stub.chat_requests) == 1


@pytest.mark.parametrize("stream", [False, True])
def test_truncated_response_is_bad_response(stream):
    with StubOpenAI([corpus("03_long_thinking_hotkey.txt")]) as stub:
        stub.fail_next("truncate", after_bytes=300)
        with pytest.raises(BadResponse) as err:
            run(client(stub, stream=stream).complete(USER))
        assert "cut off" in str(err.value) and len(stub.chat_requests) == 1


@pytest.mark.parametrize("stream", [False, True])
def test_invalid_json_is_bad_response(stream):
    with StubOpenAI(["x"]) as stub:
        stub.fail_next("invalid_json")
        with pytest.raises(BadResponse) as err:
            run(client(stub, stream=stream).complete(USER))
        assert "invalid response" in str(err.value)


def test_stream_that_ends_early_is_bad_response():
    # The body ends well-formed but half-way: no finish_reason and no [DONE].
    with StubOpenAI(["x" * 200], chunk_chars=10) as stub:
        stub.fail_next("end_early")
        with pytest.raises(BadResponse, match="ended before the completion finished"):
            run(client(stub, stream=True).complete(USER))


def test_context_overflow_is_reported_not_retried():
    with StubOpenAI(["x"], max_model_len=100) as stub:
        with pytest.raises(ContextLengthExceeded) as err:
            run(client(stub).complete(USER, max_tokens=200))
        assert "maximum context length is 100" in str(err.value) and len(stub.chat_requests) == 1


def test_nothing_listening_is_server_unreachable():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ServerUnreachable) as err:
        run(client(base_url=url, model="m").complete(USER))
    msg = str(err.value)
    assert url in msg and "screenact serve" in msg and "OPENAI_BASE_URL" in msg
    assert err.value.attempts == FAST.max_retries + 1


# ---------------------------------------------------------------------- settings
def test_env_vars(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    m = OpenAIModel()
    assert m.base_url == "http://localhost:8000/v1" and m.api_key == "EMPTY"
    monkeypatch.setenv("OPENAI_API_BASE", "http://api-base:1/v1")
    assert OpenAIModel().base_url == "http://api-base:1/v1"
    with StubOpenAI(["hi"]) as stub:
        monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url + "/")  # wins over OPENAI_API_BASE
        monkeypatch.setenv("OPENAI_API_KEY", "sekrit")
        m = OpenAIModel(model=MODEL, retry=FAST)
        assert m.base_url == stub.base_url and m.root_url == stub.root_url
        assert run(m.complete(USER)).text == "hi"
        assert stub.chat_requests[0].headers.get("authorization") == "Bearer sekrit"
        assert OpenAIModel(base_url="http://given:2/v1").base_url == "http://given:2/v1"


def test_count_tokens_matches_server_and_none_without_endpoint():
    profile = get_profile("kimi-vl-thinking")
    image = profile.prepare(screenshot(1920, 1080))
    messages = [{"role": "system", "content": "You are a GUI agent."},
                {"role": "user", "content": [image.content_part(), {"type": "text", "text": "Click Save."}]}]
    with StubOpenAI() as stub:
        count = run(client(stub).count_tokens(messages))
        expected, sizes = stub.count_messages(messages)
        assert count == expected and sizes == [(1920, 1080)]
        assert stub.requests[-1].path == "/tokenize" and stub.requests[-1].body["add_generation_prompt"] is True
    with StubOpenAI(tokenize=False) as stub:
        m = client(stub)
        assert run(m.count_tokens(messages)) is None
        assert run(m.count_tokens(messages)) is None
        assert sum(r.path == "/tokenize" for r in stub.requests) == 1  # remembered, not asked again


def test_count_tokens_for_an_unknown_model():
    with StubOpenAI(models=["a", "b"]) as stub:
        with pytest.raises(UnknownModel, match="it offers: a, b"):
            run(client(stub, model="c").count_tokens(USER))


def test_file_transport_writes_png_and_sends_file_url(tmp_path):
    profile = get_profile("kimi-vl-thinking")
    image = profile.prepare(screenshot())
    messages = [{"role": "user", "content": [image.content_part(), {"type": "text", "text": "hi"}]},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": [image.content_part()]}]
    media = tmp_path / "media"
    with StubOpenAI(["done"], allowed_local_media_path=tmp_path) as stub:
        reply = run(client(stub, image_transport="file", media_dir=media).complete(messages))
        body = stub.chat_requests[0].body
        sizes = stub.chat_requests[0].image_sizes
    urls = [p["image_url"]["url"] for m in body["messages"] if isinstance(m["content"], list)
            for p in m["content"] if p["type"] == "image_url"]
    assert reply.text == "done" and len(urls) == 2 and all(u.startswith("file:///") for u in urls)
    files = list(media.iterdir())
    assert len(files) == 1 and files[0].suffix == ".png" and files[0].read_bytes() == image.data
    assert urls[0] == files[0].as_uri() and sizes == [(1280, 800), (1280, 800)]
    assert messages[0]["content"][0]["image_url"]["url"].startswith("data:")  # caller's messages untouched


def test_file_transport_refused_by_server_without_media_path(tmp_path):
    image = get_profile("kimi-vl-thinking").prepare(screenshot(640, 400))
    with StubOpenAI(["x"]) as stub:
        with pytest.raises(RequestRejected) as err:
            run(client(stub, image_transport="file", media_dir=tmp_path).complete(
                [{"role": "user", "content": [image.content_part()]}]))
    assert "allowed-local-media-path" in str(err.value)


def test_file_transport_needs_a_directory():
    with pytest.raises(ValueError, match="media_dir"):
        OpenAIModel(image_transport="file")


def test_images_are_sent_as_png_data_urls():
    profile = get_profile("kimi-vl-thinking")
    image = profile.prepare(screenshot(1920, 1080))
    with StubOpenAI(["x"]) as stub:
        run(client(stub).complete([{"role": "user", "content": [image.content_part()]}]))
        req = stub.chat_requests[0]
    part = req.body["messages"][0]["content"][0]
    assert part["type"] == "image_url" and part["image_url"]["url"].startswith("data:image/png;base64,")
    assert req.image_sizes == [(1920, 1080)]


# ---------------------------------------------------------------------- replay and reply splitting
def test_replay_returns_in_order_then_says_it_ran_out():
    texts = [corpus("01_click_save.txt"), corpus("05_done.txt")]
    m = ReplayModel(texts, thinking_markers=KIMI_THINKING, source="runs/ep-1")
    r1 = run(m.complete(USER, temperature=0.8))
    r2 = run(m.complete(USER))
    assert (r1.text, r2.text) == tuple(texts) and "DONE" in r2.answer
    assert m.requests[0][1] == {"temperature": 0.8} and m.remaining == 0
    with pytest.raises(ReplayExhausted, match=r"runs/ep-1 holds 2 replies; step 3"):
        run(m.complete(USER))
    assert run(m.count_tokens(USER)) is None


def test_replay_accepts_reply_objects():
    stored = Reply(text="◁think▷a◁/think▷b", model="Kimi", finish_reason="stop", latency_s=3.0)
    reply = run(ReplayModel([stored], thinking_markers=KIMI_THINKING).complete(USER))
    assert (reply.thinking, reply.answer, reply.latency_s) == ("a", "b", 3.0)


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.txt")))
def test_corpus_splits_as_indexed(name):
    index = json.loads((CORPUS / "index.json").read_text())
    text = corpus(name)
    reply = Reply.build(text, KIMI_THINKING)
    thinking, answer, complete = reply.thinking, reply.answer, reply.thinking_complete
    assert complete == index[name]["thinking_complete"]
    if not complete:
        assert answer == "" and thinking
    elif name.startswith("09"):
        assert thinking is None and answer.startswith("## Action:")
    else:
        assert thinking and "◁" not in answer and "## Action:" in answer and "## Code:" in answer


def test_split_thinking_edge_cases():
    """Replies split by the one thinking split (tools.parse.split_thinking) with the profile's markers."""
    def split(text, markers=KIMI_THINKING):
        reply = Reply.build(text, markers)
        return reply.thinking, reply.answer, reply.thinking_complete

    assert split("plain") == (None, "plain", True)
    assert split("reasoning◁/think▷answer") == ("reasoning", "answer", True)
    assert split("◁think▷half") == ("half", "", False)
    assert split("◁think▷◁/think▷x") == (None, "x", True)
    assert split("a◁think▷b", None) == (None, "a◁think▷b", True)
    assert split("<think>t</think>a", ("<think>", "</think>")) == ("t", "a", True)
    assert split("<think>t</think>a") == (None, "<think>t</think>a", True)  # only the profile's markers
