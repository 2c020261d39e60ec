"""Pauses and takeovers on an episode's page (``agent.step.InterventionRecord``, see ``agent.control``).

Each hold is a row of the timeline, before the step it preceded, as long as the driver waited, and a
card before that step's card: who held the run, when, for how long, and the screen before and after.
"""

from __future__ import annotations

from agent.episode import Episode
from agent.report.frames import FrameEmbedder
from agent.report.render import badge, esc, fmt_s, fmt_when
from agent.step import InterventionRecord, StepRecord
from tools.safe_files import is_plain_file

WORDS = {"pause": "paused", "takeover": "taken over"}


def anchor(step: StepRecord, n: int) -> str:
    """The id of the ``n``-th hold before ``step``."""
    return f"held-{step.index}-{n}"


def held_rows(step: StepRecord) -> list[tuple[str, str, dict[str, float]]]:
    """Timeline rows (anchor, label, timings) of the holds before ``step``; the phase is the kind."""
    return [(anchor(step, n), f"{WORDS[h.kind]} by {h.by}", {h.kind: h.seconds * 1000})
            for n, h in enumerate(step.interventions, 1)]


def held_cards(ep: Episode, step: StepRecord, embedder: FrameEmbedder, notes: list[str]) -> str:
    """One card per hold before ``step``, with its frames before and after."""
    return "".join(_card(ep, step, n, h, embedder, notes) for n, h in enumerate(step.interventions, 1))


def _card(ep: Episode, step: StepRecord, n: int, h: InterventionRecord, embedder: FrameEmbedder,
          notes: list[str]) -> str:
    what = ("a person had the desktop's input" if h.kind == "takeover"
            else "the agent waited; nobody had the desktop's input")
    shots = "".join(_frame(ep, name, label, embedder, notes)
                    for name, label in ((h.frame_before, "before"), (h.frame_after, "after")))
    return (f'<section class="card held" id="{esc(anchor(step, n))}" data-kind="{esc(h.kind)}">'
            f'<div class="step-title"><h3>Before step {step.index}</h3>{badge(WORDS[h.kind], "warn")}'
            f'<span class="acts">by {esc(h.by)} at {esc(fmt_when(h.at))} for {esc(fmt_s(h.seconds))}</span></div>'
            f'<p class="sub">{esc(what)}; then the model got a fresh screenshot'
            f'{" and was told a person had acted" if h.kind == "takeover" else ""}.</p>'
            f'<div class="held-frames" style="display:flex;gap:12px;flex-wrap:wrap">{shots}</div></section>')


def _frame(ep: Episode, name: str | None, label: str, embedder: FrameEmbedder, notes: list[str]) -> str:
    if not name:
        return f'<div class="noframe">no frame {esc(label)} was recorded</div>'
    if not is_plain_file(ep.folder, name):  # a name out of the folder or a link is never read
        notes.append(f"the {label} frame {name} of a pause is missing or not a plain file in the folder")
        return f'<div class="noframe">frame <code>{esc(name)}</code> is missing</div>'
    try:
        frame = embedder.embed(ep.folder / name)
    except Exception as exc:  # a damaged PNG must not stop the page
        notes.append(f"frame {name} cannot be read ({exc})")
        return f'<div class="noframe">frame <code>{esc(name)}</code> cannot be read</div>'
    return (f'<figure style="margin:0;max-width:48%"><img src="{esc(frame.src)}" alt="{esc(name)}" '
            f'style="max-width:100%"><figcaption class="figcap">{esc(label)}: <code>{esc(name)}</code>'
            f'</figcaption></figure>')
