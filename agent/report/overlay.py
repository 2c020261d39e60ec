"""Actions drawn over a frame: one inline SVG whose viewBox is the screen in pixels.

Coordinates come straight from the recorded executed actions (screen pixels after the transform
and policy), so a click's circle has ``cx``/``cy`` equal to the click's ``x``/``y`` and sits exactly
where the pointer went, whatever size the frame is displayed at. Pointer actions are drawn where
they happened (click: ring, cross-hair and a numbered badge; drag: a path with an arrow head; move:
a dashed ring; scroll: a ring with the scroll direction); actions without a place (typed text, key
combinations, waits, done/fail, scrolls at the pointer) are listed in a caption band along the
bottom, numbered in the same order. A scripted step's grounded point is a purple diamond over the box
the grounder matched; when it found nothing, its closest candidates are dashed boxes.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.report.fields import as_number, as_text, describe_action
from agent.report.render import esc

if TYPE_CHECKING:
    from agent.step import Executed, GroundingRecord

MARK = "#ff2d95"  # executed actions
FAILED = "#e0302a"  # executed but the sandbox reported an error
GROUND = "#8e5bd8"  # a scripted step's grounded point


@dataclass(frozen=True)
class Mark:
    """One thing to draw: the ``number``-th action of the step (screen px) and whether it worked."""

    number: int
    action: dict[str, Any]
    ok: bool = True


def marks_from_executed(executed: "list[Executed]") -> list[Mark]:
    """A step's executed actions as marks numbered from 1."""
    return [Mark(n, item.action.model_dump(mode="json"), item.ok) for n, item in enumerate(executed, 1)]


def overlay_svg(width: int, height: int, marks: list[Mark], groundings: "Sequence[GroundingRecord]" = ()) -> str:
    """The SVG to lay over a ``width``×``height`` frame (empty string when there is nothing to draw)."""
    u = max(width, height) / 100.0  # one drawing unit, so marks look alike on any screen size
    parts: list[str] = [_grounding(g, u) for g in groundings]
    captions: list[tuple[int, str, bool]] = []
    for mark in marks:
        drawn = _pointer(mark, u, width, height)
        if drawn:
            parts.append(drawn)
        else:
            captions.append((mark.number, caption_text(mark.action), mark.ok))
    if captions:
        parts.append(_caption_band(captions, u, width, height))
    if not parts:
        return ""
    return (f'<svg viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
            f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="actions of this step">'
            + "".join(parts) + "</svg>")


def caption_text(action: dict[str, Any]) -> str:
    """How an action without a place reads in the caption band (e.g. ``key ctrl + s``)."""
    kind = action.get("type")
    if kind == "type":
        text = as_text(action.get("text")) or ""
        shown = text.replace("\r", "\\r").replace("\n", "⏎").replace("\t", "⇥")
        return f"type “{shown}”"
    if kind == "key":
        keys = [str(k) for k in action.get("keys") or []] if isinstance(action.get("keys"), list) else []
        return "key " + " + ".join(keys) if keys else "key (none)"
    if kind in ("key_down", "key_up"):
        return f"{kind.replace('_', ' ')} {action.get('key')}"
    if kind in ("mouse_down", "mouse_up"):
        return f"{kind.replace('_', ' ')} ({action.get('button', 'left')})"
    if kind == "wait":
        return f"wait {_g(action.get('seconds'))} s"
    if kind == "done":
        answer = as_text(action.get("answer"))
        return "✓ done" + (f": {answer}" if answer else "")
    if kind == "fail":
        reason = as_text(action.get("reason"))
        return "✗ fail" + (f": {reason}" if reason else "")
    if kind == "scroll":
        return f"scroll dx={action.get('dx', 0)} dy={action.get('dy', 0)} (at the pointer)"
    return describe_action(action)


def _g(value: Any) -> str:
    v = as_number(value)
    return "?" if v is None else f"{v:g}"


