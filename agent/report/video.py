"""The episode's video on its report page, with each step marked on the video's own timeline.

``result.json``'s ``video`` (``agent.video``) says when the first frame was taken (``started_at``, wall
clock) and how long it ran; each step's ``at`` is when its frame was captured, so a step sits at
``step.at - started_at`` seconds into the video. The file is linked, never embedded (a video would make
the page huge), and only under its fixed name and only when it is a plain file in the episode folder:
a foreign ``result.json`` cannot point the page anywhere else. Clicking a marker seeks the video.
"""

from __future__ import annotations

import math
from pathlib import Path

from agent.episode import Episode
from agent.report.fields import as_dict, as_number
from agent.report.render import esc, fmt_s, rel_href
from sandbox.video import VIDEO_NAME
from tools.safe_files import is_plain_file

CSS = """
.video video{width:100%;max-width:1024px;background:#222;border-radius:4px;display:block}
.vtrack{position:relative;height:26px;max-width:1024px;margin-top:6px;background:#eceef1;border-radius:3px}
.vtrack a{position:absolute;top:2px;transform:translateX(-50%);min-width:18px;height:22px;line-height:22px;
border-radius:3px;background:var(--mark);color:#fff;font-size:11px;font-weight:700;text-align:center;
text-decoration:none;padding:0 3px}
.vtrack a.approval{background:var(--warn)}
"""

JS = r"""
(function(){
  var v=document.querySelector('.video video'); if(!v)return;
  v.addEventListener('loadedmetadata',function(){  // the file's own length, to the frame
    if(!(v.duration>0)||!isFinite(v.duration))return;
    document.querySelectorAll('.vtrack a').forEach(function(a){
      a.style.left=Math.min(100,100*parseFloat(a.dataset.videoT)/v.duration)+'%';});
  });
  document.addEventListener('click',function(e){
    var a=e.target.closest&&e.target.closest('[data-video-t]'); if(!a)return;
    e.preventDefault(); v.currentTime=parseFloat(a.dataset.videoT)||0; v.scrollIntoView({block:'nearest'});
  });
})();
"""


def step_times(ep: Episode) -> dict[int, float]:
    """Seconds into the video of each step (by index) that has a capture time inside the video ({} when the
    episode has no video file)."""
    video = as_dict(as_dict(ep.result).get("video"))
    start, length = as_number(video.get("started_at")), as_number(video.get("duration_s"))
    if start is None or not is_plain_file(ep.folder, VIDEO_NAME):
        return {}
    out = {}
    for step in ep.steps:
        t = None if step.at is None else step.at - start
        if t is not None and math.isfinite(t) and 0 <= t <= (length if length is not None else t):
            out[step.index] = round(t, 2)
    return out


def video_section(ep: Episode, page: Path) -> str:
    """The video card ("" when the episode recorded no video)."""
    video = as_dict(as_dict(ep.result).get("video"))
    if not video:
        return ""
    if not is_plain_file(ep.folder, VIDEO_NAME):
        why = esc(video.get("problem")) or f"{VIDEO_NAME} is not a plain file in the episode folder"
        return f'<section class="card video" id="video"><h2>Video</h2><div class="alert warn">No video: {why}</div></section>'
    length = as_number(video.get("duration_s")) or 0.0
    marks = []
    for index, t in step_times(ep).items():
        left = 100 * t / length if length else 0
        kind = " approval" if any(s.approvals for s in ep.steps if s.index == index) else ""
        marks.append(f'<a class="vmark{kind}" href="#step-{index}" data-video-t="{t}" style="left:{left:.2f}%" '
                     f'title="step {index} at {esc(fmt_s(t))}">{index}</a>')
    note = "" if video.get("finalised") else '<div class="alert warn">The recording did not end cleanly; it may ' \
        f'stop early or not seek. {esc(video.get("problem"))}</div>'
    return (f'<section class="card video" id="video"><style>{CSS}</style><h2>Video</h2>{note}'
            f'<video controls preload="metadata" src="{esc(rel_href(ep.folder / VIDEO_NAME, page))}"></video>'
            f'<div class="vtrack">{"".join(marks)}</div>'
            f'<p class="sub">{esc(fmt_s(length))}, {esc(video.get("fps"))} fps, '
            f'{esc(round((as_number(video.get("bytes")) or 0) / 1024))} KiB. Markers: when each step\'s screenshot '
            'was taken (orange: a step with an approval); click one to jump there.</p></section>')
