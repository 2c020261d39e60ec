"""Markers on screenshots: where the agent clicked, dragged, scrolled or typed, and a grounding point.

Pure pillow; coordinates are screen pixels of the image drawn on. Every marker has a dark outline
under a bright colour so it stays visible on light and dark screens.
"""

from __future__ import annotations

import io
import math
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

from PIL import Image, ImageDraw, ImageFont

CLICK = (255, 45, 85)     # clicks, grounding points
DRAG = (255, 149, 0)
SCROLL = (0, 170, 255)
TYPE = (52, 199, 89)
OUTLINE = (0, 0, 0)
LABEL_BG = (20, 20, 20)
LABEL_FG = (255, 255, 255)

_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
          "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
_CJK_FONTS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


@lru_cache(maxsize=8)
def _font(size: int, cjk: bool = False) -> Any:
    for path in (_CJK_FONTS if cjk else ()) + _FONTS:
        if Path(path).exists():
            try:
                return ImageFont.truetype(path, size)
            except OSError:
                continue
    return ImageFont.load_default()


def _scale(img: Image.Image) -> float:
    """Marker size relative to the image: a screenshot is shown about 600 px wide in the chat, so
    markers grow with the image to stay readable there."""
    return max(0.8, min(4.0, max(img.width, img.height) / 640))


def _needs_cjk(text: str) -> bool:
    return any(ord(ch) > 0x2E7F for ch in text)


def draw_label(img: Image.Image, xy: tuple[float, float], text: str, color: tuple[int, int, int] = CLICK) -> None:
    """A short label in a dark box with a coloured edge, placed near ``xy`` but inside the image."""
    s = _scale(img)
    draw = ImageDraw.Draw(img)
    font = _font(int(14 * s), _needs_cjk(text))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    w, h = right - left + int(12 * s), bottom - top + int(8 * s)
    x, y = xy[0] + 14 * s, xy[1] + 14 * s
    if x + w > img.width:
        x = xy[0] - 14 * s - w
    if y + h > img.height:
        y = xy[1] - 14 * s - h
    x, y = max(0, min(x, img.width - w)), max(0, min(y, img.height - h))
    draw.rectangle((x, y, x + w, y + h), fill=LABEL_BG, outline=color, width=max(1, int(2 * s)))
    draw.text((x + 6 * s - left, y + 4 * s - top), text, font=font, fill=LABEL_FG)


def draw_point(img: Image.Image, x: float, y: float, color: tuple[int, int, int] = CLICK, label: str | None = None) -> None:
    """A target marker: ring + crosshair centred on (x, y), with gaps so the pixel itself stays visible."""
    s = _scale(img)
    draw = ImageDraw.Draw(img)
    r, gap, arm = 16 * s, 4 * s, 26 * s
    for width, fill in ((int(6 * s), OUTLINE), (int(3 * s), color)):
        draw.ellipse((x - r, y - r, x + r, y + r), outline=fill, width=max(1, width))
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            draw.line((x + dx * gap, y + dy * gap, x + dx * arm, y + dy * arm), fill=fill, width=max(1, width))
    dot = 2 * s
    draw.ellipse((x - dot, y - dot, x + dot, y + dot), fill=color, outline=OUTLINE)
    if label:
        draw_label(img, (x, y), label, color)


def draw_arrow(img: Image.Image, x1: float, y1: float, x2: float, y2: float, color: tuple[int, int, int] = DRAG,
               label: str | None = None) -> None:
    s = _scale(img)
    draw = ImageDraw.Draw(img)
    angle = math.atan2(y2 - y1, x2 - x1)
    head = 18 * s
    tip = [(x2, y2), (x2 - head * math.cos(angle - 0.45), y2 - head * math.sin(angle - 0.45)),
           (x2 - head * math.cos(angle + 0.45), y2 - head * math.sin(angle + 0.45))]
    for width, fill in ((int(7 * s), OUTLINE), (int(4 * s), color)):
        draw.line((x1, y1, x2, y2), fill=fill, width=max(1, width))
    draw.polygon(tip, fill=color, outline=OUTLINE)
    r = 6 * s
    draw.ellipse((x1 - r, y1 - r, x1 + r, y1 + r), fill=color, outline=OUTLINE)
    if label:
        draw_label(img, (x2, y2), label, color)


def draw_caret(img: Image.Image, x: float, y: float, label: str, color: tuple[int, int, int] = TYPE) -> None:
    """Typing: an I-beam at (x, y) with the typed text beside it."""
    s = _scale(img)
    draw = ImageDraw.Draw(img)
    h, w = 14 * s, 6 * s
    for width, fill in ((int(6 * s), OUTLINE), (int(3 * s), color)):
        width = max(1, width)
        draw.line((x, y - h, x, y + h), fill=fill, width=width)
        draw.line((x - w, y - h, x + w, y - h), fill=fill, width=width)
        draw.line((x - w, y + h, x + w, y + h), fill=fill, width=width)
    draw_label(img, (x, y), label, color)


