"""make-grounding-set: a ScreenSpot-Pro-format set from real sandboxes, deterministic for a seed, whose
boxes are checked by clicking their centres in a sandbox and seeing the right widget react."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from agent.cli import main as cli
from sandbox import Sandbox
from tasks.grounding import load_dataset
from tasks.grounding.generate import (
    SCREENS,
    Scene,
    generate_set,
    load_scenes,
    open_scene,
    opens_menu,
    plan_scene,
)

SEED = 4
N = 30


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gset") / "set"
    assert cli(["make-grounding-set", str(out), "--n", str(N), "--seed", str(SEED)]) == 0
    return out


def records(out: Path) -> list[dict]:
    return [r for f in sorted((out / "annotations").glob("*.json")) for r in json.loads(f.read_text())]


def test_set_is_in_screenspot_pro_format(generated):
    ds = load_dataset(generated)  # auto-detected, every record validated, every image present
    assert ds.format == "screenspot-pro" and len(ds) == N
    sizes = set()
    for s in ds.samples:
        with Image.open(s.image_path) as img:
            assert img.size == s.img_size
        x1, y1, x2, y2 = s.bbox
        assert 0 <= x1 < x2 <= s.img_size[0] and 0 <= y1 < y2 <= s.img_size[1]
        assert s.instruction and s.instruction_cn and s.platform == "linux"
        assert s.group in {"Dev", "Office", "Scientific", "OS"}
        sizes.add(s.img_size)
    assert len(sizes) >= 2 and sizes <= set(SCREENS)  # several screen sizes
    assert {s.ui_type for s in ds.samples} == {"text", "icon"}
    doc = json.loads((generated / "scenes.json").read_text())
    assert doc["seed"] == SEED and doc["n"] == N


def test_same_seed_same_scenes():
    for index in range(1, 30):
        assert plan_scene(9, index) == plan_scene(9, index)
    assert [plan_scene(9, i) for i in range(1, 6)] != [plan_scene(10, i) for i in range(1, 6)]
    scene = plan_scene(9, 3)
    assert Scene.from_json(json.loads(json.dumps(scene.to_json()))) == scene


def test_same_seed_same_set(tmp_path):
    a = generate_set(tmp_path / "a", n=8, seed=21, screens=((1280, 800),))
    b = generate_set(tmp_path / "b", n=8, seed=21, screens=((1280, 800),))
    assert a.records == b.records == 8
    for f in sorted((tmp_path / "a" / "annotations").glob("*.json")):
        assert f.read_bytes() == (tmp_path / "b" / "annotations" / f.name).read_bytes()
    for img in sorted((tmp_path / "a" / "images" / "scenes").glob("*.png")):
        with Image.open(img) as x, Image.open(tmp_path / "b" / "images" / "scenes" / img.name) as y:
            assert x.tobytes() == y.tobytes(), img.name


def test_cli_refuses_a_folder_with_other_files(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("keep me")
    assert cli(["make-grounding-set", str(tmp_path), "--n", "1"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert cli(["make-grounding-set", str(tmp_path), "--n", "1", "--overwrite"]) == 2
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    assert cli(["make-grounding-set", str(tmp_path / "x"), "--apps", "form,paint"]) == 2


# ------------------------------------------------------------------------------ clicking the boxes
NOT_CLICKABLE = {"label", "slider", "scrollbar", "list"}  # nothing observable happens when clicked


def _widget(doc: dict, wid: str) -> dict:
    return next((w for w in doc.get("widgets", []) if w["id"] == wid), {})


def reaction(rec: dict, before: dict, after: dict) -> bool | None:
    """Did the record's widget react to a click (True / False), or can this click not tell (None)?"""
    wid, role, app = rec["widget_id"], rec["role"], rec["application"]
    if app == "xterm":
        if len(after["clicks"]) <= len(before["clicks"]):
            return False
        click = after["clicks"][-1]
        tok = before["tokens"][int(wid.split("_")[1])]
        return click["row"] == tok["row"] and tok["col"] <= click["col"] < tok["col"] + len(tok["text"])
    b, a = _widget(before, wid), _widget(after, wid)
    if role in ("entry", "text"):
        return after.get("focus") == wid
    if role == "checkbox":
        return a.get("checked") is not None and a.get("checked") != b.get("checked")
    if role == "radio":
        return True if a.get("checked") and not b.get("checked") else (None if b.get("checked") else False)
    if role == "tab":
        return after["state"].get("tab") == wid.removeprefix("tab_")
    if role == "listitem":
        return bool(a.get("selected"))
    if role in ("menu", "combobox"):
        return any(w["role"] == "menuitem" for w in after["widgets"])
    if role == "menuitem":
        if wid.startswith("country_"):
            return after["state"]["fields"]["country"] == wid.removeprefix("country_")
        if any(w["role"] == "menuitem" for w in after["widgets"]):
            return False  # the menu is still open: the click missed its entries
        return True if after["state"] != before["state"] else None
    if role == "button":
        if after["state"] != before["state"]:
            return True
        if app == "calc" and wid.removeprefix("button_").isdigit():
            shown = before["state"]["display"]
            return None if shown == "0" and wid == "button_0" else False
        if wid == "apply_button":
            return False  # Apply always counts
        return None
    return None


