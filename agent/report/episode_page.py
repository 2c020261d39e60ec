"""The page of one episode: the task and verdict, where the time went, then one block per step.

Each step block shows the frame the model saw with the executed actions drawn on it (screen pixels),
the thought (collapsible), model-space and screen-space actions side by side with their outcome,
rejections and parse errors, the step's timings and tokens, the raw reply and the request as sent.
A scripted step shows its instruction and grounding: what the grounder looked for and matched, the
matched box and the point on the frame, and the closest candidates when it found nothing. A partial or
damaged episode renders too: steps arrive as ``agent.step.StepRecord`` (``load_episode`` names every
damaged field, listed at the top and on its step), frames without a step line are shown as unrecorded
steps, and the untyped files (task.json, result.json, request messages) are read defensively.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agent.episode import Episode, load_episode
from agent.report.fields import as_dict, as_list, as_number, as_text, describe_action
from agent.report.frames import EmbeddedFrame, FrameEmbedder
from agent.report.interventions import held_cards, held_rows
from agent.report.overlay import marks_from_executed, overlay_svg
from agent.report.render import (badge, details, document, esc, fmt_int, fmt_ms, fmt_s, fmt_when, json_block,
                                 kv_table, pre, problems_box, rel_href, write_page)
from agent.report.timeline import color, phases, stacked_bar, step_total, timeline
from agent.report.video import JS as VIDEO_JS
from agent.report.video import step_times, video_section
from agent.step import GroundingRecord, StepRecord
from tools.actions import describe

REPORT_NAME = "report.html"


def write_episode_report(folder: str | Path, out: str | Path | None = None, *,
                         run_page: str | Path | None = None) -> Path:
    """Render the episode in ``folder`` to ``out`` (default ``folder/report.html``); returns the path.

    ``run_page`` is the run's report, linked from the top of the page when given.
    Raises FileNotFoundError when ``folder`` is not a folder.
    """
    ep = load_episode(folder)
    page = Path(out) if out is not None else Path(folder) / REPORT_NAME
    back = rel_href(Path(run_page), page) if run_page is not None else None
    return write_page(page, render_episode(ep, page, back=back))


def render_episode(ep: Episode, page: Path, *, back: str | None = None,
                   embedder: FrameEmbedder | None = None) -> str:
    """The whole HTML page of ``ep``, to be written at ``page`` (links to files are relative to it)."""
    embedder = embedder or FrameEmbedder(page)
    task = ep.task or {}
    title = as_text(task.get("id")) or ep.folder.name
    notes: list[str] = []  # damage found while rendering, listed with the loader's problems
    times = step_times(ep)
    blocks = [held_cards(ep, step, embedder, notes) + _guarded_step(ep, step, n, embedder, notes, times.get(step.index))
              for n, step in enumerate(ep.steps, 1)]
    taken = {f"step-{s.index}" for s in ep.steps}
    blocks += [_orphan_block(ep, png, embedder, notes, taken) for png in _orphan_frames(ep)]
    problems = list(ep.problems) + notes
    if embedder.linked:
        problems.append(f"{embedder.linked} full-size frame(s) are linked from the episode folder rather than "
                        "embedded, to keep this page small; the page shows them downscaled")
    rows = [row for s in ep.steps for row in [*held_rows(s), (f"step-{s.index}", f"step {s.index}", s.timings)]]
    crumbs = f'<nav class="crumbs"><a href="{esc(back)}">← run results</a></nav>' if back else ""
    body = (f"<main>{crumbs}{_header(ep, title)}{problems_box(problems, 'Missing or damaged')}"
            f"{video_section(ep, page)}{timeline(rows, as_number(as_dict(ep.result).get('duration_s')))}"
            f'<div id="steps">{"".join(blocks) or _no_steps()}</div></main>')
    return document(f"{title} — screenact episode", body, script=VIDEO_JS)


# ---------------------------------------------------------------- header

def _verdict(result: dict[str, Any] | None) -> tuple[str, str, str]:
    """(label, badge kind, reason) of the checker's verdict."""
    if result is None:
        return "unfinished", "muted", "the run did not finish (no result.json)"
    verdict = as_dict(result.get("verdict"))
    if not verdict:
        return "not checked", "muted", "no checker verdict was recorded"
    passed = verdict.get("passed")
    label = "passed" if passed is True else "failed" if passed is False else "unknown"
    return label, {"passed": "good", "failed": "bad"}.get(label, "warn"), as_text(verdict.get("reason")) or ""


