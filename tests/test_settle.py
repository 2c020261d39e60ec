"""Settle waits for a real screen to stop changing, ignores a blinking caret, and gives up in time."""

from __future__ import annotations

import time

from tools.frame import Frame
from tools.settle import diff_box, settle


def solid(w: int, h: int, marks: list[tuple[int, int, int, int]] = ()) -> Frame:
    buf = bytearray(b"\xff\xff\xff\x00" * w * h)
    for x1, y1, x2, y2 in marks:
        for y in range(y1, y2 + 1):
            for x in range(x1, x2 + 1):
                buf[(y * w + x) * 4 : (y * w + x) * 4 + 3] = b"\x00\x00\x00"
    return Frame(w, h, bytes(buf))


def test_diff_box_finds_the_changed_rectangle():
    a, b = solid(40, 30), solid(40, 30, [(5, 6, 9, 20)])
    assert diff_box(a, a) is None
    assert diff_box(a, b) == (5, 6, 9, 20)


def test_a_blinking_caret_does_not_prevent_settling():
    caret_on, caret_off = solid(60, 40, [(10, 5, 11, 20)]), solid(60, 40)
    frames = iter([caret_on, caret_off] * 200)
    result = settle(lambda: next(frames), quiet=0.1, interval=0.005, timeout=2.0)
    assert result.stable and result.waited_s < 1.0


def test_a_change_that_keeps_moving_is_not_settled_and_times_out():
    counter = iter(range(10_000))
    result = settle(lambda: solid(60, 40, [(n := next(counter) % 50, 0, n + 9, 30)]),
                    quiet=0.1, interval=0.005, timeout=0.4)
    assert not result.stable and 0.4 <= result.waited_s < 1.5


def test_settle_returns_the_frame_after_a_window_appears(sandbox_1280):
    sb = sandbox_1280
    before = sb.screenshot()
    sb.launch(["xterm", "-geometry", "60x10+100+100", "-title", "late"])
    sb.wait_window("late")  # mapped, maybe not drawn yet: a busy machine can take longer than quiet to map it
    result = settle(sb.screenshot, first=before, quiet=0.15, timeout=5)
    assert result.stable and result.changed
    assert any(w.title == "late" for w in sb.windows())
    assert diff_box(before, result.frame) is not None
    again = settle(sb.screenshot, quiet=0.1, timeout=2)
    assert again.stable and not again.changed  # stable: quiet before the timeout, not a wall-clock bound


def test_an_unchanging_screen_settles_after_the_quiet_period_only():
    frame = solid(20, 20)
    t0 = time.monotonic()
    result = settle(lambda: frame, quiet=0.05, interval=0.01)
    assert result.stable and not result.changed and 0.05 <= time.monotonic() - t0 < 0.5
