"""Several model servers at once (``--base-url`` repeated): real HTTP stub servers, the real CLI. A server that
dies mid-run is reported once and every sample is still answered exactly once; when every server is gone the
run stops, and ``--resume`` asks only for what is unfinished."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

import pytest

from agent.cli import main as cli
from tests.stub_openai import StubOpenAI
from tests.test_ground_run import instruction_of

REPLY = ("◁think▷It is in the middle.◁/think▷## Action:\nClick it.\n\n"
         "## Code:\n```python\npyautogui.click(x=0.5, y=0.5)\n```")
SAMPLES = 24


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """A ScreenSpot-Pro-format set of SAMPLES small screenshots, each target in the middle."""
    from PIL import Image

    root = tmp_path_factory.mktemp("pool-ds")
    (root / "annotations").mkdir()
    (root / "images").mkdir()
    recs = []
    for i in range(SAMPLES):
        Image.new("RGB", (160, 100), (i * 9 % 256, 90, 160)).save(root / "images" / f"s{i}.png")
        recs.append({"img_filename": f"s{i}.png", "bbox": [60, 30, 100, 70], "instruction": f"target {i}",
                     "id": f"s{i}", "application": "pool", "platform": "linux", "img_size": [160, 100],
                     "ui_type": "text", "group": "Dev"})
    (root / "annotations" / "pool_linux.json").write_text(json.dumps(recs))
    return root


def dies_on(call: int, answer=lambda body: REPLY):
    """A responder for a stub that goes down when its ``call``-th chat request arrives (that one and any other
    still inside are dropped unanswered); until then it answers with ``answer(body)``. Set its ``stub``."""
    calls, lock = [0], threading.Lock()

    def respond(body: dict) -> str:
        with lock:
            calls[0] += 1
            if calls[0] == call:
                respond.stub.go_down()
        return answer(body)

    return respond


def stub(responder=None) -> StubOpenAI:
    """A started stub answering after 50 ms (a ``dies_on`` responder is told which stub it is)."""
    server = StubOpenAI(responder=responder or (lambda body: REPLY), latency=0.05)
    if responder is not None:
        responder.stub = server
    return server.start()


def answered(*stubs: StubOpenAI) -> Counter:
    return Counter(instruction_of(body) for s in stubs for body in s.answered)


def down_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "is down and left out" in line]


def ground(dataset: Path, out: Path, *urls: str, resume: bool = False) -> int:
    servers = [arg for url in urls for arg in ("--base-url", url)]
    return cli(["ground", str(dataset), *servers, "--concurrency", "2", "--out", str(out), "--no-progress",
                *(["--resume"] if resume else [])])


def test_a_server_that_dies_mid_run_is_reported_once_and_every_sample_answered_once(dataset, tmp_path, capsys):
    dying, b, c = stub(dies_on(3)), stub(), stub()
    try:
        # one server as its own flag, two as a comma-separated one
        code = cli(["ground", str(dataset), "--base-url", dying.base_url, "--base-url", f"{b.base_url},{c.base_url}",
                    "--concurrency", "2", "--out", str(tmp_path / "r.json"), "--no-progress"])
    finally:
        for s in (dying, b, c):
            s.stop()
    err = capsys.readouterr().err
    assert code == 0, err
    assert answered(dying, b, c) == Counter(f"target {i}" for i in range(SAMPLES))
    assert len(dying.chat_requests) > len(dying.answered)  # it took requests it never answered
    assert b.answered and c.answered
    [line] = down_lines(err)
    assert dying.base_url in line and "2 other(s)" in line
    doc = json.loads((tmp_path / "r.json").read_text())
    assert len(doc["details"]) == SAMPLES and not any(d.get("error") for d in doc["details"])
    assert doc["metrics"]["overall"]["num_correct_action"] == SAMPLES


def test_when_every_server_is_down_resume_asks_only_the_unfinished(dataset, tmp_path, capsys):
    a, b = stub(dies_on(4)), stub(dies_on(4))
    out = tmp_path / "r.json"
    try:
        code = ground(dataset, out, a.base_url, b.base_url)
    finally:
        a.stop()
        b.stop()
    err = capsys.readouterr().err
    assert code == 1
    assert "every model server is down" in err and "--resume" in err
    assert len(down_lines(err)) == 2 and "no server is left" in down_lines(err)[1]
    before = answered(a, b)
    assert max(before.values()) == 1 and 0 < len(before) < SAMPLES
    fresh = stub()
    try:
        assert ground(dataset, out, fresh.base_url, resume=True) == 0
    finally:
        fresh.stop()
    again = answered(fresh)
    assert not down_lines(capsys.readouterr().err)
    assert again + before == Counter(f"target {i}" for i in range(SAMPLES))  # the rest, each once
    doc = json.loads(out.read_text())
    assert doc["run"]["complete"] and doc["run"]["resumed"] == len(before)
    assert doc["metrics"]["overall"]["num_correct_action"] == SAMPLES


def kimi(thought: str, code: str) -> str:
    return f"◁think▷{thought}◁/think▷## Action:\n{thought}\n\n## Code:\n```python\n{code}\n```"


def two_steps(body: dict) -> str:
    """A click first, then give up: every episode asks twice."""
    if any(m["role"] == "assistant" for m in body["messages"]):
        return kimi("This cannot be done.", "FAIL")
    return kimi("Look at the terminal.", "pyautogui.click(x=0.3, y=0.3)")


def test_run_keeps_each_task_on_one_server_and_moves_it_when_that_one_dies(tmp_path, capsys):
    """Three tasks, two at once, two servers: each task starts on the server with the fewest tasks and keeps it;
    the first server dies on its second request, and the task on it finishes on the other."""
    from tasks import SUITE_DIR

    ids = ["xterm-infeasible-gui", "xterm-mkdir", "xterm-echo-file"]
    out = tmp_path / "run"
    dying = stub(dies_on(2, two_steps))
    other = stub(two_steps)
    try:
        code = cli(["run", *(str(Path(SUITE_DIR) / f"{i}.yaml") for i in ids), "--parallel", "2",
                    "--base-url", f"{dying.base_url},{other.base_url}", "--model", "Kimi-VL-A3B-Thinking",
                    "--out", str(out)])
    finally:
        dying.stop()
        other.stop()
    err = capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert {t["id"]: t["status"] for t in results["tasks"]} == \
        {"xterm-infeasible-gui": "passed", "xterm-mkdir": "failed", "xterm-echo-file": "failed"}, err
    assert code == 1
    [line] = down_lines(err)
    assert dying.base_url in line
    instructions = {i: json.loads((out / i / "task.json").read_text())["task"]["instruction"] for i in ids}

    def task_of(body: dict) -> str:
        text = json.dumps(body["messages"], ensure_ascii=False)
        [ident] = [i for i, instruction in instructions.items() if json.dumps(instruction)[1:-1] in text]
        return ident

    steps = Counter((task_of(b), len(b["messages"])) for s in (dying, other) for b in s.answered)
    assert len(steps) == 2 * len(ids) and set(steps.values()) == {1}  # every request answered exactly once
    served = {i: {s.base_url for s in (dying, other) for b in s.answered if task_of(b) == i} for i in ids}
    moved = [i for i, urls in served.items() if len(urls) == 2]
    assert len(moved) == 1, served  # the task that was on the dying server, and only it, changed servers
    assert all(urls == {other.base_url} for i, urls in served.items() if i not in moved)
    assert results["run"]["base_url"] == f"{dying.base_url},{other.base_url}"


def test_tasks_sent_to_a_cluster_start_on_the_servers_in_turn():
    """A Ray node's worker runs one task at a time, each with a fresh pool that cannot count the other nodes'
    episodes: each job carries the servers in its turn's order, and the node's pool starts it on the first."""
    import asyncio

    from agent.cluster.tasks import make_job
    from agent.runner import RunSettings, _Shared
    from tasks import SUITE_DIR, load_task

    servers = ["http://gpu1:8000/v1", "http://gpu2:8000/v1", "http://gpu3:8000/v1"]
    settings = RunSettings(mode="auto", base_url=",".join(servers), model="Kimi-VL-A3B-Thinking")
    task = load_task(Path(SUITE_DIR) / "xterm-mkdir.yaml")
    starts = []
    for turn in range(6):
        client = _Shared(make_job(task, settings, turn).settings).model()  # what run_one does on the node
        starts.append(client.base_url)
        asyncio.run(client.aclose())
    assert starts == servers * 2