def draw_banner(img: Image.Image, lines: Sequence[tuple[str, tuple[int, int, int]]]) -> None:
    """Labels along the top edge, for actions without a place on screen (keys, typing with no known
    pointer, waits)."""
    s = _scale(img)
    y = 8 * s
    for text, color in lines:
        draw = ImageDraw.Draw(img)
        font = _font(int(14 * s), _needs_cjk(text))
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        w, h = min(img.width - 16 * s, right - left + 12 * s), bottom - top + 8 * s
        draw.rectangle((8 * s, y, 8 * s + w, y + h), fill=LABEL_BG, outline=color, width=max(1, int(2 * s)))
        draw.text((14 * s - left, y + 4 * s - top), text, font=font, fill=LABEL_FG)
        y += h + 6 * s


def _short_text(text: str, limit: int = 40) -> str:
    text = text.replace("\n", "⏎").replace("\t", "⇥")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mark_actions(img: Image.Image, actions: Iterable[dict], pointer: tuple[float, float] | None = None
                 ) -> tuple[float, float] | None:
    """Draw every executed action (dicts in screen pixels, as recorded in ``steps.jsonl``) on ``img``.

    ``pointer`` is where the pointer was before these actions (typing is drawn there). Returns the
    pointer position afterwards. Numbers show the order when a reply did several things.
    """
    actions = list(actions)
    many = len(actions) > 1
    banner: list[tuple[str, tuple[int, int, int]]] = []
    for n, a in enumerate(actions, 1):
        tag = f"{n}. " if many else ""
        kind = a.get("type")
        if kind == "click":
            x, y = a["x"], a["y"]
            what = {1: "click", 2: "double-click", 3: "triple-click"}.get(a.get("clicks", 1), "click")
            if a.get("button", "left") != "left":
                what = f"{a['button']} {what}"
            draw_point(img, x, y, CLICK, f"{tag}{what} ({x:g}, {y:g})")
            pointer = (x, y)
        elif kind == "move":
            draw_point(img, a["x"], a["y"], SCROLL, f"{tag}move")
            pointer = (a["x"], a["y"])
        elif kind == "drag":
            draw_arrow(img, a["x1"], a["y1"], a["x2"], a["y2"], DRAG, f"{tag}drag")
            pointer = (a["x2"], a["y2"])
        elif kind == "scroll":
            where = (a["x"], a["y"]) if a.get("x") is not None and a.get("y") is not None else pointer
            label = f"{tag}scroll dx={a.get('dx', 0)} dy={a.get('dy', 0)}"
            if where is not None:
                x, y = where
                dy = -1 if a.get("dy", 0) > 0 else 1  # dy > 0 scrolls up
                draw_arrow(img, x, y, x, y + dy * 40 * _scale(img), SCROLL, label)
                pointer = where
            else:
                banner.append((label, SCROLL))
        elif kind == "type":
            label = f"{tag}type “{_short_text(a.get('text', ''))}”"
            if pointer is not None:
                draw_caret(img, pointer[0], pointer[1], label)
            else:
                banner.append((label, TYPE))
        elif kind == "key":
            banner.append((f"{tag}key {'+'.join(a.get('keys', []))}", TYPE))
        elif kind in ("key_down", "key_up"):
            banner.append((f"{tag}{kind} {a.get('key')}", TYPE))
        elif kind in ("mouse_down", "mouse_up"):
            if pointer is not None:
                draw_point(img, pointer[0], pointer[1], DRAG, f"{tag}{kind}")
            else:
                banner.append((f"{tag}{kind}", DRAG))
        elif kind == "wait":
            banner.append((f"{tag}wait {a.get('seconds', 0):g} s", SCROLL))
        elif kind in ("done", "fail"):
            extra = a.get("answer") if kind == "done" else a.get("reason")
            banner.append((f"{tag}{kind.upper()}" + (f": {_short_text(str(extra), 60)}" if extra else ""),
                           TYPE if kind == "done" else CLICK))
    if banner:
        draw_banner(img, banner)
    return pointer


def to_png(img: Image.Image, max_width: int | None = None) -> bytes:
    """PNG bytes, scaled down to ``max_width`` first if it is wider."""
    if max_width and img.width > max_width:
        img = img.resize((max_width, round(img.height * max_width / img.width)), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="PNG", compress_level=3)
    return buf.getvalue()
