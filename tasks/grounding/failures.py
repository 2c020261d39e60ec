"""A self-contained HTML page of a grounding run's failures: each wrong prediction on its screenshot.

Every failure (``wrong`` or ``wrong_format``) gets a card: the instruction, the true box (green) and
the predicted point (red cross) drawn over the whole screenshot, close-ups at native resolution of
the box and — when it lies elsewhere — of the point, the raw reply and the grounder's reason. Images
are embedded (JPEG data URLs, each screenshot once, however many cards use it), so the page can be
mailed or archived alone; overlays are SVG in original-image pixels, so they stay exact when scaled.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tools.safe_files import atomic_write

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;background:#fafafa;color:#222}
h1{font-size:20px} .card{background:#fff;border:1px solid #ddd;border-radius:6px;margin:0 0 1.5em;padding:1em}
.card h2{font-size:15px;margin:0 0 .4em} .meta{color:#555;font-size:13px;margin:.2em 0 .6em}
.tag{display:inline-block;padding:0 .45em;border-radius:3px;font-size:12px;color:#fff}
.wrong{background:#c62828}.wrong_format{background:#6d4c41}.error{background:#424242}
.views{display:flex;gap:1em;align-items:flex-start;flex-wrap:wrap}
.shot{position:relative;background-size:100% 100%;background-repeat:no-repeat;border:1px solid #ccc}
.shot svg{position:absolute;inset:0;width:100%;height:100%}
.full{width:min(640px,100%)} .crop{width:300px;image-rendering:pixelated}
pre{white-space:pre-wrap;background:#f4f4f4;padding:.6em;max-height:22em;overflow:auto;font-size:12px}
.legend span{margin-right:1.2em}
"""


def _data_url(img: Any, fmt: str = "JPEG", quality: int = 80) -> str:
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.convert("RGB").save(buf, format="JPEG", quality=quality)
        mime = "image/jpeg"
    else:
        img.save(buf, format="PNG", compress_level=6)
        mime = "image/png"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def _overlay(view: tuple[float, float, float, float], bbox: Sequence[float], pred: Sequence[float] | None,
             size: tuple[int, int]) -> str:
    """An SVG in image pixels over ``view`` (x, y, w, h): the true box and the predicted point."""
    vx, vy, vw, vh = view
    scale = max(vw, vh) / 400  # marker sizes relative to the view
    x1, y1, x2, y2 = bbox
    parts = [f'<svg viewBox="{vx:g} {vy:g} {vw:g} {vh:g}" preserveAspectRatio="none">',
             f'<rect x="{x1:g}" y="{y1:g}" width="{max(x2 - x1, 0):g}" height="{max(y2 - y1, 0):g}" fill="rgba(46,125,50,.15)" '
             f'stroke="#2e7d32" stroke-width="2" vector-effect="non-scaling-stroke"/>']
    if x2 - x1 < scale * 3 or y2 - y1 < scale * 3:  # a tiny (or zero-size) box: ring it so it shows
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        parts.append(f'<circle cx="{cx:g}" cy="{cy:g}" r="{6 * scale:g}" fill="none" stroke="#2e7d32" '
                     'stroke-width="2" vector-effect="non-scaling-stroke"/>')
    if pred is not None:
        px, py = pred
        r = 8 * scale
        parts.append(f'<g stroke="#d50000" stroke-width="2.5" vector-effect="non-scaling-stroke">'
                     f'<line x1="{px - r:g}" y1="{py:g}" x2="{px + r:g}" y2="{py:g}" vector-effect="non-scaling-stroke"/>'
                     f'<line x1="{px:g}" y1="{py - r:g}" x2="{px:g}" y2="{py + r:g}" vector-effect="non-scaling-stroke"/>'
                     f'<circle cx="{px:g}" cy="{py:g}" r="{r * 0.6:g}" fill="none" vector-effect="non-scaling-stroke"/></g>')
    parts.append("</svg>")
    return "".join(parts)


def _crop_box(cx1: float, cy1: float, cx2: float, cy2: float, size: tuple[int, int], margin: float) -> tuple[int, int, int, int]:
    w, h = size
    x1 = max(0, int(cx1 - margin))
    y1 = max(0, int(cy1 - margin))
    x2 = min(w, int(cx2 + margin + 1))
    y2 = min(h, int(cy2 + margin + 1))
    if x2 <= x1:
        x1, x2 = max(0, min(w - 1, x1)), min(w, max(1, x1 + 1))
    if y2 <= y1:
        y1, y2 = max(0, min(h - 1, y1)), min(h, max(1, y1 + 1))
    return x1, y1, x2, y2


def _view(img: Any, box: tuple[int, int, int, int], bbox: Sequence[float], pred: Sequence[float] | None,
          css: str, crop_side: int) -> str:
    from PIL import Image

    region = img.crop(box)
    if max(region.size) > crop_side:
        f = crop_side / max(region.size)
        region = region.resize((max(1, round(region.width * f)), max(1, round(region.height * f))), Image.Resampling.LANCZOS)
    x1, y1, x2, y2 = box
    ratio = f"{x2 - x1} / {y2 - y1}"
    return (f'<div class="shot {css}" style="aspect-ratio:{ratio};background-image:url({_data_url(region, "PNG")})">'
            f'{_overlay((x1, y1, x2 - x1, y2 - y1), bbox, pred, img.size)}</div>')


