"""Where the time went: stacked bars of a step's timings (model, settle, act, capture, encode, parse…).

Bars are plain CSS flex boxes; each segment's width is its share of a common scale (the slowest
step), so rows compare at a glance, and carries a tooltip with the exact milliseconds.
"""

from __future__ import annotations

from typing import Any, Iterable

from agent.report.fields import as_dict, as_number
from agent.report.render import OTHER_COLOR, PHASE_COLORS, esc, fmt_ms, fmt_s, pct

PHASE_ORDER = ["model", "ground", "settle", "act", "capture", "encode", "parse"]


def phases(timings: Any) -> list[tuple[str, float]]:
    """The (phase, ms) pairs of one step's timings in display order; unknown phases last, bad values dropped."""
    t = as_dict(timings)
    known = [(k, as_number(t.get(k))) for k in PHASE_ORDER if k in t]
    extra = [(str(k), as_number(v)) for k, v in t.items() if k not in PHASE_ORDER]
    return [(k, v) for k, v in known + extra if v is not None and v >= 0]


def step_total(timings: Any) -> float:
    """The sum of a step's recorded phases in ms."""
    return sum(v for _, v in phases(timings))


def color(phase: str) -> str:
    """The colour of a phase."""
    return PHASE_COLORS.get(phase, OTHER_COLOR)


def stacked_bar(timings: Any, scale_ms: float) -> str:
    """One step's phases as a stacked bar: its length is the step's total relative to ``scale_ms``."""
    segs = []
    total = step_total(timings)
    for name, ms in phases(timings):
        if ms <= 0:
            continue
        segs.append(f'<span class="seg-{esc(name)}" style="width:{pct(ms, total)};background:{color(name)}" '
                    f'title="{esc(name)}: {esc(fmt_ms(ms))}"></span>')
    return f'<div class="bar" style="width:{pct(total, scale_ms) if scale_ms else "0%"}">{"".join(segs)}</div>'


def totals(all_timings: Iterable[Any]) -> dict[str, float]:
    """Milliseconds per phase summed over steps, in display order."""
    out: dict[str, float] = {}
    for timings in all_timings:
        for name, ms in phases(timings):
            out[name] = out.get(name, 0.0) + ms
    order = {k: i for i, k in enumerate(PHASE_ORDER)}
    return dict(sorted(out.items(), key=lambda kv: order.get(kv[0], len(order))))


def legend(sums: dict[str, float]) -> str:
    """Colour key with each phase's total and share."""
    whole = sum(sums.values())
    items = "".join(
        f'<span class="phase-total" data-phase="{esc(k)}"><i style="background:{color(k)}"></i><b>{esc(k)}</b> '
        f'{esc(fmt_ms(v))} ({(100 * v / whole) if whole else 0:.0f}%)</span>'
        for k, v in sums.items())
    return f'<div class="legend">{items}</div>'


def timeline(rows: list[tuple[str, str, Any]], duration_s: float | None = None) -> str:
    """The episode's timeline section: a legend of totals, then one bar per row.

    ``rows`` are (anchor id, label, timings). ``duration_s`` (the episode's wall time) adds a line
    saying how much time fell outside the recorded phases.
    """
    if not rows:
        return ('<section class="card" id="timeline"><h2>Where the time went</h2>'
                '<p class="sub">No step was recorded.</p></section>')
    sums = totals(t for _, _, t in rows)
    in_steps = sum(sums.values())
    scale = max((step_total(t) for _, _, t in rows), default=0.0)
    lines = []
    for anchor, label, t in rows:
        lines.append(f'<a href="#{esc(anchor)}">{esc(label)}</a>{stacked_bar(t, scale)}'
                     f'<span class="t">{esc(fmt_ms(step_total(t)))}</span>')
    note = f"{esc(fmt_ms(in_steps))} in the steps' recorded phases"
    if duration_s is not None:
        rest = duration_s * 1000 - in_steps
        note += f" of {esc(fmt_s(duration_s))} wall time"
        if rest > 0:
            note += f"; {esc(fmt_ms(rest))} elsewhere (start-up, prompt fitting, recording)"
    return (f'<section class="card" id="timeline"><h2>Where the time went</h2>{legend(sums)}'
            f'<p class="sub">{note}. Bars are to scale; the longest step fills the row.</p>'
            f'<div class="timeline">{"".join(lines)}</div></section>')
