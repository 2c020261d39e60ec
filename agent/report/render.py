"""Shared HTML helpers for the report pages: escaping, formatting, small components, the CSS and JS.

Everything recorded (task text, model replies, thoughts, error messages) is data: it reaches the page
only through ``esc``. The inline script never writes HTML from text; it sorts table rows, opens a
frame at full size by cloning nodes, and sets attributes.
"""

from __future__ import annotations

import html
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from agent.report.fields import as_number
from tools.safe_files import atomic_write

# Colours of the time phases (timeline bars, legends); anything else recorded gets OTHER_COLOR.
PHASE_COLORS: dict[str, str] = {
    "model": "#4f6bed",
    "ground": "#8e5bd8",
    "settle": "#f0a32f",
    "act": "#e0533d",
    "capture": "#2fa98c",
    "encode": "#66b8e0",
    "parse": "#9aa3ad",
    "pause": "#7a8794",     # a hold between steps (agent.control), not a phase of a step
    "takeover": "#b45309",
}
OTHER_COLOR = "#c8ccd2"

# Status words (episode and run) → badge style.
GOOD = {"passed", "done", "ok"}
BAD = {"failed", "fail", "error", "max_steps", "time_limit"}
MUTED = {"cancelled", "skipped", "unfinished", "unchecked", "missing"}


def esc(value: Any) -> str:
    """HTML-escape any value (quotes too, so the result is safe in attributes and text)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return html.escape(text.encode("utf-8", "replace").decode("utf-8"), quote=True)


def fmt_ms(ms: Any) -> str:
    """Milliseconds for people: ``0.53 ms``, ``42 ms``, ``1.41 s``; ``—`` when unknown."""
    v = as_number(ms)
    if v is None:
        return "—"
    if v >= 1000:
        return f"{v / 1000:.2f} s"
    return f"{v:.2f} ms" if v < 10 else f"{v:.0f} ms"


def fmt_s(seconds: Any) -> str:
    """Seconds for people: ``0.8 s``, ``12.3 s``, ``4 min 05 s``; ``—`` when unknown."""
    v = as_number(seconds)
    if v is None:
        return "—"
    if v >= 60:
        return f"{int(v // 60)} min {int(v % 60):02d} s"
    return f"{v:.2f} s" if v < 10 else f"{v:.1f} s"


def fmt_int(value: Any) -> str:
    """An integer with thin thousands separators; ``—`` when unknown."""
    v = as_number(value)
    return "—" if v is None else f"{int(round(v)):,}".replace(",", "\u2009")


def fmt_when(value: Any) -> str:
    """A time stamp (epoch seconds or an ISO string) as ``2026-11-26 11:18:02 UTC``."""
    v = as_number(value)
    if v is not None:
        try:
            return datetime.fromtimestamp(v, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        except (OverflowError, OSError, ValueError):
            return str(value)
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if dt.tzinfo is not None:
            return dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        return dt.strftime("%Y-%m-%d %H:%M:%S")
    return "—"


def pct(part: float, whole: float) -> str:
    """``part`` as a percentage of ``whole`` for CSS widths (``"12.345%"``)."""
    return f"{(100.0 * part / whole) if whole > 0 else 0.0:.3f}%"


def badge(text: Any, kind: str | None = None, *, big: bool = False) -> str:
    """A coloured status pill; ``kind`` is good, bad, muted, warn or info (guessed from ``text`` if None)."""
    word = str(text).lower()
    kind = kind or ("good" if word in GOOD else "bad" if word in BAD else "muted" if word in MUTED else "info")
    return f'<span class="badge {esc(kind)}{" big" if big else ""}">{esc(text)}</span>'


def pre(text: Any, cls: str = "") -> str:
    """Preformatted, escaped text."""
    return f'<pre class="{esc(cls)}">{esc(text)}</pre>'


def details(summary_html: str, body_html: str, *, open_: bool = False, cls: str = "") -> str:
    """A collapsible block; ``summary_html`` and ``body_html`` must already be safe HTML."""
    return (f'<details class="{esc(cls)}"{" open" if open_ else ""}><summary>{summary_html}</summary>'
            f"{body_html}</details>")


def kv_table(rows: Iterable[tuple[str, str]], cls: str = "kv") -> str:
    """A two-column table: label (escaped here) → value (safe HTML given by the caller)."""
    body = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="{esc(cls)}">{body}</table>'


def json_block(value: Any) -> str:
    """Any JSON value pretty-printed in a ``<pre>``."""
    try:
        text = json.dumps(value, ensure_ascii=False, indent=2, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return pre(text, "json")


def problems_box(problems: list[str], title: str) -> str:
    """A warning box listing what is missing or damaged; empty string when nothing is."""
    if not problems:
        return ""
    items = "".join(f"<li>{esc(p)}</li>" for p in problems)
    return f'<section class="problems" id="problems"><h2>{esc(title)}</h2><ul>{items}</ul></section>'


def rel_href(target: Path, page: Path) -> str:
    """A relative URL from the page file ``page`` to ``target`` (POSIX separators, %-quoted)."""
    from urllib.parse import quote

    rel = os.path.relpath(Path(target).resolve(), Path(page).resolve().parent)
    return quote(rel.replace(os.sep, "/"))


def document(title: str, body: str, *, script: str = "") -> str:
    """A whole self-contained page: inline CSS and JS, no external reference of any kind."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="screenact report">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f"<body>{body}"
        '<div id="lightbox" hidden><div class="lb-bar">click or press Esc to close</div>'
        '<div class="lb-body"></div></div>'
        f"<script>{BASE_JS}{script}</script></body></html>\n"
    )


