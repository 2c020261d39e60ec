"""agent.serve: the vLLM argv per profile, version checks, and waiting for /health (against the stub)."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time

import pytest

from agent.profiles import PROFILES, get_profile
from agent.serve import (
    ServeError,
    check_vllm,
    installed_vllm_version,
    launch,
    mm_limit_args,
    parse_version,
    serve_command,
    serve_warnings,
    wait_healthy,
)
from tests.processes import alive, serves, wait_until
from tests.stub_openai import StubOpenAI


def run(coro):
    return asyncio.run(coro)


def test_default_command_is_the_seeds_flags():
    argv = serve_command("kimi-vl-thinking", model="/root/ai-models/moonshotai/Kimi-VL-A3B-Thinking",
                         allowed_local_media_path="/root/workspace", vllm_version="0.10.1")
    assert argv == [
        "vllm", "serve", "/root/ai-models/moonshotai/Kimi-VL-A3B-Thinking",
        "--served-model-name", "Kimi-VL-A3B-Thinking",
        "--max-num-seqs", "16",
        "--max-model-len", "32768",
        "--gpu-memory-utilization", "0.95",
        "--port", "8000",
        "--host", "127.0.0.1",
        "--trust-remote-code",
        "--limit-mm-per-prompt", '{"image": 4}',
        "--allowed-local-media-path", "/root/workspace",
    ]


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_argv_for_every_profile(name):
    profile = get_profile(name)
    model = profile.hf_model or "/models/some-vlm"
    argv = serve_command(profile, model=model, port=8011, max_model_len=32768, extra_args=["--seed", "0"])
    assert all(isinstance(a, str) for a in argv)
    assert argv[:3] == ["vllm", "serve", model] and argv[-2:] == ["--seed", "0"]
    assert argv[argv.index("--port") + 1] == "8011" and argv[argv.index("--max-model-len") + 1] == "32768"
    limit = json.loads(argv[argv.index("--limit-mm-per-prompt") + 1])
    assert limit == {"image": profile.images_per_prompt}
    if profile.served_model_name:
        assert argv[argv.index("--served-model-name") + 1] == profile.served_model_name
    else:
        assert "--served-model-name" not in argv
    assert ("--trust-remote-code" in argv) == name.startswith("kimi")


def test_profile_without_a_model_needs_one():
    with pytest.raises(ValueError, match="give --model"):
        serve_command("openai-pyautogui")


def test_paths_stay_single_arguments(tmp_path):
    media = tmp_path / "shared media"
    media.mkdir()
    argv = serve_command("kimi-vl-instruct", model="/models/Kimi VL", allowed_local_media_path=media)
    assert "/models/Kimi VL" in argv and str(media.resolve()) in argv


def test_limit_mm_per_prompt_syntax_follows_the_version():
    assert mm_limit_args(3, "0.8.5") == ["--limit-mm-per-prompt", "image=3"]
    assert mm_limit_args(3, "0.8.5.post1") == ["--limit-mm-per-prompt", "image=3"]
    assert mm_limit_args(3, "0.9.0") == ["--limit-mm-per-prompt", '{"image": 3}']
    assert mm_limit_args(3, "0.11.2") == ["--limit-mm-per-prompt", '{"image": 3}']
    assert mm_limit_args(3, None) == ["--limit-mm-per-prompt", '{"image": 3}']
    assert mm_limit_args(3, "0.11.0", style="kv") == ["--limit-mm-per-prompt", "image=3"]
    argv = serve_command("kimi-vl-thinking-2506", vllm_version="0.8.5", limit_images=64, max_model_len=32768)
    assert argv[argv.index("--limit-mm-per-prompt") + 1] == "image=64"
    assert argv[argv.index("--served-model-name") + 1] == "Kimi-VL-A3B-Thinking-2506"


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        serve_command("kimi-vl-thinking", limit_images=0)
    with pytest.raises(ValueError):
        serve_command("kimi-vl-thinking", gpu_memory_utilization=1.5)
    with pytest.raises(ValueError, match="known profiles"):
        serve_command("no-such-profile")


def test_parse_version():
    assert parse_version("0.8.5") == (0, 8, 5)
    assert parse_version("0.8.5.post1") == (0, 8, 5)
    assert parse_version("0.10.1rc1+cu126") == (0, 10, 1)
    assert parse_version("v1.0") == (1, 0)
    with pytest.raises(ValueError):
        parse_version("dev")


def test_check_vllm_by_version_string():
    assert check_vllm("0.8.5") == "0.8.5"
    assert check_vllm("0.10.1.1") == "0.10.1.1"
    with pytest.raises(ServeError) as err:
        check_vllm("0.8.4")
    assert "0.8.4" in str(err.value) and ">= 0.8.5" in str(err.value) and "pip install" in str(err.value)
    with pytest.raises(ServeError, match="cannot read"):
        check_vllm("nightly")


@pytest.mark.parametrize("name, too_old, new_enough", [
    ("kimi-vl-thinking", "0.8.4", "0.8.5"), ("qwen3-vl", "0.10.1", "0.11.0"), ("qwen2.5-vl", "0.8.4", "0.8.5"),
    ("ui-tars-1.5", "0.8.4", "0.9.0")])
def test_each_profile_needs_its_architectures_vllm(name, too_old, new_enough):
    assert check_vllm(new_enough, name) == new_enough
    with pytest.raises(ServeError) as err:
        check_vllm(too_old, name)
    need = ".".join(map(str, max(get_profile(name).min_vllm, (0, 8, 5))))
    assert f"vLLM {too_old} is installed" in str(err.value) and f">= {need}" in str(err.value)
    if name == "qwen3-vl":
        assert "profile qwen3-vl (qwen3-vl)" in str(err.value)


def test_kimi_pitfalls_are_warned_with_their_fix():
    old = serve_warnings("kimi-vl-thinking", "0.9.1", flash_attn=False)
    assert len(old) == 1 and "flash-attn" in old[0] and "pip install flash-attn --no-build-isolation" in old[0]
    assert serve_warnings("kimi-vl-thinking", "0.9.1", flash_attn=True) == []
    assert serve_warnings("kimi-vl-thinking-2506", "0.14.0", flash_attn=False) == []
    assert serve_warnings("qwen2.5-vl", "0.9.1", ["--reasoning-parser", "deepseek_r1"], flash_attn=False) == []
    parser = serve_warnings("kimi-vl-instruct", None, ["--reasoning-parser=deepseek_r1"])
    assert len(parser) == 1 and "◁think▷" in parser[0] and "content" in parser[0]


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_dry_run_per_profile_prints_its_context_length_and_image_limit(name, capsys):
    from agent.cli import main

    profile = get_profile(name)
    model = [] if profile.hf_model else ["--model", "/models/some-vlm"]
    assert main(["serve", "--dry-run", "--profile", name, *model]) == 0
    argv = shlex.split(capsys.readouterr().out)
    assert argv[argv.index("--max-model-len") + 1] == str(profile.recommended_max_model_len)
    assert json.loads(argv[argv.index("--limit-mm-per-prompt") + 1]) == {"image": profile.images_per_prompt}
    expected = {"kimi-vl-thinking": (32768, 4), "kimi-vl-thinking-2506": (65536, 3), "ui-tars-1.5": (32768, 6)}
    if name in expected:
        assert (profile.recommended_max_model_len, profile.images_per_prompt) == expected[name]
    assert main(["serve", "--dry-run", "--profile", name, *model, "--max-model-len", "16384",
                 "--limit-images", "2"]) == 0
    argv = shlex.split(capsys.readouterr().out)
    assert argv[argv.index("--max-model-len") + 1] == "16384" and '{"image": 2}' in argv


def test_dry_run_warns_about_a_reasoning_parser_for_kimi(capsys):
    from agent.cli import main

    assert main(["serve", "--dry-run", "--", "--reasoning-parser", "deepseek_r1"]) == 0
    out, err = capsys.readouterr()
    assert "--reasoning-parser deepseek_r1" in out and "WARNING" in err and "◁think▷" in err


def test_serve_refuses_a_vllm_too_old_for_the_profile(tmp_path, monkeypatch, capsys):
    from agent.cli import main

    dist = tmp_path / "meta" / "vllm-0.10.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vllm\nVersion: 0.10.1\n")
    monkeypatch.syspath_prepend(str(tmp_path / "meta"))
    assert main(["serve", "--profile", "qwen3-vl"]) == 1
    err = capsys.readouterr().err
    assert "vLLM 0.10.1 is installed, but profile qwen3-vl" in err and "vllm>=0.11.0" in err


def test_check_vllm_when_not_installed():
    if installed_vllm_version() is not None:
        pytest.skip("vLLM is installed here")
    with pytest.raises(ServeError) as err:
        check_vllm()
    msg = str(err.value)
    assert "not installed" in msg and "pip install 'screenact[vllm]'" in msg and "0.8.5" in msg and "GPU" in msg


@pytest.fixture
def fake_vllm(tmp_path, monkeypatch):
    """A real importable ``vllm`` module (no metadata) in a fresh sys.path entry."""
    def make(version: str):
        root = tmp_path / f"site-{version}"
        (root / "vllm").mkdir(parents=True)
        (root / "vllm" / "__init__.py").write_text(f'__version__ = "{version}"\n')
        monkeypatch.syspath_prepend(str(root))
        monkeypatch.delitem(sys.modules, "vllm", raising=False)
        return root
    yield make
    sys.modules.pop("vllm", None)  # the fake module imported by the test must not answer for later tests


def real_vllm_distribution() -> bool:
    import importlib.metadata

    try:
        importlib.metadata.version("vllm")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def test_check_vllm_with_an_old_module_on_the_path(fake_vllm):
    if real_vllm_distribution():
        pytest.skip("a real vLLM distribution's metadata wins over the fake module")
    fake_vllm("0.8.4")
    assert installed_vllm_version() == "0.8.4"
    with pytest.raises(ServeError, match="vLLM 0.8.4 is installed, but screenact needs vLLM >= 0.8.5"):
        check_vllm()


def test_check_vllm_with_a_good_module_on_the_path(fake_vllm):
    if real_vllm_distribution():
        pytest.skip("a real vLLM distribution's metadata wins over the fake module")
    fake_vllm("0.9.2")
    assert check_vllm() == "0.9.2"


def test_check_vllm_reads_distribution_metadata_first(tmp_path, monkeypatch):
    dist = tmp_path / "meta" / "vllm-0.10.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vllm\nVersion: 0.10.1\n")
    monkeypatch.syspath_prepend(str(tmp_path / "meta"))
    assert installed_vllm_version() == "0.10.1" and check_vllm() == "0.10.1"


# ---------------------------------------------------------------------- waiting for the server
def test_wait_healthy_when_up():
    with StubOpenAI() as stub:
        health = run(wait_healthy(stub.base_url, timeout=5, interval=0.05))
    assert health.url == f"{stub.root_url}/health" and health.polls == 1


def test_wait_healthy_through_refused_connections_with_progress():
    lines: list[str] = []
    with StubOpenAI() as stub:
        stub.refuse_for(0.5)
        t = time.monotonic()
        health = run(wait_healthy(stub.base_url, timeout=10, interval=0.05, progress=lines.append, progress_every=0.2))
        assert time.monotonic() - t >= 0.4 and health.polls > 2
    assert any("connection refused" in line for line in lines)
    assert lines[-1].startswith(f"server at {stub.root_url}/health is healthy")


def test_wait_healthy_times_out_with_the_last_status():
    with StubOpenAI() as stub:
        stub.healthy = False
        with pytest.raises(ServeError) as err:
            run(wait_healthy(stub.base_url, timeout=0.3, interval=0.05))
    assert "HTTP 503" in str(err.value) and "0.3 s" in str(err.value)


def test_wait_healthy_notices_the_process_died():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
    proc.wait()
    with pytest.raises(ServeError, match="exited with code 3"):
        run(wait_healthy(f"http://127.0.0.1:{port}/v1", timeout=5, interval=0.05, process=proc))


def test_launch_writes_the_log_and_reports_missing_executables(tmp_path):
    log = tmp_path / "vllm.log"
    proc = launch([sys.executable, "-c", "print('loading weights')"], log_path=log)
    assert proc.wait(timeout=10) == 0 and "loading weights" in log.read_text()
    with pytest.raises(ServeError, match="screenact\\[vllm\\]"):
        launch(["definitely-not-vllm-xyz", "serve"])


def test_stub_runs_as_a_subprocess(tmp_path):
    """The CLI tests' form: python -m tests.stub_openai --script FILE, found through /health."""
    script = tmp_path / "replies.json"
    script.write_text(json.dumps({"replies": ["◁think▷ok◁/think▷## Action:\nx\n## Code:\n```\nDONE\n```"],
                                  "models": ["Kimi-VL-A3B-Thinking"]}))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    record = tmp_path / "requests.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "tests.stub_openai", "--port", str(port), "--script", str(script),
                             "--record", str(record)], stdout=subprocess.PIPE, text=True,
                            cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    try:
        first = json.loads(proc.stdout.readline())
        assert first["port"] == port
        run(wait_healthy(first["base_url"], timeout=10, interval=0.05))
        from agent.models import OpenAIModel

        reply = run(OpenAIModel(base_url=first["base_url"], thinking_markers=("◁think▷", "◁/think▷"))
                    .complete([{"role": "user", "content": "go"}]))
        assert reply.thinking == "ok" and "DONE" in reply.answer
        lines = [json.loads(x) for x in record.read_text().splitlines()]
        assert [x["path"] for x in lines][-1] == "/v1/chat/completions"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ---------------------------------------------------------------------- exposure and lifecycle
