"""Servers that are not exactly vLLM: a web page instead of the API, a /tokenize without a count (llama.cpp),
a server that never answers. Through the real ``screenact`` command against the real stub server."""

from __future__ import annotations

import asyncio
import json

import pytest

from agent.models import OpenAIModel
from agent.models.base import BadResponse
from tests.stub_openai import StubOpenAI
from tests.test_cli_checks import PRO, screenact
from tests.test_cli_results import GIVE_UP


@pytest.mark.parametrize("command", ["run", "ground"])
def test_a_web_page_instead_of_the_api_is_named_in_one_line(command, tmp_path):
    with StubOpenAI() as stub:
        stub.fail_next("web_page", path="/v1/models")
        target = ["suite", "--filter", "xterm-echo-file"] if command == "run" else [PRO]
        proc = screenact(command, *target, "--base-url", stub.base_url, "--out", tmp_path / "out")
    err = proc.stderr.strip()
    assert proc.returncode == 1 and "Traceback" not in err and "AttributeError" not in err, err
    assert f"{stub.base_url}/models answered with a web page (text/html)" in err.splitlines()[-1]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_web_page_as_the_chat_answer_is_a_bad_response_naming_the_url():
    with StubOpenAI(["x"]) as stub:
        stub.fail_next("web_page")

        async def ask() -> None:
            async with OpenAIModel(base_url=stub.base_url, model="Kimi-VL-A3B-Thinking") as model:
                await model.complete([{"role": "user", "content": "hi"}], max_tokens=5)

        with pytest.raises(BadResponse, match="chat/completions answered with a web page"):
            asyncio.run(ask())


def test_a_tokenize_without_a_count_falls_back_to_the_estimate(tmp_path):
    """llama.cpp's /tokenize answers {"tokens": [...]}: the run goes on with the estimate, no task fails on it."""
    out = tmp_path / "run"
    with StubOpenAI(responder=lambda body: GIVE_UP, tokenize="llamacpp") as stub:
        proc = screenact("run", "suite", "--filter", "xterm-infeasible-gui", "--base-url", stub.base_url, "--out", out)
        assert any(r.path == "/tokenize" for r in stub.requests)  # it was asked, and its answer had no count
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "results.json").read_text())["tasks"][0]["status"] == "passed"


def test_a_server_that_never_answers_times_out_as_the_user_set_and_ground_says_so(tmp_path):
    with StubOpenAI(responder=lambda body: "x") as stub:
        stub.fail_next("slow", delay=30)
        proc = screenact("ground", PRO, "--base-url", stub.base_url, "--out", tmp_path / "r.json", "--limit", "1",
                         "--request-timeout", "1", "--no-progress", "--estimate-tokens")
    assert proc.returncode == 1, proc.stderr
    assert "requests time out after 1 s" in proc.stderr
    line = next(line for line in proc.stderr.splitlines() if "request(s) failed" in line)
    assert "1× " in line and "did not answer within 1 s" in line, line


def test_the_ui_hands_its_request_timeout_to_the_model_clients_it_makes():
    """`screenact ui --request-timeout` reaches the Chainlit process through its environment, and every client
    the panel makes waits that long (the real settings module, started as screenact ui starts it)."""
    import subprocess
    import sys

    from agent.ui.ui_config import UIConfig
    from tests.test_cli_checks import ROOT

    env = {**UIConfig(request_timeout=7.5).to_env(), "PATH": "/usr/bin:/bin"}
    code = "from agent.ui.settings import Settings, make_model; print(make_model(Settings.initial(None)).read_timeout)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "7.5", proc.stderr[-2000:]