def _wait_release(opened, window: int, before: dict, app: str, timeout: float = 5.0) -> dict:
    key = (lambda d: len(d["clicks"])) if app == "xterm" else (lambda d: d.get("input", {}).get("releases", 0))
    deadline = time.monotonic() + timeout
    while True:
        doc = opened.state(window)
        if key(doc) > key(before):
            return doc
        assert time.monotonic() < deadline, f"the click never reached {app}"
        time.sleep(0.02)


def _menus_for(scene: Scene, window: int | None) -> Scene:
    """The scene with every menu left closed but ``window``'s: a posted menu grabs the pointer, so a
    click elsewhere would only close it (the boxes of what it does not cover are the same either way)."""
    wins = tuple(w if i == window else replace(w, prepare=tuple(p for p in w.prepare if not opens_menu(p)))
                 for i, w in enumerate(scene.windows))
    return replace(scene, windows=wins)


def _restarts_after(rec: dict) -> bool:
    """Whether a click on this record's widget will likely change its window's layout (a tab, a menu), after
    which the scene starts again: such clicks come last in their window, so fewer desktops are started."""
    return rec["application"] == "xterm" or rec["role"] in ("menu", "combobox", "menuitem", "tab")


def test_clicking_each_box_centre_hits_its_widget(generated):
    scenes = load_scenes(generated)
    by_scene: dict[tuple[int, int, bool], list[dict]] = defaultdict(list)
    for rec in records(generated):
        by_scene[(rec["scene"], rec["window"], rec["role"] == "menuitem")].append(rec)
    verdicts: Counter = Counter()
    failures = []
    starts = 0
    for (index, window, in_menu), recs in sorted(by_scene.items()):
        scene = _menus_for(scenes[index], window if in_menu else None)
        sb = opened = None
        try:
            for rec in sorted(recs, key=_restarts_after):  # the clicks that need a fresh scene after them go last
                if opened is None:
                    sb = Sandbox(scene.width, scene.height)
                    opened = open_scene(sb, scene)
                    starts += 1
                states = opened.states()
                elements = {(e.window, e.widget_id): e for e in opened.elements(states)}
                el = elements.get((window, rec["widget_id"]))
                assert el is not None, f"scene {index}: {rec['widget_id']} is not on screen again"
                assert list(el.bbox) == rec["bbox"], f"scene {index}: {rec['widget_id']} moved"
                if rec["role"] in NOT_CLICKABLE:
                    verdicts["not clickable"] += 1
                    continue
                x1, y1, x2, y2 = rec["bbox"]
                before = states[window]
                sb.act({"type": "click", "x": (x1 + x2) // 2, "y": (y1 + y2) // 2})
                after = _wait_release(opened, window, before, rec["application"])
                verdict = reaction(rec, before, after)
                deadline = time.monotonic() + 1.0
                while verdict is not True and time.monotonic() < deadline:  # let the app finish reacting
                    time.sleep(0.05)
                    after = opened.state(window)
                    verdict = reaction(rec, before, after)
                verdicts[{True: "reacted", False: "missed", None: "no visible effect"}[verdict]] += 1
                if verdict is False:
                    failures.append((index, rec["widget_id"], rec["instruction"]))
                boxes = lambda doc: [(w["id"], w["bbox"]) for w in doc.get("widgets", [])]  # noqa: E731
                if rec["application"] == "xterm" or boxes(after) != boxes(before) or rec["role"] in ("menu", "combobox", "menuitem"):
                    sb.close()
                    sb = opened = None  # the layout changed: start the scene again for the next box
        finally:
            if sb is not None:
                sb.close()
    print(dict(verdicts), f"{starts} desktops")
    assert not failures, failures
    assert verdicts["reacted"] >= 0.5 * N, verdicts
