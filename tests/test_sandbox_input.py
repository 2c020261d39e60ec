"""Input lands exactly where and as asked: a probe app in a real sandbox reports what it received."""

from __future__ import annotations

import time

import pytest

from sandbox import Sandbox
from tests.conftest import Probe


@pytest.fixture(scope="module", params=[(1280, 800), (1920, 1080)], ids=["1280x800", "1920x1080"])
def probe(request):
    w, h = request.param
    with Sandbox(w, h) as sb:
        yield Probe(sb)


def test_screen_is_exactly_the_requested_size(probe):
    frame = probe.sb.screenshot()
    assert frame.size == (probe.sb.width, probe.sb.height)
    assert probe.ready["screen"] == [probe.sb.width, probe.sb.height]
    assert len(frame.bgra) == frame.width * frame.height * 4
    assert abs(frame.captured_at - time.time()) < 5


def test_clicks_land_on_the_exact_pixel_including_corners(probe):
    w = probe.sb.width
    canvas_bottom = probe.ready["text_y"] - 1
    for x, y, button, num in [(0, 0, "left", 1), (w - 1, 0, "left", 1), (123, 45, "right", 3),
                              (w // 2 + 7, canvas_bottom, "middle", 2), (999, 301, "left", 1)]:
        mark = probe.mark()
        result = probe.sb.act({"type": "click", "x": x, "y": y, "button": button})
        assert result.ok and result.cursor == (x, y)
        ev = probe.wait_for(lambda e: e["ev"] == "press", after=mark)
        assert (ev["x"], ev["y"], ev["button"]) == (x, y, num)


@pytest.mark.parametrize("clicks,event", [(2, "double"), (3, "triple")])
def test_multi_clicks(probe, clicks, event):
    mark = probe.mark()
    probe.sb.act({"type": "click", "x": 300 + clicks, "y": 200, "clicks": clicks})
    ev = probe.wait_for(lambda e: e["ev"] == event, after=mark)
    assert (ev["x"], ev["y"]) == (300 + clicks, 200)


def test_drag_presses_moves_and_releases(probe):
    mark = probe.mark()
    probe.sb.act({"type": "drag", "x1": 40, "y1": 50, "x2": 400, "y2": 250})
    release = probe.wait_for(lambda e: e["ev"] == "release", after=mark)
    seen = probe.events()[mark:]
    press = next(e for e in seen if e["ev"] == "press")
    drags = [e for e in seen if e["ev"] == "drag"]
    assert (press["x"], press["y"]) == (40, 50)
    assert (release["x"], release["y"]) == (400, 250)
    assert len(drags) >= 3 and (drags[-1]["x"], drags[-1]["y"]) == (400, 250)


def test_mouse_down_move_up(probe):
    mark = probe.mark()
    probe.sb.act({"type": "move", "x": 60, "y": 70})
    probe.sb.act({"type": "mouse_down", "button": "left"})
    probe.sb.act({"type": "move", "x": 160, "y": 170})
    probe.sb.act({"type": "mouse_up", "button": "left"})
    release = probe.wait_for(lambda e: e["ev"] == "release", after=mark)
    press = next(e for e in probe.events()[mark:] if e["ev"] == "press")
    assert (press["x"], press["y"], release["x"], release["y"]) == (60, 70, 160, 170)


# Tk 8.6 reports the horizontal wheel (X buttons 6 and 7) as buttons 4 and 5 with Shift held.
@pytest.mark.parametrize("dx,dy,button,shift,count",
                         [(0, 3, 4, 0, 3), (0, -2, 5, 0, 2), (-1, 0, 4, 1, 1), (2, 0, 5, 1, 2)])
def test_scroll_vertical_and_horizontal_at_a_point(probe, dx, dy, button, shift, count):
    mark = probe.mark()
    probe.sb.act({"type": "scroll", "dx": dx, "dy": dy, "x": 250, "y": 150})
    probe.sb.act({"type": "click", "x": 11, "y": 12})  # a later event proves the scroll was delivered
    probe.wait_for(lambda e: e["ev"] == "press" and e["x"] == 11, after=mark)
    presses = [e for e in probe.events()[mark:] if e["ev"] == "press" and e["x"] == 250]
    assert [(e["button"], e["state"] & 1, e["x"], e["y"]) for e in presses] == [(button, shift, 250, 150)] * count


TEXTS = [
    "héllo wörld",
    "你好，世界",
    "a<b>c",
    "first line\n\tindented with a tab\nthird: ~!@#$%^&*()_+{}|:\"?`-=[]\\;',./",
    "Ωμέγα Привет ©® ñ ß €",
    "混合 text with 漢字 and more 汉字 to exceed the nineteen spare keycodes: 一二三四五六七八九十百千万亿",
]


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_typing_round_trips_exactly(probe, text):
    probe.sb.act({"type": "click", "x": 50, "y": probe.ready["text_y"] + 200})
    before = probe.text()
    result = probe.sb.act({"type": "type", "text": text})
    assert result.ok, result.error
    deadline = time.monotonic() + 5
    while probe.text() != before + text and time.monotonic() < deadline:
        time.sleep(0.02)
    assert probe.text() == before + text


def test_key_combinations_and_named_keys(probe):
    probe.sb.act({"type": "click", "x": 500, "y": 100})  # focus the canvas
    mark = probe.mark()
    probe.sb.act({"type": "key", "keys": ["ctrl", "shift", "a"]})
    ev = probe.wait_for(lambda e: e["ev"] == "key" and e["keysym"].lower() == "a", after=mark)
    assert ev["state"] & 0x4 and ev["state"] & 0x1  # Control and Shift held
    for name, keysym in [("enter", "Return"), ("f5", "F5"), ("esc", "Escape"), ("pagedown", "Next"),
                         ("left", "Left"), ("<", "less"), (">", "greater")]:
        mark = probe.mark()
        result = probe.sb.act({"type": "key", "keys": [name]})
        assert result.ok, result.error
        probe.wait_for(lambda e, k=keysym: e["ev"] == "key" and e["keysym"] == k, after=mark)


def test_key_down_and_up_hold_a_modifier(probe):
    probe.sb.act({"type": "click", "x": 500, "y": 100})
    mark = probe.mark()
    probe.sb.act({"type": "key_down", "key": "shift"})
    probe.sb.act({"type": "key", "keys": ["b"]})
    probe.sb.act({"type": "key_up", "key": "shift"})
    ev = probe.wait_for(lambda e: e["ev"] == "key" and e["keysym"] in ("b", "B"), after=mark)
    assert ev["state"] & 0x1
    probe.wait_for(lambda e: e["ev"] == "keyup" and e["keysym"].startswith("Shift"), after=mark)


def test_unknown_key_is_a_readable_failure_not_a_crash(probe):
    result = probe.sb.act({"type": "key", "keys": ["nosuchkey"]})
    assert not result.ok and "nosuchkey" in result.error
    assert probe.sb.act({"type": "move", "x": 5, "y": 5}).ok  # still usable