def _header(ep: Episode, title: str) -> str:
    task, result = ep.task or {}, ep.result
    res = as_dict(result)
    label, kind, why = _verdict(result)
    usage = as_dict(res.get("usage"))
    prompt = as_number(usage.get("prompt_tokens"))
    completion = as_number(usage.get("completion_tokens"))
    if not usage:  # no result: add up what the steps recorded
        prompt = sum(s.usage.prompt_tokens for s in ep.steps if s.usage)
        completion = sum(s.usage.completion_tokens for s in ep.steps if s.usage)
    executed = sum(len(s.executed) for s in ep.steps)
    rejected = sum(len(s.rejections) for s in ep.steps)
    status = as_text(res.get("status"))
    meta = [(k, esc(task.get(k))) for k in ("mode", "profile", "model", "base_url", "grounder") if task.get(k) is not None]
    if task.get("started_at") is not None:
        meta.append(("started", esc(fmt_when(task.get("started_at")))))
    meta.append(("folder", f"<code>{esc(ep.folder.name)}</code>"))
    stats = [
        (fmt_int(len(ep.steps)), "steps recorded"),
        (fmt_int(executed), "actions executed"),
        (fmt_int(rejected), "rejections"),
        (fmt_s(res.get("duration_s")), "duration"),
        (fmt_int(prompt), "prompt tokens"),
        (fmt_int(completion), "completion tokens"),
    ]
    stat_html = "".join(f'<div class="stat"><b>{esc(v)}</b><span>{esc(k)}</span></div>' for v, k in stats)
    end = ""
    if result is not None:
        end = (f'<div>ended: {badge(status or "?")}'
               + (f' <span class="sub">{esc(res.get("reason"))}</span>' if res.get("reason") else "")
               + (f' · final action <code>{esc(describe_action(res.get("final_action")))}</code>'
                  if res.get("final_action") else "") + "</div>")
    return (f'<header class="card" id="summary"><div class="head"><div style="flex:1;min-width:300px">'
            f'<div class="sub">screenact episode</div><h1>{esc(title)}</h1>'
            f'<p class="instruction">{esc(task.get("instruction")) or "<i>no instruction recorded</i>"}</p>'
            f'{kv_table(meta)}</div>'
            f'<div class="verdict" id="verdict" data-verdict="{esc(label)}">'
            f'<div>{badge(label.upper(), kind, big=True)}</div>'
            f'<div class="why">{esc(why)}</div></div></div>'
            f'<div class="stats">{stat_html}</div>{end}</header>')


def _no_steps() -> str:
    return '<section class="card"><p class="sub">No step was recorded.</p></section>'


# ---------------------------------------------------------------- one step

def _outcome(step: StepRecord) -> tuple[str, str]:
    if any(not e.ok for e in step.executed):
        return "error", "warn"
    if step.rejections:
        return "rejected", "warn"
    kinds = [e.action.type for e in step.executed]
    if "done" in kinds:
        return "done", "good"
    if "fail" in kinds:
        return "fail", "bad"
    if step.executed:
        return "ok", "good"
    if step.kind == "scripted" and any(g.point is None for g in step.grounding):
        return "not grounded", "bad"
    return "no action", "bad"


def _guarded_step(ep: Episode, step: StepRecord, n: int, embedder: FrameEmbedder, notes: list[str],
                  video_t: float | None = None) -> str:
    """A step's block; a shape of data nobody foresaw costs that block, never the page."""
    try:
        return _step_block(ep, step, n, embedder, notes, video_t)
    except Exception as exc:
        notes.append(f"step {step.index} could not be shown ({type(exc).__name__}: {exc})")
        return (f'<section class="card step-card" id="step-{step.index}" data-outcome="unreadable">'
                f'<div class="step-title"><h3>Step {step.index}</h3>{badge("unreadable", "bad")}</div>'
                f'<div class="alert">This step could not be shown ({esc(type(exc).__name__)}: {esc(exc)}). '
                f'As read:</div>{json_block(step.model_dump(mode="json"))}</section>')