def _pointer(mark: Mark, u: float, width: int, height: int) -> str:
    a, color = mark.action, MARK if mark.ok else FAILED
    kind = a.get("type")
    cls = f'class="mark {esc(kind)}{"" if mark.ok else " failed"}" data-n="{mark.number}"'
    if kind in ("click", "move"):
        x, y = as_number(a.get("x")), as_number(a.get("y"))
        if x is None or y is None:
            return ""
        r = 2.4 * u
        if kind == "move":
            body = (f'<circle cx="{x:g}" cy="{y:g}" r="{r:g}" fill="none" stroke="{color}" '
                    f'stroke-dasharray="4 3" vector-effect="non-scaling-stroke" stroke-width="2.5"/>'
                    f'<circle cx="{x:g}" cy="{y:g}" r="{0.35 * u:g}" fill="{color}"/>')
            label = "move"
        else:
            gap, arm = 0.9 * u, 4.2 * u
            lines = "".join(
                f'<line x1="{x + dx * gap:g}" y1="{y + dy * gap:g}" x2="{x + dx * arm:g}" y2="{y + dy * arm:g}"/>'
                for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)))
            body = (f'<circle cx="{x:g}" cy="{y:g}" r="{r:g}" fill="{color}" fill-opacity="0.16" '
                    f'stroke="{color}" stroke-width="2.5" vector-effect="non-scaling-stroke"/>'
                    f'<g stroke="{color}" stroke-width="2" vector-effect="non-scaling-stroke">{lines}</g>'
                    f'<circle cx="{x:g}" cy="{y:g}" r="{0.45 * u:g}" fill="{color}" stroke="#fff" '
                    f'stroke-width="1" vector-effect="non-scaling-stroke"/>')
            button, clicks = a.get("button", "left"), a.get("clicks", 1)
            label = " ".join(w for w in (
                "" if button == "left" else str(button),
                "" if clicks == 1 else {2: "double", 3: "triple"}.get(clicks, f"×{clicks}")
                if isinstance(clicks, int) else f"×{clicks}",
                "click" if button != "left" or clicks != 1 else "") if w)
        return (f'<g {cls} data-x="{x:g}" data-y="{y:g}">{body}'
                f'{_badge(mark, x, y, u, width, height, color, label)}</g>')
    if kind == "drag":
        pts = [as_number(a.get(k)) for k in ("x1", "y1", "x2", "y2")]
        if any(p is None for p in pts):
            return ""
        x1, y1, x2, y2 = pts  # type: ignore[misc]
        return (f'<g {cls}>'
                f'<line x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" stroke="{color}" stroke-width="3" '
                f'stroke-linecap="round" vector-effect="non-scaling-stroke"/>'
                f'<circle cx="{x1:g}" cy="{y1:g}" r="{1.1 * u:g}" fill="#fff" stroke="{color}" stroke-width="2.5" '
                f'vector-effect="non-scaling-stroke"/>'
                f'{_arrow_head(x1, y1, x2, y2, u, color)}'
                f'{_badge(mark, x1, y1, u, width, height, color, "drag")}</g>')
    if kind == "scroll":
        x, y = as_number(a.get("x")), as_number(a.get("y"))
        if x is None or y is None:
            return ""
        dx, dy = as_number(a.get("dx")) or 0.0, as_number(a.get("dy")) or 0.0
        arrow = ""
        if dx or dy:
            n = math.hypot(dx, dy)
            ex, ey = x + 5 * u * dx / n, y - 5 * u * dy / n  # dy > 0 scrolls up: the arrow points up
            arrow = (f'<line x1="{x:g}" y1="{y:g}" x2="{ex:g}" y2="{ey:g}" stroke="{color}" stroke-width="3" '
                     f'vector-effect="non-scaling-stroke"/>{_arrow_head(x, y, ex, ey, u, color)}')
        return (f'<g {cls} data-x="{x:g}" data-y="{y:g}">'
                f'<circle cx="{x:g}" cy="{y:g}" r="{1.6 * u:g}" fill="{color}" fill-opacity="0.16" stroke="{color}" '
                f'stroke-width="2.5" vector-effect="non-scaling-stroke"/>{arrow}'
                f'{_badge(mark, x, y, u, width, height, color, f"scroll {_g(dx)},{_g(dy)}")}</g>')
    return ""


def _arrow_head(x1: float, y1: float, x2: float, y2: float, u: float, color: str) -> str:
    ang = math.atan2(y2 - y1, x2 - x1)
    size, spread = 2.2 * u, 0.45
    p1 = (x2 - size * math.cos(ang - spread), y2 - size * math.sin(ang - spread))
    p2 = (x2 - size * math.cos(ang + spread), y2 - size * math.sin(ang + spread))
    return (f'<polygon points="{x2:g},{y2:g} {p1[0]:.1f},{p1[1]:.1f} {p2[0]:.1f},{p2[1]:.1f}" '
            f'fill="{color}" stroke="#fff" stroke-width="1" vector-effect="non-scaling-stroke"/>')


