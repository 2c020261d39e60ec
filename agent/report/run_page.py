"""The page of a run folder: pass rate, time and token totals, and a sortable table of the tasks.

A run folder (``screenact run``) holds ``results.json`` and one episode folder per task. Each task's
episode page is rendered too and linked from its row. A run that died before writing
``results.json`` still gets a page: its rows are rebuilt from the episode folders and the page says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.episode import RESULT_FILE, STEPS_FILE, TASK_FILE
from agent.report.episode_page import REPORT_NAME, write_episode_report
from agent.report.fields import as_dict, as_dicts, as_number, as_text
from agent.report.render import (badge, document, esc, fmt_int, fmt_s, fmt_when, kv_table, pct, problems_box,
                                 rel_href, write_page)

RESULTS_FILE = "results.json"
STATUSES = ["passed", "failed", "error", "cancelled", "not_started", "skipped", "unfinished", "unchecked"]
STATUS_COLORS = {"passed": "#1f8a4c", "failed": "#c8372d", "error": "#e08a2f", "cancelled": "#9aa3ad",
                 "not_started": "#dde1e6", "skipped": "#c8ccd2", "unfinished": "#b39ddb", "unchecked": "#7fa7d9"}
NOT_RUN = ("cancelled", "not_started", "skipped")
"""Statuses of tasks that did not run to an end: never counted as failed."""


@dataclass
class TaskRow:
    """One task of a run as the table shows it."""

    order: int
    id: str
    status: str
    steps: float | None = None  # actions taken
    time_s: float | None = None
    reason: str | None = None
    episode: Path | None = None  # the episode folder, when it is on disk
    prompt_tokens: float | None = None
    completion_tokens: float | None = None
    unusable: float | None = None  # steps whose reply could not be used, apart from ``steps``
    page: Path | None = None  # the rendered episode page
    node: str | None = None  # the Ray node it ran on (runs with --ray)
    retries: list[str] = field(default_factory=list)  # why earlier attempts on the cluster were lost


@dataclass
class Run:
    """A run folder read back: run facts, task rows, the recorded summary, and what is wrong with it."""

    folder: Path
    info: dict[str, Any]
    rows: list[TaskRow]
    summary: dict[str, Any]
    problems: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """How many tasks ended in each status."""
        out: dict[str, int] = {}
        for row in self.rows:
            out[row.status] = out.get(row.status, 0) + 1
        return out


def is_episode_folder(folder: Path) -> bool:
    """True when ``folder`` holds any file an episode writes."""
    return any((folder / n).exists() for n in (TASK_FILE, STEPS_FILE, RESULT_FILE)) or \
        any(folder.glob("step-*.png"))


def load_run(folder: str | Path) -> Run:
    """Read a run folder, tolerating a missing or damaged ``results.json``."""
    folder = Path(folder)
    problems: list[str] = []
    data: dict[str, Any] | None = None
    path = folder / RESULTS_FILE
    if path.exists():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            data = loaded if isinstance(loaded, dict) else None
            if data is None:
                problems.append(f"{RESULTS_FILE} does not hold a JSON object")
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append(f"{RESULTS_FILE} is damaged ({exc})")
    else:
        problems.append(f"no {RESULTS_FILE}: the run did not finish; the table is rebuilt from the episode folders")
    if data is not None:
        rows = [_row_from_result(n, t, folder, problems) for n, t in enumerate(as_dicts(data.get("tasks")), 1)]
        info, summary = as_dict(data.get("run")), as_dict(data.get("summary"))
    else:
        rows = [_row_from_episode(n, sub) for n, sub in enumerate(
            (p for p in sorted(folder.iterdir()) if p.is_dir() and is_episode_folder(p)), 1)]
        info, summary = {}, {}
    run = Run(folder, info, rows, summary, problems)
    _check_summary(run)
    return run


def _row_from_result(n: int, task: dict[str, Any], folder: Path, problems: list[str]) -> TaskRow:
    tokens = as_dict(task.get("tokens"))
    row = TaskRow(n, as_text(task.get("id")) or f"(task {n})", as_text(task.get("status")) or "unknown",
                  as_number(task.get("steps")), as_number(task.get("time_s")), as_text(task.get("reason")),
                  None, as_number(tokens.get("prompt")), as_number(tokens.get("completion")),
                  as_number(task.get("unusable")))
    row.node = as_text(task.get("node"))
    lost = task.get("retries")
    row.retries = [r for r in lost if isinstance(r, str)] if isinstance(lost, list) else []
    name = as_text(task.get("episode"))
    if name:
        path = (folder / name).resolve()
        if not path.is_relative_to(folder.resolve()) or path == folder.resolve():
            problems.append(f"task {row.id}: episode {name!r} is not a folder inside the run folder; not shown")
        elif not path.is_dir():
            problems.append(f"task {row.id}: episode folder {name} is missing")
        else:
            row.episode = folder / name
    elif row.status != "skipped":
        problems.append(f"task {row.id}: no episode folder recorded")
    return row


def _row_from_episode(n: int, sub: Path) -> TaskRow:
    from agent.episode import load_episode

    from agent.runner import step_counts

    ep = load_episode(sub)
    result = ep.result
    verdict = as_dict(as_dict(result).get("verdict"))
    if result is None:
        status = "unfinished"
    elif verdict:
        status = "passed" if verdict.get("passed") is True else "failed"
    else:
        status = {"error": "error", "cancelled": "cancelled"}.get(as_text(result.get("status")) or "", "unchecked")
    usage = as_dict(as_dict(result).get("usage"))
    reason = as_text(verdict.get("reason")) or as_text(as_dict(result).get("reason"))
    taken, unusable = step_counts(sub)
    return TaskRow(n, as_text(as_dict(ep.task).get("id")) or sub.name, status, float(taken),
                   as_number(as_dict(result).get("duration_s")), reason, sub,
                   as_number(usage.get("prompt_tokens")), as_number(usage.get("completion_tokens")), float(unusable))


def _check_summary(run: Run) -> None:
    """Compute the summary from the rows; note where a recorded summary disagrees."""
    counts = run.counts
    passed, total = counts.get("passed", 0), len(run.rows)
    ended = total - sum(counts.get(s, 0) for s in NOT_RUN)
    computed = {"passed": passed, "failed": ended - passed, "total": total,
                "pass_rate": passed / ended if ended else 0.0}
    recorded = run.summary
    for key in ("passed", "total"):
        if key in recorded and as_number(recorded.get(key)) != computed[key]:
            run.problems.append(f"results.json summary says {key} = {recorded.get(key)!r}, "
                                f"the task list gives {computed[key]}")
    merged = {**computed, **{k: v for k, v in recorded.items() if k not in ("passed", "total")}}
    if as_number(merged.get("pass_rate")) is None:  # the runner's own rate wins (it may leave out skipped tasks)
        merged["pass_rate"] = computed["pass_rate"]
    run.summary = merged


def write_run_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """Render every episode page of the run in ``folder`` and the run page; returns the run page's path.

    The run page goes to ``out`` (default ``folder/report.html``); each episode page to its own
    folder's ``report.html``, linking back to the run page. ``screenact run`` calls this at the end.
    """
    folder = Path(folder)
    page = Path(out) if out is not None else folder / REPORT_NAME
    run = load_run(folder)
    for row in run.rows:
        if row.episode is not None:
            try:
                row.page = write_episode_report(row.episode, run_page=page)
            except Exception as exc:  # one bad episode must not cost the run its page
                run.problems.append(f"task {row.id}: its episode page could not be written "
                                    f"({type(exc).__name__}: {exc})")
    return write_page(page, render_run(run, page))


def render_run(run: Run, page: Path) -> str:
    """The whole HTML page of ``run``, to be written at ``page``."""
    title = as_text(run.info.get("suite")) or run.folder.name
    body = (f"<main>{_header(run, title)}{problems_box(run.problems, 'Missing or damaged')}"
            f"{_table(run, page)}</main>")
    return document(f"{title} — screenact run", body, script=SORT_JS)


def _wall_time(info: dict[str, Any]) -> float | None:
    start, end = info.get("started_at"), info.get("finished_at")
    a, b = as_number(start), as_number(end)
    if a is not None and b is not None:
        return b - a
    try:
        return (datetime.fromisoformat(str(end).replace("Z", "+00:00"))
                - datetime.fromisoformat(str(start).replace("Z", "+00:00"))).total_seconds()
    except (ValueError, TypeError):
        return None


def _header(run: Run, title: str) -> str:
    s, counts, info = run.summary, run.counts, run.info
    total = len(run.rows)
    rate = as_number(s.get("pass_rate")) or 0.0
    prompt = sum(r.prompt_tokens or 0 for r in run.rows)
    completion = sum(r.completion_tokens or 0 for r in run.rows)
    task_time = sum(r.time_s or 0 for r in run.rows)
    meta = [(k, esc(info.get(k))) for k in ("model", "base_url", "profile", "mode", "grounder", "suite")
            if info.get(k) is not None]
    for k in ("started_at", "finished_at"):
        if info.get(k) is not None:
            meta.append((k.replace("_at", ""), esc(fmt_when(info.get(k)))))
    cluster = as_dict(info.get("cluster"))
    if cluster:
        meta.append(("cluster", f"<code>{esc(cluster.get('address'))}</code> ({esc(cluster.get('nodes'))} nodes)"))
    if info.get("interrupted"):
        meta.append(("interrupted", badge("interrupted", "warn")))
    meta.append(("folder", f"<code>{esc(run.folder.name)}</code>"))
    stats = [(f"{rate * 100:.0f}%", "pass rate", "pass-rate"),
             (f"{counts.get('passed', 0)} / {total - sum(counts.get(s, 0) for s in NOT_RUN)}", "passed", "passed"),
             (fmt_s(task_time), "time in tasks", "task-time"),
             (fmt_s(_wall_time(info)), "wall time", "wall-time"),
             (fmt_int(prompt), "prompt tokens", "prompt-tokens"),
             (fmt_int(completion), "completion tokens", "completion-tokens")]
    stat_html = "".join(f'<div class="stat" id="stat-{k}"><b>{esc(v)}</b><span>{esc(label)}</span></div>'
                        for v, label, k in stats)
    order = STATUSES + sorted(set(counts) - set(STATUSES))
    bar = "".join(f'<span style="width:{pct(counts[st], total)};background:{STATUS_COLORS.get(st, "#c8ccd2")}" '
                  f'title="{esc(st)}: {counts[st]}"></span>' for st in order if counts.get(st))
    legend = " ".join(f'{badge(st)} {counts[st]}' for st in order if counts.get(st))
    return (f'<header class="card" id="summary"><div class="head"><div style="flex:1;min-width:300px">'
            f'<div class="sub">screenact run</div><h1>{esc(title)}</h1>{kv_table(meta)}</div></div>'
            f'<div class="stats">{stat_html}</div><div class="passbar">{bar}</div>'
            f'<div style="margin-top:6px">{legend}</div></header>')


COLUMNS = [("order", "#"), ("task", "task"), ("status", "status"), ("steps", "steps"), ("time", "time"),
           ("prompt", "prompt tok."), ("completion", "compl. tok."), ("reason", "reason"), ("episode", "episode")]


def _table(run: Run, page: Path) -> str:
    if not run.rows:
        return '<section class="card"><p class="sub">No task in this run.</p></section>'
    rank = {s: i for i, s in enumerate(STATUSES)}
    cluster = any(r.node or r.retries for r in run.rows)  # a run on a Ray cluster: where each task ran
    columns = COLUMNS[:-1] + [("node", "node")] + COLUMNS[-1:] if cluster else COLUMNS
    rows = []
    for r in run.rows:
        link = f'<a href="{esc(rel_href(r.page, page))}">report</a>' if r.page else \
            '<span class="sub">—</span>'
        task = f'<a href="{esc(rel_href(r.page, page))}">{esc(r.id)}</a>' if r.page else esc(r.id)
        cells = [
            f'<td class="n" data-sort="{r.order}">{r.order}</td>',
            f'<td data-sort="{esc(r.id.lower())}">{task}</td>',
            f'<td data-sort="{rank.get(r.status, len(rank))}">{badge(r.status)}</td>',
            _num_cell(r.steps, fmt_int(r.steps) + (f" +{fmt_int(r.unusable)} unusable" if r.unusable else "")),
            _num_cell(r.time_s, fmt_s(r.time_s)),
            _num_cell(r.prompt_tokens, fmt_int(r.prompt_tokens)),
            _num_cell(r.completion_tokens, fmt_int(r.completion_tokens)),
            f'<td class="reason">{esc(r.reason)}</td>',
            f"<td>{link}</td>",
        ]
        if cluster:
            lost = f' <span class="sub">after {len(r.retries)} lost: {esc("; ".join(r.retries))}</span>' \
                if r.retries else ""
            cells.insert(-1, f'<td data-sort="{esc(r.node or "")}"><code>{esc(r.node or "")}</code>{lost}</td>')
        rows.append(f'<tr data-task="{esc(r.id)}" data-status="{esc(r.status)}">{"".join(cells)}</tr>')
    head = "".join(f'<th data-key="{k}" title="sort by {esc(label)}">{esc(label)}</th>' for k, label in columns)
    return (f'<section class="card" id="results"><h2>Tasks</h2>'
            f'<p class="sub">Click a column to sort; click again to reverse.</p>'
            f'<table class="results"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></section>')


def _num_cell(value: float | None, shown: str) -> str:
    return f'<td class="n" data-sort="{"" if value is None else f"{value:g}"}">{esc(shown)}</td>'


# Sorts the results table by a column; the sort is kept in the URL (#sort=time-desc) so it can be shared.
SORT_JS = r"""
(function(){
  var table=document.querySelector('table.results'); if(!table)return;
  var heads=[].slice.call(table.tHead.rows[0].cells), tbody=table.tBodies[0];
  function key(td){
    var s=td.getAttribute('data-sort'); if(s===null)s=td.textContent;
    return (s!==''&&isFinite(s))?[0,parseFloat(s)]:[s===''?2:1,s.toLowerCase()];
  }
  function sort(col,dir){
    var rows=[].slice.call(tbody.rows);
    rows.sort(function(a,b){
      var x=key(a.cells[col]), y=key(b.cells[col]);
      if(x[0]!==y[0])return x[0]-y[0];
      var c=x[1]<y[1]?-1:x[1]>y[1]?1:0; return dir==='desc'?-c:c;
    });
    rows.forEach(function(r){tbody.appendChild(r);});
    heads.forEach(function(h){h.removeAttribute('aria-sort');});
    heads[col].setAttribute('aria-sort',dir==='desc'?'descending':'ascending');
  }
  heads.forEach(function(th,i){
    th.addEventListener('click',function(){
      var dir=th.getAttribute('aria-sort')==='ascending'?'desc':'asc';
      sort(i,dir);
      try{history.replaceState(null,'','#sort='+th.dataset.key+'-'+dir);}catch(e){}
    });
  });
  var m=/^#sort=(\w+)-(asc|desc)$/.exec(location.hash);
  if(m)heads.forEach(function(th,i){if(th.dataset.key===m[1])sort(i,m[2]);});
  document.documentElement.setAttribute('data-sorted',m?m[1]+'-'+m[2]:'');
})();
"""