def _step_block(ep: Episode, step: StepRecord, n: int, embedder: FrameEmbedder, notes: list[str],
                video_t: float | None) -> str:
    outcome, okind = _outcome(step)
    acts = " · ".join(describe(a) for a in step.executed_actions)
    seek = "" if video_t is None else f'<a href="#video" data-video-t="{video_t}">▶ {esc(fmt_s(video_t))}</a>'
    title = (f'<div class="step-title"><h3>Step {step.index}</h3>{badge(step.kind, "info")}{badge(outcome, okind)}'
             f'<span class="acts">{esc(acts)}</span>{seek}'
             f'<span class="total">{esc(fmt_ms(step_total(step.timings)))}</span></div>')
    figure = _figure(ep, step, embedder, notes)
    right = "".join([
        "".join(f'<div class="alert warn damage">Damaged: {esc(d)}</div>' for d in ep.damage.get(n - 1, [])),
        _scripted(step) if step.kind == "scripted" else "",
        _thought(step),
        _actions_table(step),
        _alerts(step),
        _approvals(step),
        _timings_and_tokens(step),
        _reply(step),
        _request(step),
    ])
    return (f'<section class="card step-card" id="step-{step.index}" data-kind="{esc(step.kind)}" '
            f'data-outcome="{esc(outcome)}">{title}<div class="step"><div>{figure}</div><div>{right}</div></div>'
            f"</section>")


def _figure(ep: Episode, step: StepRecord, embedder: FrameEmbedder, notes: list[str]) -> str:
    name = step.frame
    if not name:
        return '<div class="noframe">no frame was recorded for this step</div>'
    path = ep.frame_path(step)  # None for a name out of the folder and for a link: neither is read
    if path is None and os.path.lexists(ep.folder / name):
        notes.append(f"step {step.index}: frame {name} is outside the episode folder (or a link); not shown")
        return f'<div class="noframe">frame <code>{esc(name)}</code> is outside the episode folder</div>'
    if path is None:
        return f'<div class="noframe">frame <code>{esc(name)}</code> is missing</div>'
    try:
        frame = embedder.embed(path)
    except Exception as exc:  # a damaged PNG must not stop the page
        notes.append(f"step {step.index}: frame {name} cannot be read ({exc})")
        return f'<div class="noframe">frame <code>{esc(name)}</code> cannot be read ({esc(exc)})</div>'
    svg = overlay_svg(frame.width, frame.height, marks_from_executed(step.executed), step.grounding)
    cap = [f"<code>{esc(name)}</code> · {frame.width}×{frame.height}, what the "
           f"{'grounder' if step.kind == 'scripted' else 'model'} saw; marks: what was executed, in screen pixels"]
    if step.grounding:
        cap.append("purple: the box the grounder matched and the point it chose (dashed: the closest candidates "
                   "when it found nothing)")
    if step.settle:
        cap.append(f"after acting the screen {'changed' if step.settle.changed else 'did not change'} and "
                   f"{'settled' if step.settle.stable else 'did NOT settle'} ({step.settle.frames} frames)")
    return _shot(frame, svg, name) + f'<div class="figcap">{"<br>".join(cap)}</div>'


def _shot(frame: EmbeddedFrame, svg: str, name: str) -> str:
    full = f' data-full="{esc(frame.full)}"' if frame.full else ""
    width = min(frame.width, 1024)
    return (f'<div class="shot" style="width:{width}px" data-w="{frame.width}" data-h="{frame.height}"{full}>'
            f'<img src="{esc(frame.src)}" width="{frame.width}" height="{frame.height}" alt="{esc(name)}">{svg}</div>')


def _scripted(step: StepRecord) -> str:
    out = [f'<div class="note"><b>Instruction:</b> {esc(step.instruction) or "<i>none recorded</i>"}</div>']
    if step.error:
        out.append(f'<div class="alert rejection"><b>Stopped:</b> {esc(step.error)}</div>')
    for g in step.grounding:
        out.append(f'<div class="grounding-box" data-found="{str(g.point is not None).lower()}">'
                   f'<div class="section-label">Grounding</div>{kv_table(_grounding_rows(g))}'
                   f'{_candidates(g) if g.point is None else ""}</div>')
        if g.reply is not None:
            out.append(details("Grounder reply", pre(g.reply)))
    return "".join(out)


