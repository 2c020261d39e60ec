"""The benchmarks' metric: inclusive bounds in original-image pixels, no point = wrong_format, breakdowns."""

from __future__ import annotations

import math

import pytest

from tasks.grounding.metrics import compute_metrics, judge, render_tables, score


@pytest.mark.parametrize("point, expected", [
    ((15, 25), "correct"),
    ((10, 20), "correct"),        # top-left corner: bounds are inclusive
    ((30, 40), "correct"),        # bottom-right corner
    ((30, 25), "correct"),        # on the right edge
    ((30.0001, 25), "wrong"),     # just outside
    ((9.999, 25), "wrong"),
    ((15, 40.5), "wrong"),
    ((-5, -5), "wrong"),          # outside the image is wrong, not wrong_format
    ((99999, 25), "wrong"),
    (None, "wrong_format"),       # no parsable point
    ((math.nan, 20), "wrong_format"),
    ((math.inf, 20), "wrong_format"),
])
def test_judge(point, expected):
    assert judge(point, (10, 20, 30, 40)) == expected


def test_zero_size_box():
    assert judge((5, 5), (5, 5, 5, 5)) == "correct"
    assert judge((5.01, 5), (5, 5, 5, 5)) == "wrong"
    assert judge((5, 7), (5, 5, 5, 10)) == "correct"   # a vertical line of zero width


def _row(c, t="text", **kw):
    return {"correctness": c, "ui_type": t, **kw}


def test_wrong_format_counts_in_the_denominator():
    s = score([_row("correct"), _row("wrong_format"), _row("wrong", "icon"), _row("correct", "icon")])
    assert (s.num_total, s.num_correct_action, s.wrong_format_num) == (4, 2, 1)
    assert s.action_acc == 0.5 and s.text_acc == 0.5 and s.icon_acc == 0.5
    empty = score([])
    assert empty.action_acc is None and empty.num_total == 0


def test_breakdowns_in_screenspot_pro_shape():
    details = [
        _row("correct", "text", group="Dev", application="vscode", platform="macos"),
        _row("wrong", "icon", group="Dev", application="vscode", platform="macos"),
        _row("wrong_format", "icon", group="Dev", application="pycharm", platform="windows"),
        _row("correct", "icon", group="Creative", application="photoshop", platform="windows"),
    ]
    m = compute_metrics(details)
    assert m["overall"]["num_total"] == 4 and m["overall"]["action_acc"] == 0.5
    assert m["overall"]["text_acc"] == 1.0 and m["overall"]["icon_acc"] == pytest.approx(1 / 3)
    assert m["leaderboard_simple_style"]["group:Dev"]["action_acc"] == pytest.approx(1 / 3)
    assert m["leaderboard_simple_style"]["group:Creative"]["action_acc"] == 1.0
    assert set(m["leaderboard_detailed_style"]) == {"app:vscode", "app:pycharm", "app:photoshop"}
    assert m["leaderboard_detailed_style"]["app:pycharm"]["wrong_format_num"] == 1
    assert m["seeclick_style"]["plat:macos inst_style:instruction gt_type:positive"]["num_total"] == 2
    assert "plat:windows app:photoshop inst_style:instruction gt_type:positive" in m["fine_grained"]
    assert m["by_ui_type"]["icon"]["num_total"] == 3
    table = m["screenspot_table"]
    assert table["rows"]["macos"] == {"text": 1.0, "icon": 0.0, "text_total": 1, "icon_total": 1}
    assert table["rows"]["windows"]["text"] is None and table["rows"]["windows"]["icon"] == 0.5
    assert table["average"] == 0.5


def test_screenspot_has_no_groups_and_prints_its_table():
    details = [_row("correct", "text", platform="mobile", application="ios"),
               _row("wrong", "icon", platform="mobile", application="android"),
               _row("correct", "icon", platform="web", application="shop")]
    m = compute_metrics(details)
    assert m["leaderboard_simple_style"] == {}
    text = render_tables(m)
    assert "overall:  66.7% of 3" in text.replace("overall: 66.7%", "overall:  66.7%")
    assert "ScreenSpot table" in text and "mobile text" in text and "by group" not in text
    assert "by application:" in text and "android" in text
