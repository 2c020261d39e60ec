"""HTML reports: episode and run pages from committed folders, partial and damaged ones, and a look in Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from PIL import Image, ImageDraw

from agent.cli import main
from agent.episode import load_episode
from agent.report import NotAReportFolder, detect, render_report, write_run_report
from agent.report.frames import FrameEmbedder
from agent.report.overlay import fit

CORPUS = Path(__file__).resolve().parent / "corpus"
COMMITTED = CORPUS / "episodes" / "xterm-write"
PARTIAL = CORPUS / "episodes" / "partial-xterm"
SAMPLE_RUN = CORPUS / "runs" / "sample-run"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


# ---------------------------------------------------------------- reading the page back

class Node:
    """One element: tag, attributes, the id of the step section it sits in, and its text."""

    def __init__(self, tag: str, attrs: dict[str, str], step: str | None) -> None:
        self.tag, self.attrs, self.step, self.text = tag, attrs, step, ""

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class Page(HTMLParser):
    """Every element of a page, with the step section (``step-N``) each one belongs to."""

    VOID = {"meta", "img", "br", "input", "link", "hr", "circle", "line", "polygon", "rect"}

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.nodes: list[Node] = []
        self._stack: list[Node] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        step = next((n.attrs["id"] for n in reversed(self._stack) if "step-card" in n.classes()), None)
        node = Node(tag, attrs, attrs["id"] if "step-card" in attrs.get("class", "") else step)
        self.nodes.append(node)
        if tag not in self.VOID:
            self._stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if self._stack and self._stack[-1].tag == tag and tag not in self.VOID:
            self._stack.pop()

    def handle_endtag(self, tag):
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i].tag == tag:
                del self._stack[i:]
                break

    def handle_data(self, data):
        for node in self._stack:
            node.text += data

    def find(self, tag: str | None = None, cls: str | None = None, step: str | None = None, **attrs) -> list[Node]:
        return [n for n in self.nodes if (tag is None or n.tag == tag) and (cls is None or cls in n.classes())
                and (step is None or n.step == step)
                and all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def one(self, *args, **kw) -> Node:
        found = self.find(*args, **kw)
        assert len(found) == 1, (args, kw, len(found))
        return found[0]


def read(path: Path) -> tuple[str, Page]:
    text = path.read_text(encoding="utf-8")
    return text, Page(text)


def assert_self_contained(text: str, page: Page) -> None:
    assert "<link" not in text
    for node in page.find("script"):
        assert "src" not in node.attrs
    for img in page.find("img"):
        assert img.attrs["src"].startswith(("data:image/png;base64,", "data:image/jpeg;base64,")), img.attrs["src"][:40]
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in text


# ---------------------------------------------------------------- the committed episode

def test_committed_episode_page_shows_every_step_with_its_actions(tmp_path):
    ep = load_episode(COMMITTED)
    out = render_report(COMMITTED, tmp_path / "episode.html")
    assert out == tmp_path / "episode.html"
    text, page = read(out)
    assert_self_contained(text, page)

    assert [n.attrs["id"] for n in page.find("section", cls="step-card")] == ["step-1", "step-2", "step-3", "step-4"]
    assert page.one("h1").text == "xterm-write"
    assert "Write 'héllo 世界' into /tmp/out.txt" in page.one("p", cls="instruction").text
    assert page.one(id="verdict").attrs["data-verdict"] == "not checked"  # the committed result has no verdict

    for step in ep.steps:
        sid = f"step-{step.index}"
        svg = page.one("svg", step=sid)
        assert svg.attrs["viewbox"] == "0 0 640 480"  # screen pixels, whatever size the frame is shown at
        thought = page.one("details", cls="thought-box", step=sid)
        assert step.thought in thought.text
        assert page.one("pre", cls="reply", step=sid).text == step.reply
        assert page.one("details", cls="request", step=sid)
        for phase, ms in step.timings.items():
            if ms > 0:
                assert page.find("span", cls=f"seg-{phase}", step=sid), (sid, phase)

    # Step 1: a click at the executed (screen) coordinates, not the model's normalized ones.
    click = ep.steps[0].executed[0].action
    mark = page.one("g", cls="click", step="step-1")
    assert (float(mark.attrs["data-x"]), float(mark.attrs["data-y"])) == (click.x, click.y) == (222, 140)
    centred = [c for c in page.find("circle", step="step-1")
               if (float(c.attrs["cx"]), float(c.attrs["cy"])) == (click.x, click.y)]
    assert len(centred) == 2  # the ring and the centre dot

    # Step 2: typed text and a key, listed in the caption band in order.
    captions = [n.text for n in page.find("g", cls="caption", step="step-2")]
    assert captions[0].startswith("1") and "type “echo héllo 世界 > /tmp/out.txt”" in captions[0]
    assert captions[1].startswith("2") and "key enter" in captions[1]
    # Step 3: the newline shown, not swallowed; step 4: done.
    assert "type “cat /tmp/out.txt⏎”" in page.one("g", cls="caption", step="step-3").text
    assert "done" in page.one("g", cls="caption", step="step-4").text
    assert page.one("section", id="step-4").attrs["data-outcome"] == "done"

    # The timeline: one bar per step and phase totals that add up.
    timeline = page.one("section", id="timeline")
    assert [a.attrs["href"] for a in page.find("a") if a.attrs.get("href", "").startswith("#step-")] == \
        ["#step-1", "#step-2", "#step-3", "#step-4"]
    model_total = sum(s.timings["model"] for s in ep.steps)
    assert f"{model_total:.0f} ms" in page.one("span", cls="phase-total", data_phase="model").text
    assert "6\u2009483" in page.one(id="summary").text and "prompt tokens" in page.one(id="summary").text
    assert "settle" in timeline.text
    assert not page.find(id="problems")


def test_partial_episode_page_says_what_is_missing(tmp_path):
    ep = load_episode(PARTIAL)
    assert len(ep.steps) == 2 and len(ep.problems) == 3, ep.problems
    text, page = read(render_report(PARTIAL, tmp_path / "partial.html"))
    assert_self_contained(text, page)
    problems = page.one(id="problems").text
    for problem in ep.problems:
        assert problem in problems
    assert page.one(id="verdict").attrs["data-verdict"] == "unfinished"
    # Two recorded steps, then the frame whose line was torn, shown as an unrecorded step.
    cards = page.find("section", cls="step-card")
    assert [c.attrs["id"] for c in cards] == ["step-1", "step-2", "step-3"]
    assert cards[2].attrs["data-outcome"] == "unrecorded" and page.find("img", step="step-3")
    assert page.one("g", cls="click", step="step-1").attrs["data-x"] == "222"


def test_report_lands_in_the_episode_folder_by_default(tmp_path):
    folder = shutil.copytree(PARTIAL, tmp_path / "ep")
    assert detect(folder) == "episode"
    assert render_report(folder) == folder / "report.html"
    assert (folder / "report.html").stat().st_size > 10_000


# ---------------------------------------------------------------- hostile and damaged episodes

HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)"></pre></details>&amp;'


def _frame(path: Path, size: tuple[int, int]) -> None:
    img = Image.new("RGB", size, (38, 50, 66))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, size[0], 40), fill=(220, 224, 230))
    for i in range(12):
        d.rectangle((100 + 140 * i, 200, 220 + 140 * i, 260), fill=(60 + 15 * i, 120, 200), outline=(255, 255, 255))
    d.text((120, 400), "Save  Cancel  Name:", fill=(255, 255, 255))
    img.save(path)


def _step(index: int, executed: list[dict], **extra) -> dict:
    step = {"index": index, "kind": "model", "frame": f"step-{index:04d}.png", "reply": f"reply {index}",
            "usage": {"prompt_tokens": 1000 + index, "completion_tokens": 10 + index}, "thought": f"thought {index}",
            "parsed": [e.get("action") for e in executed if isinstance(e, dict)], "errors": [],
            "executed": executed, "rejections": [],
            "feedback": None, "settle": {"stable": True, "changed": True, "frames": 5},
            "timings": {"capture": 3.0, "encode": 20.0, "model": 900.0, "parse": 0.4, "act": 2.0, "settle": 150.0}}
    step.update(extra)
    return step


def _ok(**action) -> dict:
    return {"action": action, "ok": True, "error": None}


@pytest.fixture
def rich_episode(tmp_path) -> Path:
    """A 1920x1080 episode with every action kind, a scripted step, hostile text and damaged fields."""
    folder = tmp_path / "rich"
    folder.mkdir()
    steps = [
        _step(1, [_ok(type="click", x=1500, y=900, button="right", clicks=1),
                  _ok(type="click", x=10, y=1075, button="left", clicks=2)], thought=HOSTILE, reply=HOSTILE),
        _step(2, [_ok(type="drag", x1=300, y1=230, x2=1200, y2=700, button="left"),
                  _ok(type="move", x=960, y=540), _ok(type="scroll", dx=0, dy=-5, x=800, y=600),
                  _ok(type="scroll", dx=0, dy=3, x=None, y=None)]),
        _step(3, [_ok(type="key", keys=["ctrl", "shift", "s"]), _ok(type="type", text=HOSTILE + "\n"),
                  _ok(type="wait", seconds=1.5)]),
        _step(4, [{"action": {"type": "click", "x": 1919, "y": 0, "button": "left", "clicks": 1}, "ok": False,
                   "error": "app exited: " + HOSTILE}],
              rejections=[{"action": {"type": "click", "x": 0.99, "y": 0.0}, "message": "app exited: " + HOSTILE}],
              feedback="click(1919, 0) was not executed: " + HOSTILE),
        _step(5, [], parsed=[], errors=["no ## Code: block " + HOSTILE], feedback="Your reply could not be used"),
        _step(6, [], parsed=[{"type": "click", "x": 1.5, "y": 0.2, "button": "left", "clicks": 1}],
              rejections=[{"action": {"type": "click", "x": 1.5, "y": 0.2}, "message": "x=1.5 is off the screen"}]),
        {**_step(7, [_ok(type="click", x=640, y=230, button="left", clicks=1)]), "kind": "scripted",
         "instruction": "click the Save button " + HOSTILE, "reply": None, "thought": None,
         "grounding": {"description": "the Save button", "point": [644, 228], "grounder": "ocr",
                       "reply": HOSTILE, "latency_s": 0.31},
         "timings": {"capture": 3.0, "encode": 20.0, "ground": 310.0, "act": 2.0, "settle": 150.0}},
        {**_step(8, []), "kind": "scripted", "instruction": "type into the Name field", "reply": None,
         "grounding": {"description": "the Name field", "point": None, "grounder": "ocr", "reply": "",
                       "latency_s": 0.2}},
        _step(9, [_ok(type="done", answer="42 " + HOSTILE)]),
        # Damaged: wrong types everywhere, and its frame is missing.
        {"index": 10, "kind": "model", "frame": "step-0010.png", "reply": 5, "thought": ["x"], "parsed": 7,
         "executed": "nope", "rejections": {"a": 1}, "timings": "fast", "usage": [], "request": "?",
         "settle": None, "errors": None},
        # Damaged: the frame file is not a PNG.
        _step(11, [_ok(type="click", x=5, y=5, button="left", clicks=1)]),
        # Damaged: actions that are not actions.
        _step(12, [{"action": {"type": "click", "x": "left", "y": None}, "ok": True}, {"ok": True}, "junk"]),
    ]
    for n in range(1, 13):
        if n == 10:
            continue
        if n == 11:
            (folder / "step-0011.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
        else:
            _frame(folder / f"step-{n:04d}.png", (1920, 1080))
    (folder / "task.json").write_text(json.dumps({"id": "rich <b>", "instruction": HOSTILE, "mode": "scripted",
                                                  "profile": "kimi-vl-thinking", "model": "m", "started_at": 1.8e9}))
    (folder / "steps.jsonl").write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in steps)
                                        + "{not json}\n", encoding="utf-8")
    (folder / "result.json").write_text(json.dumps({
        "status": "done", "reason": HOSTILE, "final_action": {"type": "done", "answer": "42"},
        "usage": {"prompt_tokens": 9000, "completion_tokens": 90}, "steps": 12, "duration_s": 14.2,
        "verdict": {"passed": False, "reason": "expected 41, got " + HOSTILE}}))
    return folder


def test_model_text_is_escaped_everywhere(rich_episode, tmp_path):
    text, page = read(render_report(rich_episode, tmp_path / "rich.html"))
    assert text.count("<script") == 1  # only the page's own
    assert "<img src=x" not in text and "onerror=\"alert" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert HOSTILE in page.one("pre", cls="reply", step="step-1").text  # shown as text, exactly
    assert HOSTILE in page.one("p", cls="instruction").text
    assert page.one("h1").text == "rich <b>"
    verdict = page.one(id="verdict")
    assert verdict.attrs["data-verdict"] == "failed" and HOSTILE in verdict.text


def test_every_action_kind_is_drawn_at_its_screen_coordinates(rich_episode, tmp_path):
    text, page = read(render_report(rich_episode, tmp_path / "rich.html"))
    assert_self_contained(text, page)
    svg = page.one("svg", step="step-1")
    assert svg.attrs["viewbox"] == "0 0 1920 1080"
    # A 1920-wide frame is shown as a JPEG thumbnail; the original PNG is embedded for the zoom view.
    img = page.one("img", step="step-1")
    assert img.attrs["src"].startswith("data:image/jpeg;base64,")
    shot = page.one("div", cls="shot", step="step-1")
    assert shot.attrs["data-full"].startswith("data:image/png;base64,") and shot.attrs["data-w"] == "1920"

    clicks = page.find("g", cls="click", step="step-1")
    assert [(c.attrs["data-x"], c.attrs["data-y"]) for c in clicks] == [("1500", "900"), ("10", "1075")]
    assert "right click" in clicks[0].text and "double click" in clicks[1].text
    drag = page.one("g", cls="drag", step="step-2")
    line = next(n for n in page.find("line", step="step-2") if n.attrs.get("x1") == "300")
    assert (line.attrs["y1"], line.attrs["x2"], line.attrs["y2"]) == ("230", "1200", "700")
    assert page.find("polygon", step="step-2") and "drag" in drag.text
    assert page.one("g", cls="move", step="step-2").attrs["data-x"] == "960"
    assert page.one("g", cls="scroll", step="step-2").attrs["data-y"] == "600"
    assert "scroll dx=0 dy=3 (at the pointer)" in page.one("g", cls="caption", step="step-2").text
    captions = [n.text for n in page.find("g", cls="caption", step="step-3")]
    assert "key ctrl + shift + s" in captions[0] and captions[1].startswith("2type “<script>")
    assert "wait 1.5 s" in captions[2]

    # A failed action is drawn in red; the rejection and what the model was told are listed.
    assert "failed" in page.one("g", cls="click", step="step-4").classes()
    assert page.one("section", id="step-4").attrs["data-outcome"] == "error"
    assert "app exited: " + HOSTILE in page.one("div", cls="rejection", step="step-4").text
    assert HOSTILE in page.one("div", cls="feedback", step="step-4").text
    assert page.one("section", id="step-5").attrs["data-outcome"] == "no action"
    assert HOSTILE in page.one("div", cls="parse-error", step="step-5").text
    assert page.one("section", id="step-6").attrs["data-outcome"] == "rejected"
    assert "x=1.5 is off the screen" in page.one("div", cls="rejection", step="step-6").text

    # Scripted steps: the instruction, the grounded point (a diamond) and the click it led to.
    s7 = page.one("section", id="step-7")
    assert s7.attrs["data-kind"] == "scripted" and "click the Save button " + HOSTILE in s7.text
    ground = page.one("g", cls="grounding", step="step-7")
    assert (ground.attrs["data-x"], ground.attrs["data-y"]) == ("644", "228")
    assert page.find("span", cls="seg-ground", step="step-7")
    assert page.one("section", id="step-8").attrs["data-outcome"] == "not grounded"
    assert "done" in page.one("g", cls="caption", step="step-9").text

    # Damaged steps render and say what is wrong.
    assert "step-0010.png" in page.one("div", cls="noframe", step="step-10").text
    assert "cannot be read" in page.one("div", cls="noframe", step="step-11").text
    assert page.one("section", id="step-12")
    problems = page.one(id="problems").text
    assert "steps.jsonl line 13 is not valid JSON" in problems and "step-0010.png is missing" in problems
    for note in ("step 10: executed: should be a valid list (got 'nope')", "step 10: timings: should be a valid "
                 "dictionary (got 'fast')", "step 11: frame step-0011.png cannot be read",
                 "step 12: executed.1.action: Field required", "step 12: executed.0.action.click.x: should be a "
                 "valid number"):
        assert note in problems, note
    assert "Damaged: executed: should be a valid list (got 'nope')" in [
        d.text for d in page.find("div", cls="damage", step="step-10")]
    assert not page.find("div", cls="damage", step="step-1")


def test_a_frame_named_outside_the_episode_folder_is_not_embedded(tmp_path):
    folder = shutil.copytree(COMMITTED, tmp_path / "ep")
    shutil.copy(COMMITTED / "step-0001.png", tmp_path / "private.png")
    lines = (folder / "steps.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    first["frame"] = "../private.png"
    (folder / "steps.jsonl").write_text("\n".join([json.dumps(first, ensure_ascii=False), *lines[1:]]) + "\n",
                                        encoding="utf-8")
    _, page = read(render_report(folder))
    assert not page.find("img", step="step-1") and page.find("img", step="step-2")
    assert "outside the episode folder" in page.one("div", cls="noframe", step="step-1").text
    assert "step 1: frame ../private.png is outside the episode folder" in page.one(id="problems").text


def test_full_size_frames_past_the_budget_are_linked_not_embedded(rich_episode, tmp_path):
    page_path = tmp_path / "elsewhere" / "page.html"
    embedder = FrameEmbedder(page_path, max_full_bytes=0)
    frame = embedder.embed(rich_episode / "step-0001.png")
    assert frame.linked and embedder.linked == 1
    assert (page_path.parent / unquote(frame.full)).resolve() == (rich_episode / "step-0001.png").resolve()
    assert frame.src.startswith("data:image/jpeg") and (frame.width, frame.height) == (1920, 1080)
    small = FrameEmbedder(page_path).embed(COMMITTED / "step-0001.png")
    assert small.src.startswith("data:image/png") and not small.full  # shown as it is, zoom uses the same


def test_caption_text_is_cut_by_terminal_columns():
    assert fit("abc", 3) == "abc"
    assert fit("abcd", 3) == "ab…"
    assert fit("世界世界", 5) == "世界…"


# ---------------------------------------------------------------- run folders

def test_run_page_links_every_episode_and_totals_the_run(tmp_path):
    run = shutil.copytree(SAMPLE_RUN, tmp_path / "run")
    assert detect(run) == "run"
    page_path = write_run_report(run)
    assert page_path == run / "report.html"
    text, page = read(page_path)
    assert_self_contained(text, page)
    results = json.loads((run / "results.json").read_text())
    rows = [n for n in page.nodes if n.tag == "tr" and "data-task" in n.attrs]
    assert [r.attrs["data-task"] for r in rows] == [t["id"] for t in results["tasks"]]
    assert [r.attrs["data-status"] for r in rows] == ["passed", "failed", "error", "skipped"]
    assert page.one(id="stat-pass-rate").text.startswith("25%")
    assert "1 / 3" in page.one(id="stat-passed").text  # the skipped task did not run: not counted as failed
    assert "15\u2009216" in page.one(id="stat-prompt-tokens").text
    assert "19.0 s" in page.one(id="stat-wall-time").text
    assert "expected 'bonjour <monde>'" in text.replace("&lt;", "<").replace("&gt;", ">").replace("&#x27;", "'")

    links = [a.attrs["href"] for a in page.find("a") if a.attrs.get("href", "").endswith("report.html")]
    assert len(links) == 6  # task name and "report" for each of the three episodes; the skipped one has none
    for href in links:
        episode_page = (page_path.parent / unquote(href)).resolve()
        assert episode_page.is_file()
        _, ep = read(episode_page)
        assert ep.find("a", href="../report.html"), episode_page  # back to the run page
    _, crashed = read(run / "03-xterm-crashed" / "report.html")
    assert "no result.json: the run did not finish" in crashed.one(id="problems").text
    _, passed = read(run / "01-xterm-write" / "report.html")
    assert passed.one(id="verdict").attrs["data-verdict"] == "passed"


def test_run_page_written_elsewhere_links_back_correctly(tmp_path):
    run = shutil.copytree(SAMPLE_RUN, tmp_path / "run")
    out = tmp_path / "pages" / "summary.html"
    assert render_report(run, out) == out
    _, page = read(out)
    href = next(a.attrs["href"] for a in page.find("a") if a.attrs.get("href", "").endswith("report.html"))
    assert href == "../run/01-xterm-write/report.html"
    _, ep = read(run / "01-xterm-write" / "report.html")
    assert ep.find("a", href="../../pages/summary.html")


def test_run_without_results_json_is_rebuilt_from_its_episodes(tmp_path):
    run = shutil.copytree(SAMPLE_RUN, tmp_path / "run")
    (run / "results.json").unlink()
    assert detect(run) == "run"
    _, page = read(render_report(run))
    rows = [n for n in page.nodes if n.tag == "tr" and "data-task" in n.attrs]
    assert [(r.attrs["data-task"], r.attrs["data-status"]) for r in rows] == [
        ("xterm-write", "passed"), ("xterm-wrong-text", "failed"), ("xterm-crashed", "unfinished")]
    assert "no results.json" in page.one(id="problems").text


def test_run_with_damaged_results_json_and_escaping_episode_paths(tmp_path):
    run = shutil.copytree(SAMPLE_RUN, tmp_path / "run")
    data = json.loads((run / "results.json").read_text())
    data["tasks"][0]["episode"] = "../../etc"
    data["tasks"][1]["episode"] = "gone"
    data["tasks"][2]["time_s"] = "slow"
    data["summary"]["total"] = 7
    data["run"].update(started_at=1.8e9, finished_at=1.8e9 + 42.0, interrupted=True)  # the runner writes epochs
    (run / "results.json").write_text(json.dumps(data))
    _, page = read(write_run_report(run))
    assert "42.0 s" in page.one(id="stat-wall-time").text and "2027-01-15 08:00:00 UTC" in page.one(id="summary").text
    assert "interrupted" in page.one(id="summary").text
    problems = page.one(id="problems").text
    assert "not a folder inside the run folder" in problems and "episode folder gone is missing" in problems
    assert "summary says total = 7" in problems
    assert len([n for n in page.nodes if n.tag == "tr" and "data-task" in n.attrs]) == 4
    (run / "results.json").write_text("{torn")
    _, page = read(write_run_report(run))
    assert "results.json is damaged" in page.one(id="problems").text


# ---------------------------------------------------------------- the command line

def test_cli_report_writes_the_page_and_refuses_bad_folders(tmp_path, capsys):
    out = tmp_path / "x" / "page.html"
    assert main(["report", str(COMMITTED), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out) and out.is_file()
    assert main(["report", str(PARTIAL), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "report.html").is_file()
    assert main(["report", str(tmp_path / "nope")]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "neither an episode folder" in capsys.readouterr().err
    with pytest.raises(NotAReportFolder):
        detect(tmp_path / "empty")


# ---------------------------------------------------------------- a look in a real browser

def _chromium(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
            *extra, url]
    return subprocess.run(argv, capture_output=True, timeout=90)


def _magenta_pixels(png: Path, max_x: int) -> int:
    """Pixels of the marker colour left of ``max_x`` (only the frame overlays are there)."""
    with Image.open(png) as img:
        rgb = img.convert("RGB")
        w, h = rgb.size
        data = rgb.load()
        return sum(1 for y in range(0, h, 2) for x in range(0, min(w, max_x), 2)
                   if abs(data[x, y][0] - 255) < 30 and abs(data[x, y][1] - 45) < 40 and abs(data[x, y][2] - 149) < 40)


def test_pages_look_right_in_headless_chromium(tmp_path, artifacts):
    assert CHROMIUM is not None, "chromium is not installed (make installs Debian's chromium)"
    run = shutil.copytree(SAMPLE_RUN, tmp_path / "run")
    run_page = write_run_report(run)
    shots = {
        "report-episode.png": run / "01-xterm-write" / "report.html",
        "report-partial-episode.png": run / "03-xterm-crashed" / "report.html",
        "report-run.png": run_page,
    }
    for name, page in shots.items():
        out = artifacts / name
        out.unlink(missing_ok=True)
        done = _chromium(tmp_path, page.as_uri(), f"--screenshot={out}", "--window-size=1280,2000")
        assert out.is_file(), done.stderr.decode(errors="replace")[-2000:]
        with Image.open(out) as img:
            assert img.size == (1280, 2000)
            assert len(img.convert("RGB").resize((64, 100)).getcolors(10_000) or []) > 40, f"{name} looks blank"
    # The click marker is drawn over the frame (the frames sit in the left column).
    assert _magenta_pixels(artifacts / "report-episode.png", 720) > 50
    # The page script runs: the table sorts by the column named in the URL.
    dom = _chromium(tmp_path, run_page.as_uri() + "#sort=time-desc", "--dump-dom").stdout.decode()
    assert 'data-sorted="time-desc"' in dom
    order = [line.split('data-task="')[1].split('"')[0] for line in dom.split("<tr ")[1:]]
    assert order == ["xterm-crashed", "xterm-write", "xterm-wrong-text", "gedit-save"]


# ---------------------------------------------------------------- any junk in a step line

def _json_values():
    from hypothesis import strategies as st

    numbers = st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    scalars = st.none() | st.booleans() | numbers | st.text(max_size=20)
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["type", "x", "y", "x1", "y1", "x2", "y2", "dx", "dy", "text", "keys", "key", "button",
                         "clicks", "seconds", "answer", "reason", "action", "ok", "error", "message", "point",
                         "description", "role", "content", "url", "image_url"]), inner, max_size=5), max_leaves=12)


def _junk_steps():
    from hypothesis import strategies as st

    kinds = ["click", "move", "drag", "scroll", "type", "key", "key_down", "mouse_up", "wait", "done", "fail", "?"]
    action = st.fixed_dictionaries({"type": st.sampled_from(kinds)}, optional={
        k: _json_values() for k in ("x", "y", "x1", "y1", "x2", "y2", "dx", "dy", "text", "keys", "button", "clicks")})
    record = st.fixed_dictionaries({}, optional={"action": action | _json_values(), "ok": _json_values(),
                                                 "error": _json_values(), "message": _json_values()})
    fields = {k: _json_values() for k in ("index", "reply", "thought", "parsed", "errors", "feedback",
                                          "timings", "usage", "request", "settle", "grounding", "instruction")}
    # load_episode (not this module) needs "frame" to be text or null.
    fields.update(frame=st.none() | st.sampled_from(["step-0001.png", "step-0009.png", "../x.png", ""]),
                  executed=st.lists(record | _json_values(), max_size=4) | _json_values(),
                  rejections=st.lists(record, max_size=2) | _json_values(),
                  grounding=st.fixed_dictionaries({}, optional={"point": _json_values(),
                                                                "description": _json_values()}) | _json_values())
    return st.fixed_dictionaries({"kind": st.sampled_from(["model", "scripted", 3])}, optional=fields)


def test_any_junk_in_a_step_line_renders_without_losing_the_step(tmp_path):
    from hypothesis import HealthCheck, given, settings

    folder = tmp_path / "junk"
    folder.mkdir()
    _frame(folder / "step-0001.png", (320, 200))

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(_junk_steps())
    def check(step):
        (folder / "steps.jsonl").write_text(json.dumps(step, allow_nan=False) + "\n")
        text, page = read(render_report(folder, tmp_path / "junk.html"))
        assert not page.find("section", data_outcome="unreadable"), page.one(id="problems").text
        assert text.count("<script") == 1

    check()


# ---------------------------------------------------------------- scripted episodes: what the grounder matched

SCRIPTED_V1 = CORPUS / "episodes" / "scripted-v1-form"  # written by `screenact run --mode scripted` before v2


def test_a_scripted_page_shows_what_the_grounder_matched_and_where(tmp_path):
    text, page = read(render_report(SCRIPTED_V1, tmp_path / "scripted.html"))
    assert not page.find(id="problems"), page.one(id="problems").text  # the demo bug: "grounding is list"
    step = page.one("section", id="step-2")
    assert step.attrs["data-kind"] == "scripted" and "click 'Canada'" in step.text
    box = page.one("g", cls="matched", step="step-2")
    assert box.attrs["data-box"] == "133,356,195,377"  # the box of the text it read, in screen pixels
    diamond = page.one("g", cls="grounding", step="step-2")
    click = page.one("g", cls="click", step="step-2")
    assert (diamond.attrs["data-x"], diamond.attrs["data-y"]) == (click.attrs["data-x"], click.attrs["data-y"])
    rows = page.one("div", cls="grounding-box", step="step-2").text
    assert "matchedCanada" in rows and "point clicked(164, 366)" in rows and "score1.00" in rows
    table = page.one("table", cls="acts-table", step="step-2").text
    assert "model space" not in table and "click(164, 366)" in table  # words, not a model, planned it


def test_a_scripted_step_that_found_nothing_lists_the_closest_candidates(tmp_path):
    folder = shutil.copytree(SCRIPTED_V1, tmp_path / "ep")
    lines = (folder / "steps.jsonl").read_text(encoding="utf-8").splitlines()
    step = json.loads(lines[1])
    step.update(executed=[], settle=None, error="step 2 'Canada': could not find it")
    step["grounding"][0].update(point=None)
    step["grounding"][0]["details"].update(
        reason="no text on screen matches 'Canada' well enough (best: 'Canad<a>' at 0.41)",
        candidates=[{"text": "Canad<a>", "score": 0.41, "kind": "line", "box": [130, 350, 199, 380]},
                    {"text": "Chile", "score": 0.2, "kind": "line", "box": [10, 20, 60, 40]}])
    for key in ("matched", "box", "score"):
        step["grounding"][0]["details"].pop(key, None)
    (folder / "steps.jsonl").write_text(lines[0] + "\n" + json.dumps(step, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
    text, page = read(render_report(folder, tmp_path / "nothing.html"))
    assert page.one("section", id="step-2").attrs["data-outcome"] == "not grounded"
    assert [g.attrs["data-box"] for g in page.find("g", cls="candidate", step="step-2")] == \
        ["130,350,199,380", "10,20,60,40"]
    table = page.one("table", cls="candidates", step="step-2")
    assert "Canad<a>" in table.text and "0.41" in table.text and "<a>" not in text.replace("&lt;a&gt;", "")
    assert "could not find it" in page.one("section", id="step-2").text