def _grounding_rows(g: GroundingRecord) -> list[tuple[str, str]]:
    found = g.point is not None
    rows = [("looked for", esc(g.description)),
            ("matched", f"<b>{esc(g.matched)}</b>" if g.matched else ("—" if found else "")),
            ("point clicked", f"<code>({g.point[0]:g}, {g.point[1]:g})</code>" if g.point
             else '<span class="badge bad">not found</span>')]
    if g.box:
        rows.append(("box", "<code>" + esc(", ".join(f"{v:g}" for v in g.box)) + "</code>"))
    if g.score is not None:
        rows.append(("score", esc(f"{g.score:.2f}")))
    if g.reason:
        rows.append(("why", esc(g.reason)))
    rows += [("grounder", esc(g.grounder)), ("latency", esc(fmt_s(g.latency_s)))]
    return [(k, v) for k, v in rows if v]


def _candidates(g: GroundingRecord) -> str:
    if not g.candidates:
        return '<div class="sub">The grounder read nothing close to it.</div>'
    rows = "".join(f"<tr><td>{n}</td><td>{esc(c.text)}</td><td>{esc('' if c.score is None else f'{c.score:.2f}')}"
                   f"</td><td><code>{esc(', '.join(f'{v:g}' for v in c.box) if c.box else '')}</code></td></tr>"
                   for n, c in enumerate(g.candidates, 1))
    return ('<div class="section-label">Closest candidates</div><table class="candidates"><tr><th></th><th>text'
            f'</th><th>score</th><th>box</th></tr>{rows}</table>')


def _thought(step: StepRecord) -> str:
    if not step.thought:
        return "" if step.kind == "scripted" else '<div class="sub">no thought recorded</div>'
    preview = step.thought.strip().replace("\n", " ")
    preview = preview[:110] + ("…" if len(preview) > 110 else "")
    return details(f'Thought <span class="preview">— {esc(preview)}</span>',
                   f'<div class="thought">{esc(step.thought)}</div>', cls="thought-box")


def _actions_table(step: StepRecord) -> str:
    parsed, executed = step.parsed, step.executed
    rows = []
    for i in range(max(len(parsed), len(executed))):
        model = f"<code>{esc(describe(parsed[i]))}</code>" if i < len(parsed) else "—"
        if i < len(executed):
            e = executed[i]
            screen = f"<code>{esc(describe(e.action))}</code>"
            # a failed action's message is in the alerts below
            result = f'<span title="{esc(e.error)}">{badge("error", "bad")}</span>' if not e.ok else badge("ok", "good")
            number = f'<span class="num{"" if e.ok else " failed"}">{i + 1}</span>'
        else:
            screen, number = "—", ""
            result = badge("rejected", "warn") if i == len(executed) and step.rejections else badge("not run", "muted")
        first = "" if step.kind == "scripted" else f"<td>{model}</td>"  # scripted steps have no model space
        rows.append(f"<tr><td>{number}</td>{first}<td>{screen}</td><td>{result}</td></tr>")
    if not rows:
        return '<div class="section-label">Actions</div><div class="sub">none</div>'
    head = "" if step.kind == "scripted" else "<th>model space</th>"
    return ('<div class="section-label">Actions</div><table class="acts-table"><tr><th></th>'
            f'{head}<th>screen px</th><th></th></tr>{"".join(rows)}</table>')


def _alerts(step: StepRecord) -> str:
    out = []
    told = {r.message for r in step.rejections}
    for e in step.executed:
        if not e.ok and e.error not in told:
            out.append(f'<div class="alert rejection"><b>Failed</b> <code>{esc(describe(e.action))}'
                       f'</code>: {esc(e.error or "no message")}</div>')
    for r in step.rejections:
        out.append(f'<div class="alert rejection"><b>Rejected</b> <code>{esc(r.what)}</code>: {esc(r.message)}</div>')
    for err in step.errors:
        out.append(f'<div class="alert warn parse-error"><b>Parse problem:</b> {esc(err)}</div>')
    if step.feedback:
        out.append(f'<div class="note feedback"><b>Told the model:</b> {esc(step.feedback)}</div>')
    return "".join(out)


