"""The benchmarks' metric and its breakdowns.

A prediction is one point in the original image's pixels. It is ``correct`` iff
``x1 <= x <= x2 and y1 <= y <= y2`` (bounds inclusive), ``wrong`` otherwise (a point outside the
image is simply wrong), and ``wrong_format`` when the reply held no parsable point — which still
counts in the denominator. These are ScreenSpot-Pro's rules and names.

``compute_metrics(details)`` takes the per-sample detail rows (dicts with ``correctness``, ``ui_type``,
``platform``, ``application``, ``group``) and returns the ``metrics`` section of a results file:
ScreenSpot-Pro's own keys (``overall``, ``leaderboard_simple_style`` per group,
``leaderboard_detailed_style`` per application, ``seeclick_style`` per platform, ``fine_grained`` per
platform × application) plus ``by_platform``, ``by_ui_type`` and ``screenspot_table`` (ScreenSpot's
platform × text/icon table). Each slice is a :class:`Score` as a dict, with ScreenSpot-Pro's field names.
One difference: an accuracy over zero samples is ``null`` here, not 0.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel

Correctness = Literal["correct", "wrong", "wrong_format"]
Point = tuple[float, float]
Box = Sequence[float]


def judge(point: Point | Sequence[float] | None, bbox: Box) -> Correctness:
    """Score one prediction by the benchmarks' rule (see the module docstring).

    ``point`` is ``(x, y)`` in original-image pixels or None; ``bbox`` is ``(x1, y1, x2, y2)``. A point
    with a non-finite coordinate counts as no point.
    """
    if point is None:
        return "wrong_format"
    try:
        x, y = float(point[0]), float(point[1])
    except (TypeError, ValueError, IndexError):
        return "wrong_format"
    if not (math.isfinite(x) and math.isfinite(y)):
        return "wrong_format"
    x1, y1, x2, y2 = (float(v) for v in bbox)
    return "correct" if (x1 <= x <= x2 and y1 <= y <= y2) else "wrong"


class Score(BaseModel):
    """Accuracy over one slice of the samples, in ScreenSpot-Pro's field names (plus counts per type)."""

    num_correct_action: int
    num_total: int
    wrong_format_num: int
    action_acc: float | None
    text_acc: float | None
    icon_acc: float | None
    text_correct: int = 0
    text_total: int = 0
    icon_correct: int = 0
    icon_total: int = 0
    errors: int = 0


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def score(rows: Iterable[Mapping[str, Any]]) -> Score:
    """The :class:`Score` of some detail rows. Rows carrying an ``error`` are counted in ``errors`` too."""
    n = correct = wrong_format = errors = 0
    per = {"text": [0, 0], "icon": [0, 0]}
    for row in rows:
        n += 1
        ok = row.get("correctness") == "correct"
        correct += ok
        wrong_format += row.get("correctness") == "wrong_format"
        errors += bool(row.get("error"))
        kind = row.get("ui_type")
        if kind in per:
            per[kind][0] += ok
            per[kind][1] += 1
    return Score(num_correct_action=correct, num_total=n, wrong_format_num=wrong_format,
                 action_acc=_ratio(correct, n), text_acc=_ratio(*per["text"]), icon_acc=_ratio(*per["icon"]),
                 text_correct=per["text"][0], text_total=per["text"][1],
                 icon_correct=per["icon"][0], icon_total=per["icon"][1], errors=errors)


def _slices(rows: Sequence[Mapping[str, Any]], *fields: str) -> dict[tuple[Any, ...], list[Mapping[str, Any]]]:
    """Rows grouped by the values of ``fields`` (rows lacking any of them are left out), keys sorted."""
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        key = tuple(row.get(f) for f in fields)
        if any(k is None for k in key):
            continue
        groups[key].append(row)
    return {k: groups[k] for k in sorted(groups, key=lambda k: tuple(str(v) for v in k))}