class _Images:
    """Each screenshot decoded once, and embedded once as a CSS class that its full views share."""

    def __init__(self, max_side: int, jpeg_quality: int) -> None:
        self.max_side, self.jpeg_quality = max_side, jpeg_quality
        self.loaded: dict[str, Any] = {}
        self.classes: dict[str, str] = {}
        self.styles: list[str] = []

    def get(self, img_path: str) -> Any:
        """The image as RGB, or None when it cannot be read."""
        from PIL import Image

        if img_path not in self.loaded:
            try:
                with Image.open(img_path) as im:
                    self.loaded[img_path] = im.convert("RGB")
            except (OSError, ValueError):
                self.loaded[img_path] = None
        return self.loaded[img_path]

    def css_class(self, img_path: str, img: Any) -> str:
        """The class whose background is the image (at most ``max_side`` px), made on first use."""
        from PIL import Image

        if img_path not in self.classes:
            cls = f"i{len(self.classes)}"
            self.classes[img_path] = cls
            small = img
            if max(img.size) > self.max_side:
                f = self.max_side / max(img.size)
                small = img.resize((round(img.width * f), round(img.height * f)), Image.Resampling.LANCZOS)
            self.styles.append(f".{cls}{{background-image:url({_data_url(small, 'JPEG', self.jpeg_quality)})}}")
        return self.classes[img_path]


def _views(img: Any, cls: str, bbox: list[float], pred: list[float] | None, crop_side: int) -> list[str]:
    """The whole screenshot, a crop around the true box, and one around the point when it is elsewhere."""
    w, h = img.size
    views = [f'<div class="shot full {cls}" style="aspect-ratio:{w} / {h}">'
             f'{_overlay((0, 0, w, h), bbox, pred, img.size)}</div>']
    margin = max(24.0, 0.6 * max(bbox[2] - bbox[0], bbox[3] - bbox[1]))
    box_crop = _crop_box(*bbox, img.size, margin)
    crops = [_view(img, box_crop, bbox, pred, "crop", crop_side)]
    if pred is not None:
        px, py = pred
        inside = box_crop[0] <= px <= box_crop[2] and box_crop[1] <= py <= box_crop[3]
        on_image = 0 <= px <= w and 0 <= py <= h
        if not inside and on_image:
            crops.append(_view(img, _crop_box(px, py, px, py, img.size, 60), bbox, pred, "crop", crop_side))
    views.append('<div>' + "".join(f'<div style="margin-bottom:.6em">{c}</div>' for c in crops) + "</div>")
    return views


def _card(n: int, d: Mapping[str, Any], views: list[str], bbox: list[float], pred: list[float] | None,
          img_path: str) -> str:
    """One failure: the instruction, its verdict, what was predicted against the true box, the views."""
    kind = "error" if d.get("error") else str(d.get("correctness"))
    reason = (d.get("grounding") or {}).get("reason") if isinstance(d.get("grounding"), dict) else None
    meta = " · ".join(html.escape(str(x)) for x in (
        d.get("key"), d.get("ui_type"), d.get("application"), d.get("platform"), d.get("group")) if x)
    pred_text = "no point" if pred is None else f"({pred[0]:g}, {pred[1]:g})"
    notes = "".join(f"<div><b>{label}:</b> {html.escape(str(v))}</div>" for label, v in (
        ("error", d.get("error")), ("reason", reason)) if v)
    reply = d.get("raw_response")
    return (
        f'<div class="card"><h2>{n}. {html.escape(str(d.get("prompt_to_evaluate", "")))} '
        f'<span class="tag {kind}">{html.escape(kind)}</span></h2>'
        f'<div class="meta">{meta} — predicted {pred_text}, true box '
        f'({bbox[0]:g}, {bbox[1]:g}, {bbox[2]:g}, {bbox[3]:g}) in {html.escape(Path(img_path).name)}</div>'
        f'{notes}<div class="views">{"".join(views)}</div>'
        + (f"<details><summary>raw reply</summary><pre>{html.escape(str(reply))}</pre></details>" if reply else "")
        + "</div>")


def write_failures_html(details: Sequence[Mapping[str, Any]], path: str | Path, *, title: str = "Grounding failures",
                        max_side: int = 1600, crop_side: int = 320, jpeg_quality: int = 78) -> int:
    """Write the failures page for a run's details; returns how many failures it shows."""
    path = Path(path)
    failures = [d for d in details if d.get("correctness") != "correct"]
    images = _Images(max_side, jpeg_quality)
    cards: list[str] = []
    for n, d in enumerate(failures, 1):
        img_path = str(d.get("img_path") or "")
        bbox = [float(v) for v in d["bbox"]]
        pred = d.get("pred")
        pred = [float(pred[0]), float(pred[1])] if pred else None
        img = images.get(img_path)
        if img is not None:
            views = _views(img, images.css_class(img_path, img), bbox, pred, crop_side)
        else:
            views = [f"<p><em>image not readable: {html.escape(img_path)}</em></p>"]
        cards.append(_card(n, d, views, bbox, pred, img_path))
    summary = (f"{len(failures)} of {len(details)} samples failed "
               f"({sum(d.get('correctness') == 'wrong_format' for d in failures)} without a point).")
    page = (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_CSS}{''.join(images.styles)}</style></head><body><h1>{html.escape(title)}</h1><p>{summary}</p>"
            '<p class="legend"><span style="color:#2e7d32">■ true box</span>'
            '<span style="color:#d50000">✚ predicted point</span></p>'
            + "".join(cards) + "</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, page)  # a report: mkstemp + os.replace, never through a planted link
    return len(failures)