def write_page(path: Path, text: str) -> Path:
    """Write a page atomically (UTF-8, lone surrogates replaced) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, text)  # mkstemp in the folder + os.replace: a planted link is never followed


CSS = """
:root{--fg:#1d232b;--muted:#667080;--line:#dfe3e8;--bg:#f5f6f8;--card:#fff;--good:#1f8a4c;--bad:#c8372d;
--warn:#b7791f;--info:#3b5bdb;--mark:#ff2d95;
--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",
"DejaVu Sans","Noto Sans CJK SC",sans-serif}
main{max-width:1240px;margin:0 auto;padding:18px 20px 60px}
a{color:var(--info)}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:16px;margin:0 0 10px}
h3{font-size:15px;margin:0}
.sub{color:var(--muted)}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px;margin:14px 0}
.head{display:flex;gap:18px;align-items:flex-start;justify-content:space-between;flex-wrap:wrap}
.instruction{font-size:15px;white-space:pre-wrap;word-break:break-word;margin:6px 0 0}
.verdict{text-align:right;min-width:200px}
.verdict .big{font-size:20px;font-weight:700;padding:4px 14px}
.verdict .why{margin-top:6px;color:var(--muted);white-space:pre-wrap;word-break:break-word;max-width:420px}
.badge{display:inline-block;border-radius:999px;padding:1px 9px;font-size:12px;font-weight:600;
border:1px solid transparent;white-space:nowrap}
.badge.good{background:#e3f4ea;color:var(--good);border-color:#b5e0c6}
.badge.bad{background:#fbe7e5;color:var(--bad);border-color:#f1bcb6}
.badge.muted{background:#eef0f3;color:#58616d;border-color:#d6dae0}
.badge.warn{background:#fdf3e1;color:var(--warn);border-color:#f0d5a3}
.badge.info{background:#e8edfd;color:var(--info);border-color:#c3cff7}
.stats{display:flex;flex-wrap:wrap;gap:8px 22px;margin-top:10px}
.stat b{display:block;font-size:18px}
.stat span{color:var(--muted);font-size:12px}
table.kv{border-collapse:collapse;font-size:13px}
table.kv th{text-align:left;color:var(--muted);font-weight:500;padding:1px 12px 1px 0;vertical-align:top;
white-space:nowrap}
table.kv td{padding:1px 0;word-break:break-word}
.problems{background:#fff8e6;border:1px solid #f0d5a3;border-radius:8px;padding:10px 16px;margin:14px 0}
.problems h2{color:var(--warn);margin-bottom:4px}
.problems ul{margin:0;padding-left:20px}
pre{background:#f3f4f6;border:1px solid var(--line);border-radius:6px;padding:8px 10px;margin:6px 0;
font:12px/1.45 var(--mono);white-space:pre-wrap;word-break:break-word;max-height:420px;overflow:auto}
code{font:12px var(--mono);background:#f0f1f4;border-radius:4px;padding:0 4px;word-break:break-word}
details{margin:6px 0}
details>summary{cursor:pointer;color:#39424e;font-weight:600}
details>summary .preview{font-weight:400;color:var(--muted)}
.step{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:16px}
.step.wide{grid-template-columns:minmax(0,1fr)}
.step-title{display:flex;gap:10px;align-items:center;flex-wrap:wrap;margin-bottom:10px}
.step-title .acts{font:13px var(--mono);color:#39424e;word-break:break-word}
.step-title .total{margin-left:auto;color:var(--muted)}
.shot{position:relative;display:inline-block;max-width:100%;line-height:0;cursor:zoom-in;
border:1px solid var(--line);border-radius:4px;overflow:hidden;background:#222}
.shot img{width:100%;height:auto;display:block}
.shot svg{position:absolute;inset:0;width:100%;height:100%;pointer-events:none}
.noframe{border:1px dashed #c9ced6;border-radius:6px;padding:40px 16px;text-align:center;color:var(--muted);
background:#fafbfc}
.figcap{color:var(--muted);font-size:12px;margin-top:4px}
.acts-table{border-collapse:collapse;width:100%;font-size:12.5px;margin:4px 0}
.acts-table td,.acts-table th{border-bottom:1px solid var(--line);padding:3px 6px 3px 0;text-align:left;
vertical-align:top}
.acts-table th{color:var(--muted);font-weight:500}
.acts-table td code{white-space:pre-wrap}
.num{display:inline-block;min-width:18px;height:18px;line-height:18px;border-radius:9px;background:var(--mark);
color:#fff;font-size:11px;font-weight:700;text-align:center;padding:0 4px}
.num.failed{background:var(--bad)}
.alert{border-left:4px solid var(--bad);background:#fdf0ee;padding:6px 10px;margin:8px 0;border-radius:0 6px 6px 0;
white-space:pre-wrap;word-break:break-word}
.alert.warn{border-color:var(--warn);background:#fff8e6}
.note{border-left:4px solid var(--info);background:#eef2fd;padding:6px 10px;margin:8px 0;border-radius:0 6px 6px 0;
white-space:pre-wrap;word-break:break-word}
.thought{white-space:pre-wrap;word-break:break-word;margin:6px 0;padding:6px 10px;background:#f7f5fc;
border-left:3px solid #8e5bd8;border-radius:0 6px 6px 0}
.section-label{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);margin:10px 0 2px}
.bar{display:flex;height:14px;border-radius:3px;overflow:hidden;background:#eceef1;min-width:1px}
.bar span{display:block;height:100%}
.timeline{display:grid;grid-template-columns:72px minmax(0,1fr) 78px;gap:3px 10px;align-items:center;font-size:12px}
.timeline a{text-decoration:none}
.timeline .t{color:var(--muted);text-align:right}
.tt{display:flex;gap:4px 28px;flex-wrap:wrap;margin-top:6px}
.swatch{display:inline-block;width:9px;height:9px;border-radius:2px;margin-right:6px}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px;margin:8px 0}
.legend i{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.legend b{font-weight:600}
table.results{border-collapse:collapse;width:100%;font-size:13px}
table.results th,table.results td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:left;
vertical-align:top}
table.results th{background:#f0f2f5;cursor:pointer;user-select:none;white-space:nowrap}
table.results th::after{content:" \\2195";color:#a3aab4;font-size:11px}
table.results th[aria-sort=ascending]::after{content:" \\25B2";color:var(--fg)}
table.results th[aria-sort=descending]::after{content:" \\25BC";color:var(--fg)}
table.results td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.results td.reason{max-width:420px;word-break:break-word;color:#39424e}
table.results tr:hover td{background:#fafbfd}
.passbar{display:flex;height:10px;border-radius:5px;overflow:hidden;background:#eceef1;margin-top:8px;max-width:520px}
.passbar span{display:block;height:100%}
nav.crumbs{font-size:13px;margin-bottom:6px}
#lightbox{position:fixed;inset:0;background:rgba(15,18,24,.92);z-index:10;overflow:auto;cursor:zoom-out}
#lightbox .lb-bar{position:sticky;top:0;color:#cfd5dd;font-size:12px;padding:6px 12px;background:rgba(15,18,24,.8)}
#lightbox .lb-body{padding:8px 12px 40px}
#lightbox .shot{max-width:none;cursor:zoom-out}
"""

BASE_JS = r"""
(function(){
  var box=document.getElementById('lightbox'), body=box.querySelector('.lb-body');
  function close(){box.hidden=true;body.replaceChildren();}
  document.addEventListener('click',function(e){
    if(!box.hidden){close();return;}
    var shot=e.target.closest&&e.target.closest('.shot');
    if(!shot)return;
    var big=shot.cloneNode(true), img=big.querySelector('img');
    if(shot.dataset.full&&img)img.src=shot.dataset.full;
    big.style.width=(shot.dataset.w||'')+'px';
    body.replaceChildren(big);box.hidden=false;
  });
  document.addEventListener('keydown',function(e){if(e.key==='Escape'&&!box.hidden)close();});
})();
"""