def test_dry_run_binds_loopback_and_exposing_it_wants_a_key(capsys, monkeypatch):
    from agent.cli import main

    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    assert main(["serve", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert "--host 127.0.0.1" in out and "WARNING" not in err
    assert main(["serve", "--dry-run", "--host", "0.0.0.0"]) == 0
    out, err = capsys.readouterr()
    assert "--host 0.0.0.0" in out and "without an API key" in err and "VLLM_API_KEY" in err
    assert main(["serve", "--dry-run", "--host", "0.0.0.0", "--api-key", "sk-serve-secret"]) == 0
    out, err = capsys.readouterr()
    assert "without an API key" not in err and "sk-serve-secret" not in out + err  # never on vLLM's command line
    monkeypatch.setenv("VLLM_API_KEY", "sk-from-the-environment")
    assert main(["serve", "--dry-run", "--host", "0.0.0.0"]) == 0
    out, err = capsys.readouterr()
    assert "without an API key" not in err and "sk-from-the-environment" not in out
    assert main(["serve", "--dry-run", "--", "--api-key", "x"]) == 2


FAKE_VLLM = """#!{python}
# A stand-in for vLLM: answers /health on --port, records its argv and key, ignores nothing.
import http.server, json, os, sys
port = int(sys.argv[sys.argv.index("--port") + 1])
if os.environ.get("FAKE_VLLM_STUBBORN"):  # a server that does not stop on SIGTERM
    import signal
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open(os.environ["FAKE_VLLM_RECORD"], "w") as f:
    json.dump({{"argv": sys.argv, "key": os.environ.get("VLLM_API_KEY"), "pid": os.getpid()}}, f)

class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass

http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
"""


@pytest.fixture
def fake_vllm_cli(tmp_path):
    """``screenact serve`` as a subprocess with a fake ``vllm`` on PATH and vLLM 0.10.1's metadata."""
    bin_dir, meta = tmp_path / "bin", tmp_path / "meta" / "vllm-0.10.1.dist-info"
    bin_dir.mkdir()
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: vllm\nVersion: 0.10.1\n")
    exe = bin_dir / "vllm"
    exe.write_text(FAKE_VLLM.format(python=sys.executable))
    exe.chmod(0o755)
    record = tmp_path / "fake-vllm.json"
    root = __import__("pathlib").Path(__file__).resolve().parents[1]

    def start(*extra: str, key: str | None = None, stubborn: bool = False):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_VLLM_RECORD": str(record),
               "PYTHONPATH": f"{tmp_path / 'meta'}:{root}"}
        env.pop("VLLM_API_KEY", None)
        if stubborn:
            env["FAKE_VLLM_STUBBORN"] = "1"
        if key:
            env["VLLM_API_KEY"] = key
        proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "serve", "--port", str(port), *extra],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_until(lambda: proc.poll() is not None or (record.exists() and serves(port)), 60, "fake vLLM up")
        assert proc.poll() is None, proc.communicate()
        return proc, port, json.loads(record.read_text())
    return start


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_is_passed_on_to_vllm_and_waited_for(fake_vllm_cli, sig):
    proc, port, seen = fake_vllm_cli(key="sk-serve-secret")
    assert seen["key"] == "sk-serve-secret" and "sk-serve-secret" not in seen["argv"]
    assert seen["argv"][seen["argv"].index("--host") + 1] == "127.0.0.1"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert not alive(seen["pid"]) and not serves(port)  # waited for: gone when the command returned


def test_vllm_does_not_outlive_a_sigkilled_serve(fake_vllm_cli):
    proc, port, seen = fake_vllm_cli()
    proc.kill()
    proc.wait(timeout=10)
    wait_until(lambda: not alive(seen["pid"]), 30, "fake vLLM ending after its parent was killed")
    assert not serves(port)


def test_a_second_stop_signal_kills_a_vllm_that_does_not_stop(fake_vllm_cli):
    proc, port, seen = fake_vllm_cli(stubborn=True)
    proc.send_signal(signal.SIGTERM)
    with pytest.raises(subprocess.TimeoutExpired):  # passed on, and waited for: serve is still there
        proc.wait(timeout=1)
    assert alive(seen["pid"])
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM and not alive(seen["pid"]) and not serves(port)