def compute_metrics(details: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``metrics`` section of a results file for these detail rows (see the module docstring)."""
    def dump(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        return score(rows).model_dump()

    style = "inst_style:instruction gt_type:positive"
    return {
        "overall": dump(details),
        "leaderboard_simple_style": {f"group:{g}": dump(r) for (g,), r in _slices(details, "group").items()},
        "leaderboard_detailed_style": {f"app:{a}": dump(r) for (a,), r in _slices(details, "application").items()},
        "seeclick_style": {f"plat:{p} {style}": dump(r) for (p,), r in _slices(details, "platform").items()},
        "fine_grained": {f"plat:{p} app:{a} {style}": dump(r)
                         for (p, a), r in _slices(details, "platform", "application").items()},
        "by_platform": {p: dump(r) for (p,), r in _slices(details, "platform").items()},
        "by_ui_type": {t: dump(r) for (t,), r in _slices(details, "ui_type").items()},
        "screenspot_table": screenspot_table(details),
    }


def screenspot_table(details: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """ScreenSpot's table: accuracy per platform and text/icon, and the average over all samples."""
    rows = {}
    for (p,), r in _slices(details, "platform").items():
        s = score(r)
        rows[p] = {"text": s.text_acc, "icon": s.icon_acc, "text_total": s.text_total, "icon_total": s.icon_total}
    overall = score(details)
    return {"rows": rows, "average": overall.action_acc, "num_total": overall.num_total}


# ---------------------------------------------------------------------------------- printing
def _pct(v: float | None) -> str:
    return "   –  " if v is None else f"{100 * v:5.1f}%"


def _table(title: str, label: str, entries: Mapping[str, Mapping[str, Any]]) -> list[str]:
    if not entries:
        return []
    width = max(len(label), *(len(k) for k in entries))
    lines = [title, f"  {label:<{width}}  {'n':>5}  {'acc':>6}  {'text':>6}  {'icon':>6}  {'no point':>8}"]
    for name, s in entries.items():
        lines.append(f"  {name:<{width}}  {s['num_total']:>5}  {_pct(s['action_acc'])}  {_pct(s['text_acc'])}  "
                     f"{_pct(s['icon_acc'])}  {s['wrong_format_num']:>8}")
    return lines


def render_tables(metrics: Mapping[str, Any]) -> str:
    """The metrics as plain-text tables: overall, per group, application, platform, and ScreenSpot's table."""
    o = metrics["overall"]
    lines = [f"overall: {_pct(o['action_acc']).strip()} of {o['num_total']} "
             f"({o['num_correct_action']} correct, {o['wrong_format_num']} without a point"
             + (f", {o['errors']} failed requests" if o.get("errors") else "") + ")"
             f" — text {_pct(o['text_acc']).strip()} ({o['text_total']}), icon {_pct(o['icon_acc']).strip()} ({o['icon_total']})"]
    strip = lambda d, p: {k.removeprefix(p): v for k, v in d.items()}  # noqa: E731
    for title, label, entries in (
        ("by group:", "group", strip(metrics.get("leaderboard_simple_style", {}), "group:")),
        ("by application:", "application", strip(metrics.get("leaderboard_detailed_style", {}), "app:")),
        ("by platform:", "platform", metrics.get("by_platform", {})),
    ):
        block = _table(title, label, entries)
        if block:
            lines += [""] + block
    table = metrics.get("screenspot_table", {}).get("rows", {})
    if table:
        names = list(table)
        head = "  ".join(f"{p[:10] + ' ' + t:>16}" for p in names for t in ("text", "icon"))
        cells = "  ".join(f"{_pct(table[p][t]):>16}" for p in names for t in ("text", "icon"))
        lines += ["", "ScreenSpot table (platform × type):", f"  {head}  {'average':>8}",
                  f"  {cells}  {_pct(metrics['screenspot_table']['average']):>8}"]
    return "\n".join(lines)