def _approvals(step: StepRecord) -> str:
    """Each decision on an action an approval rule marked: the action, the rule, the answer, who, when."""
    if not step.approvals:
        return ""
    rows = "".join(
        f'<tr data-approved="{str(a.approved).lower()}"><td><code>{esc(describe(a.action))}</code></td>'
        f'<td>{esc(a.rule)}</td><td>{badge("approved", "good") if a.approved else badge("rejected", "bad")}</td>'
        f'<td>{esc(a.by)}</td><td>{esc(fmt_when(a.at)) if a.at is not None else "—"}</td></tr>'
        for a in step.approvals)
    return ('<div class="section-label">Approval</div><table class="acts-table approvals"><tr><th>action</th>'
            f'<th>rule matched</th><th>decision</th><th>by</th><th>when</th></tr>{rows}</table>')


def _timings_and_tokens(step: StepRecord) -> str:
    total = step_total(step.timings)
    t_rows = [(name, f'<i class="swatch" style="background:{color(name)}"></i>{esc(fmt_ms(ms))}')
              for name, ms in phases(step.timings)]
    tok_rows = []
    if step.usage:
        tok_rows += [("prompt", esc(fmt_int(step.usage.prompt_tokens))),
                     ("completion", esc(fmt_int(step.usage.completion_tokens)))]
    request = step.request
    if request and request.image_tokens is not None:
        tok_rows.append(("images", esc(fmt_int(request.image_tokens))))
    if request and request.prompt_tokens is not None:
        tok_rows.append(("counted before sending",
                         esc(fmt_int(request.prompt_tokens)) + ("" if request.exact_count else " (estimate)")))
    if request and request.history:
        tok_rows.append(("history", esc(", ".join(f"{k} {v}" for k, v in request.history.model_dump().items()))))
    cols = (f'<div class="tt"><div>{kv_table(t_rows) if t_rows else "—"}</div>'
            f'<div>{kv_table(tok_rows) if tok_rows else ""}</div></div>')
    return (f'<div class="section-label">Time {esc(fmt_ms(total))} · tokens</div>'
            f'{stacked_bar(step.timings, total) if total else ""}{cols}')


def _reply(step: StepRecord) -> str:
    if step.reply is None:
        return ""
    return details(f"Raw reply <span class=\"preview\">({len(step.reply)} characters)</span>", pre(step.reply, "reply"),
                   cls="reply")


def _request(step: StepRecord) -> str:
    if step.request is None:
        return ""
    parts = [f'<div class="section-label">{esc(as_dict(m).get("role") or "?")}</div>{_message(m)}'
             for m in step.request.messages]
    parts.append(f'<div class="section-label">sampling</div>{json_block(step.request.sampling)}')
    n = len(step.request.messages)
    return details(f'Request <span class="preview">({n} messages)</span>', "".join(parts), cls="request")


def _message(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return pre(content)
    bits = []
    for part in as_list(content):
        p = as_dict(part)
        if p.get("type") == "image_url":
            bits.append(f'<div class="sub">[image: <code>{esc(as_dict(p.get("image_url")).get("url"))}</code>]</div>')
        elif p.get("type") == "text":
            bits.append(pre(p.get("text")))
        else:
            bits.append(json_block(part))
    return "".join(bits)


# ---------------------------------------------------------------- frames without a step line

def _orphan_frames(ep: Episode) -> list[Path]:
    named = {s.frame for s in ep.steps if s.frame}
    return [p for p in sorted(ep.folder.glob("step-*.png")) if p.name not in named]


def _orphan_block(ep: Episode, png: Path, embedder: FrameEmbedder, notes: list[str], taken: set[str]) -> str:
    number = png.stem.removeprefix("step-").lstrip("0") or "0"
    anchor = f"step-{number}" if f"step-{number}" not in taken else f"unrecorded-{number}"
    try:
        frame = embedder.embed(png)
        figure = _shot(frame, "", png.name)
    except Exception as exc:
        notes.append(f"frame {png.name} cannot be read ({exc})")
        figure = f'<div class="noframe">frame <code>{esc(png.name)}</code> cannot be read ({esc(exc)})</div>'
    return (f'<section class="card step-card unrecorded" id="{esc(anchor)}" data-outcome="unrecorded">'
            f'<div class="step-title"><h3>Step {esc(number)}</h3>{badge("not recorded", "warn")}</div>'
            f'<div class="step"><div>{figure}<div class="figcap"><code>{esc(png.name)}</code></div></div>'
            f'<div><div class="alert warn">The frame was saved but the step line was not: the run stopped '
            f'while this step was in progress. What the model replied and did here is unknown.</div></div></div>'
            f'</section>')