def _badge(mark: Mark, x: float, y: float, u: float, width: int, height: int, color: str, label: str) -> str:
    """The step-order number in a filled circle up and right of (x, y), kept inside the frame."""
    r = 1.35 * u
    bx = min(max(x + 3.0 * u, r), width - r)
    by = min(max(y - 3.0 * u, r), height - r)
    if x + 3.0 * u + r > width:  # no room on the right: put it on the left
        bx = max(x - 3.0 * u, r)
    text = (f'<circle cx="{bx:.1f}" cy="{by:.1f}" r="{r:g}" fill="{color}" stroke="#fff" stroke-width="1.5" '
            f'vector-effect="non-scaling-stroke"/>'
            f'<text x="{bx:.1f}" y="{by:.1f}" fill="#fff" font-size="{1.7 * u:g}" font-weight="700" '
            f'text-anchor="middle" dominant-baseline="central" font-family="sans-serif">{mark.number}</text>')
    if label:
        right = bx >= x
        lx = bx + (1.8 * u if right else -1.8 * u)
        text += (f'<text x="{lx:.1f}" y="{by:.1f}" fill="#fff" stroke="rgba(0,0,0,.78)" stroke-width="{0.55 * u:g}" '
                 f'paint-order="stroke" stroke-linejoin="round" font-size="{1.8 * u:g}" font-weight="600" '
                 f'text-anchor="{"start" if right else "end"}" dominant-baseline="central" '
                 f'font-family="sans-serif">{esc(label)}</text>')
    return text


def _grounding(g: "GroundingRecord", u: float) -> str:
    """A grounding: the matched box and a diamond on the point; when nothing was found, the closest
    candidates' boxes, dashed and numbered."""
    if g.point is None:
        return "".join(_box(c.box, "candidate", f"{n}", dashed=True) for n, c in enumerate(g.candidates, 1) if c.box)
    x, y = g.point
    s = 3.6 * u  # larger than a click ring, so a click on the grounded point leaves it visible
    title = f"<title>grounded: {esc(g.description)}</title>"
    box = _box(g.box, "matched", "") if g.box else ""
    return (f'{box}<g class="mark grounding" data-x="{x:g}" data-y="{y:g}">{title}'
            f'<polygon points="{x:g},{y - s:g} {x + s:g},{y:g} {x:g},{y + s:g} {x - s:g},{y:g}" fill="none" '
            f'stroke="{GROUND}" stroke-width="2.5" vector-effect="non-scaling-stroke"/>'
            f'<circle cx="{x:g}" cy="{y:g}" r="{0.3 * u:g}" fill="{GROUND}"/></g>')


def _box(box: tuple[float, float, float, float], cls: str, label: str, dashed: bool = False) -> str:
    x1, y1, x2, y2 = box
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    tag = (f'<text x="{x1:g}" y="{y1 - 3:g}" fill="{GROUND}" font-size="14" font-weight="700" '
           f'font-family="sans-serif">{esc(label)}</text>') if label else ""
    return (f'<g class="box {cls}" data-box="{x1:g},{y1:g},{x2:g},{y2:g}">'
            f'<rect x="{x1:g}" y="{y1:g}" width="{max(0.0, x2 - x1):g}" height="{max(0.0, y2 - y1):g}" '
            f'fill="{GROUND}" fill-opacity="0.12" stroke="{GROUND}" stroke-width="2" '
            f'vector-effect="non-scaling-stroke"{dash}/>{tag}</g>')


def _caption_band(captions: list[tuple[int, str, bool]], u: float, width: int, height: int) -> str:
    fs, pad = 2.1 * u, 0.8 * u
    line = fs * 1.45
    band_h = line * len(captions) + 2 * pad
    top = max(0.0, height - band_h)
    out = [f'<g class="captions"><rect x="0" y="{top:.1f}" width="{width}" height="{band_h:.1f}" '
           f'fill="rgba(12,14,20,.74)"/>']
    chars = max(8, int((width - 6 * u) / (fs * 0.6)))
    for i, (number, text, ok) in enumerate(captions):
        cy = top + pad + line * (i + 0.5)
        color = MARK if ok else FAILED
        out.append(
            f'<g class="caption" data-n="{number}">'
            f'<circle cx="{pad + 1.2 * u:.1f}" cy="{cy:.1f}" r="{1.2 * u:g}" fill="{color}"/>'
            f'<text x="{pad + 1.2 * u:.1f}" y="{cy:.1f}" fill="#fff" font-size="{1.5 * u:g}" font-weight="700" '
            f'text-anchor="middle" dominant-baseline="central" font-family="sans-serif">{number}</text>'
            f'<text x="{pad + 3.2 * u:.1f}" y="{cy:.1f}" fill="#fff" font-size="{fs:g}" dominant-baseline="central" '
            f'font-family="DejaVu Sans Mono, monospace">{esc(fit(text, chars))}</text></g>')
    out.append("</g>")
    return "".join(out)


def fit(text: str, columns: int) -> str:
    """``text`` cut to ``columns`` terminal columns (wide CJK characters count two), with an ellipsis."""
    widths = [2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text]
    if sum(widths) <= columns:
        return text
    used, out = 0, []
    for ch, w in zip(text, widths):
        if used + w > columns - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"
