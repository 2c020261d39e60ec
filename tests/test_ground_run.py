"""Whole grounding runs against the real HTTP stub of the OpenAI API with Kimi-VL-shaped replies:
known accuracy, results in ScreenSpot-Pro's shape, concurrency, failures page, resume after a kill."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agent.cli import main as cli
from agent.ground_run import DatasetProfile, Progress, details_log_path, load_saved, run_grounding
from agent.grounders import VLMGrounder
from agent.models import OpenAIModel, RetryPolicy
from agent.profiles import get_profile
from tasks.grounding import load_dataset
from tests.stub_openai import InFlight, StubOpenAI

CORPUS = Path(__file__).resolve().parent / "corpus" / "grounding"
PRO = CORPUS / "screenspot_pro"
REPLIES = {k: v for k, v in json.loads((CORPUS / "kimi_replies.json").read_text()).items() if not k.startswith("_")}
ROOT = Path(__file__).resolve().parent.parent


def instruction_of(body: dict) -> str:
    """The instruction in a grounding request (the text after '## Task Instruction:')."""
    for msg in body["messages"]:
        if msg["role"] == "user" and isinstance(msg["content"], list):
            for part in msg["content"]:
                if part.get("type") == "text":
                    m = re.search(r"## Task Instruction:\n(.*)", part["text"], re.S)
                    if m:
                        return m.group(1).strip()
    raise AssertionError(f"no instruction in {body}")


def kimi(body: dict) -> str:
    return REPLIES[instruction_of(body)]["reply"]


def test_whole_run_gives_the_known_accuracy(tmp_path, capsys):
    out = tmp_path / "results.json"
    page = tmp_path / "failures.html"
    with StubOpenAI(responder=kimi) as stub:
        code = cli(["ground", str(PRO), "--base-url", stub.base_url, "--out", str(out), "--concurrency", "3",
                    "--failures-html", str(page), "--no-progress"])
        requests = stub.chat_requests
    printed = capsys.readouterr().out
    assert code == 0
    assert len(requests) == 5
    body = requests[0].body
    assert body["model"] == "Kimi-VL-A3B-Thinking" and body["temperature"] == 0
    assert body["messages"][0]["role"] == "system" and "## Code:" in body["messages"][0]["content"]
    assert all(r.image_sizes == [(640, 360)] for r in requests)  # Kimi-VL gets the native image
    sent = {part["image_url"]["url"] for r in requests for m in r.body["messages"] if isinstance(m["content"], list)
            for part in m["content"] if part["type"] == "image_url"}
    files = {"data:image/png;base64," + base64.b64encode(p.read_bytes()).decode() for p in PRO.glob("images/*/*.png")}
    assert sent == files  # the dataset's own PNG files, not re-encoded pixels

    doc = json.loads(out.read_text())
    assert set(doc) >= {"details", "metrics"}
    by_instruction = {d["prompt_to_evaluate"]: d for d in doc["details"]}
    for instruction, spec in REPLIES.items():
        d = by_instruction[instruction]
        assert d["correctness"] == spec["expect"], instruction
        assert d["raw_response"] == spec["reply"]
    explorer = by_instruction["the explorer icon in the activity bar"]
    assert explorer["pred"] == [pytest.approx(1.7 * 640), pytest.approx(0.31 * 360)] and explorer["pred_pixel"] is None
    assert by_instruction["Layers panel tab"]["pred"] is None
    assert by_instruction["a zero-size box"]["pred"] == [300.0, 200.0]
    assert [d["key"] for d in doc["details"]] == [s.key for s in load_dataset(PRO).samples]
    d0 = doc["details"][0]
    for field in ("img_path", "group", "platform", "application", "lang", "instruction_style", "prompt_to_evaluate",
                  "gt_type", "ui_type", "task_filename", "pred", "raw_response", "bbox", "correctness"):
        assert field in d0, field  # ScreenSpot-Pro's per-sample fields

    m = doc["metrics"]
    assert m["overall"]["num_total"] == 5 and m["overall"]["num_correct_action"] == 2
    assert m["overall"]["action_acc"] == pytest.approx(0.4) and m["overall"]["wrong_format_num"] == 1
    assert m["overall"]["text_acc"] == 0.5 and m["overall"]["icon_acc"] == pytest.approx(1 / 3)
    assert m["leaderboard_simple_style"]["group:Dev"]["action_acc"] == pytest.approx(2 / 3)
    assert m["leaderboard_simple_style"]["group:Creative"]["action_acc"] == 0.0
    assert m["leaderboard_detailed_style"]["app:vscode"]["num_total"] == 3
    assert doc["run"]["complete"] and doc["run"]["grounder"] == "vlm:kimi-vl-thinking"
    assert not details_log_path(out).exists()  # folded into results.json once complete

    assert "overall:  40.0%" in printed.replace("overall: 40.0%", "overall:  40.0%")
    assert "by group:" in printed and "Creative" in printed and "by application:" in printed

    html = page.read_text()
    assert html.count('class="card"') == 3  # 2 wrong + 1 wrong_format
    assert "data:image/jpeg;base64," in html and "<svg" in html and "Layers panel tab" in html
    assert "http://" not in html.replace("http://www.w3.org", "")  # self-contained


def test_requests_are_concurrent(tmp_path):
    slow = InFlight(kimi, hold_s=0.3)
    samples = load_dataset(PRO).samples

    async def go():
        model = OpenAIModel(base_url=stub.base_url)
        try:
            grounder = VLMGrounder(model, get_profile("kimi-vl-thinking"))
            return await run_grounding(samples, grounder, out=tmp_path / "r.json", concurrency=3, progress=False)
        finally:
            await model.aclose()

    with StubOpenAI(responder=slow) as stub:
        result = asyncio.run(go())
    assert slow.peak == 3  # 5 samples, 3 at a time
    assert result.metrics["overall"]["num_correct_action"] == 2 and result.complete


def test_progress_line_has_rate_and_eta():
    stream = io.StringIO()
    bar = Progress(10, stream=stream, log_interval=0)
    bar.start()
    for c in ("correct", "wrong", "correct"):
        bar.update(c)
    text = stream.getvalue()
    assert "3/10" in text and "samples/s" in text and "ETA" in text and "acc 66.7%" in text
    bar.close()


def test_failed_requests_are_recorded_and_asked_again_on_resume(tmp_path, capsys):
    out = tmp_path / "r.json"
    with StubOpenAI(responder=kimi) as stub:
        stub.fail_next("invalid_json")  # the answer to the first request is not JSON: that sample fails
        code = cli(["ground", str(PRO), "--base-url", stub.base_url, "--out", str(out), "--concurrency", "1",
                    "--no-progress"])
        assert code == 1
        assert "failed" in capsys.readouterr().err
        doc = json.loads(out.read_text())
        failed = [d for d in doc["details"] if d.get("error")]
        assert len(failed) == 1 and failed[0]["correctness"] == "wrong_format"
        assert doc["metrics"]["overall"]["errors"] == 1 and doc["run"]["errors"] == 1
        n = len(stub.chat_requests)
        code = cli(["ground", str(PRO), "--base-url", stub.base_url, "--out", str(out), "--resume", "--no-progress"])
        assert code == 0
        assert len(stub.chat_requests) == n + 1  # only the failed sample is asked again
    doc = json.loads(out.read_text())
    assert doc["metrics"]["overall"]["num_correct_action"] == 2 and doc["metrics"]["overall"]["errors"] == 0


def test_existing_results_need_resume_or_overwrite(tmp_path, capsys):
    out = tmp_path / "r.json"
    out.write_text("{}")
    assert cli(["ground", str(PRO), "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err


def test_bad_dataset_exits_2_naming_the_record(tmp_path, capsys):
    import shutil

    root = tmp_path / "pro"
    shutil.copytree(PRO, root)
    f = root / "annotations" / "vscode_macos.json"
    recs = json.loads(f.read_text())
    recs[1]["bbox"] = [1, 2, 3]
    f.write_text(json.dumps(recs))
    assert cli(["ground", str(root), "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "vscode_macos.json: record 1: field 'bbox': expected 4 numbers" in err


def test_unknown_model_is_bad_input(tmp_path, capsys):
    with StubOpenAI(responder=kimi, models=["Kimi-VL-A3B-Thinking"]) as stub:
        code = cli(["ground", str(PRO), "--base-url", stub.base_url, "--model", "no-such-model",
                    "--out", str(tmp_path / "r.json"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "no-such-model" in err and "Kimi-VL-A3B-Thinking" in err


def test_unreachable_server_stops_the_run_early(tmp_path):
    samples = load_dataset(PRO).samples

    async def go():
        model = OpenAIModel(base_url="http://127.0.0.1:9/v1", model="m", retry=RetryPolicy(max_retries=0))
        try:
            return await run_grounding(samples, VLMGrounder(model, get_profile("kimi-vl-thinking")),
                                       out=tmp_path / "r.json", concurrency=1, progress=False)
        finally:
            await model.aclose()

    result = asyncio.run(go())
    assert result.aborted and "ServerUnreachable" in result.aborted
    assert len(result.details) == 1 and result.details[0]["error"]
    assert not json.loads((tmp_path / "r.json").read_text())["run"]["complete"]


def test_resume_after_the_process_is_killed(tmp_path):
    """Kill -9 the CLI while the third sample waits for its answer; --resume asks only for the rest."""
    out = tmp_path / "r.json"
    log = details_log_path(out)
    release = threading.Event()
    order = [s.instruction for s in load_dataset(PRO).samples]

    def gated(body: dict) -> str:
        if instruction_of(body) == order[2]:  # the third sample in dataset order
            release.wait(30)
        return kimi(body)

    with StubOpenAI(responder=gated) as stub:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "ground", str(PRO), "--base-url", stub.base_url, "--out", str(out),
             "--concurrency", "1", "--no-progress"], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while len(load_saved(out)[1]) < 2:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "the first two samples never finished"
                time.sleep(0.05)
            while len(stub.chat_requests) < 3:
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        finally:
            release.set()
            if proc.poll() is None:
                proc.kill()
            proc.stderr.close()
        assert not out.exists() and log.exists()
        with log.open("a") as f:
            f.write('{"key": "photoshop_windows#0", "correctness": "corr')  # a line torn by the kill
        asked_before = len(stub.chat_requests)
        assert cli(["ground", str(PRO), "--base-url", stub.base_url, "--out", str(out), "--resume",
                    "--no-progress"]) == 0
        asked = [instruction_of(r.body) for r in stub.chat_requests[asked_before:]]
    assert sorted(asked) == sorted(order[2:])
    doc = json.loads(out.read_text())
    assert len(doc["details"]) == 5 and doc["run"]["resumed"] == 2 and doc["run"]["asked"] == 3
    assert doc["metrics"]["overall"]["num_correct_action"] == 2
    assert {d["prompt_to_evaluate"]: d["correctness"] for d in doc["details"]} == \
        {k: v["expect"] for k, v in REPLIES.items()}


SS = CORPUS / "screenspot"


def _reply_for(profile, body: dict, targets: dict[str, tuple[float, float, int, int]]) -> str:
    """A reply in the profile's own output format pointing at the centre of the instruction's true box."""
    import base64
    import io as _io

    from PIL import Image

    texts, size = [], None
    for msg in body["messages"]:
        content = msg["content"]
        for part in content if isinstance(content, list) else [{"type": "text", "text": content}]:
            if part["type"] == "text":
                texts.append(part["text"])
            elif part["type"] == "image_url":
                raw = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                size = Image.open(_io.BytesIO(raw)).size
    instruction = next(i for i in targets if any(i in t for t in texts))
    cx, cy, w, h = targets[instruction]
    if profile.space == "normalized":
        x, y = f"{cx / w:.4f}", f"{cy / h:.4f}"
    elif profile.space == "thousand":
        x, y = str(round(cx / w * 1000)), str(round(cy / h * 1000))
    else:  # pixels of the image as sent (smart_resize profiles resize it first)
        x, y = str(round(cx * size[0] / w)), str(round(cy * size[1] / h))
    if profile.fmt == "kimi-vl":
        think = "◁think▷Looking for it.◁/think▷" if profile.thinking else ""
        return f"{think}## Action:\nClick it.\n## Code:\n```python\npyautogui.click(x={x}, y={y})\n```"
    if profile.fmt == "ui-tars":
        return f"Thought: It is there.\nAction: click(start_box='<|box_start|>({x},{y})<|box_end|>')"
    if profile.fmt == "thousand":
        return f"CLICK <point>[[{x}, {y}]]</point>"
    return f"```python\npyautogui.click(x={x}, y={y})\n```"


@pytest.mark.parametrize("name", sorted(__import__("agent.profiles", fromlist=["PROFILES"]).PROFILES))
def test_every_profile_maps_its_points_back_to_the_original_image(tmp_path, name):
    """Each profile's coordinate space (normalized, 0–1000, pixels of a resized image) round-trips to
    original-image pixels: replies that point at every box centre score 100 %."""
    profile = get_profile(name)
    samples = load_dataset(SS).samples
    targets = {}
    for s in samples:
        from PIL import Image

        with Image.open(s.image_path) as img:
            w, h = img.size
        targets[s.instruction] = ((s.bbox[0] + s.bbox[2]) / 2, (s.bbox[1] + s.bbox[3]) / 2, w, h)

    async def go(stub):
        model = OpenAIModel(base_url=stub.base_url)
        try:
            return await run_grounding(samples, VLMGrounder(model, DatasetProfile.of(profile)), out=tmp_path / "r.json",
                                       concurrency=3, progress=False)
        finally:
            await model.aclose()

    with StubOpenAI(responder=lambda body: _reply_for(profile, body, targets)) as stub:
        result = asyncio.run(go(stub))
    assert result.errors == 0
    assert result.metrics["overall"]["action_acc"] == 1.0, [(d["prompt_to_evaluate"], d["pred"], d["bbox"])
                                                            for d in result.details if d["correctness"] != "correct"]
    assert set(result.metrics["screenspot_table"]["rows"]) == {"mobile", "desktop", "web"}


def test_ocr_grounder_runs_without_a_server(tmp_path, capsys):
    pytest.importorskip("rapidocr_onnxruntime")
    out = tmp_path / "r.json"
    assert cli(["ground", str(PRO), "--grounder", "ocr", "--limit", "3", "--lang", "cn", "--out", str(out),
                "--no-progress"]) == 0
    doc = json.loads(out.read_text())
    assert doc["run"]["grounder"] == "ocr" and doc["run"]["lang"] == "cn" and len(doc["details"]) == 3
    assert doc["details"][0]["prompt_to_evaluate"] == load_dataset(PRO).samples[0].instruction_cn
    assert all(d["correctness"] in ("correct", "wrong", "wrong_format") and "grounding" in d for d in doc["details"])


def test_points_are_scaled_to_the_annotated_image_size():
    from agent.ground_run import detail_row
    from agent.grounders import Grounding, Point

    sample = load_dataset(PRO).samples[0]
    assert sample.img_size == (640, 360)
    g = Grounding(Point(10, 10), sample.instruction, "vlm:x", reply="r", details={"model_point": [0.5, 0.5], "space": "normalized"})
    row = detail_row(sample, "en", grounding=g, img_size=(320, 180))  # the file is half the annotated size
    assert row["pred"] == [320.0, 180.0] and row["file_size"] == [320, 180] and row["img_size"] == [640, 360]
    ocr = Grounding(Point(100, 50), sample.instruction, "ocr")
    assert detail_row(sample, "en", grounding=ocr, img_size=(320, 180))["pred"] == [200.0, 100.0]
    assert "file_size" not in detail_row(sample, "en", grounding=ocr, img_size=(640, 360))
