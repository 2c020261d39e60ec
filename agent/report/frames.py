"""Frames into the page: a base64 image to show, and the full-size original for the click-to-zoom view.

Frames up to ``THUMB_MAX_WIDTH`` wide are embedded once as they are (PNG, already small for screen
content). Wider ones are shown as a downscaled JPEG, and their original PNG is embedded for the zoom
view while the page's budget lasts (``max_full_bytes``); past it the zoom view links the file on disk
instead, and the page says so. Sizes are always the original's, so overlays drawn in screen pixels
stay exact whatever is displayed.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path

from agent.report.render import rel_href
from tools.safe_files import safe_read

THUMB_MAX_WIDTH = 1024
JPEG_QUALITY = 82
DEFAULT_FULL_BUDGET = 24 * 1024 * 1024  # bytes of full-size originals embedded in one page
MAX_FRAME_BYTES = 64 * 1024 * 1024  # a frame file larger than this is not read


@dataclass
class EmbeddedFrame:
    """One frame ready for the page: ``src`` to display, ``full`` for the zoom view ("" = same as src)."""

    width: int
    height: int
    src: str
    full: str = ""
    linked: bool = False  # True when ``full`` is a link to the file rather than embedded data


def data_uri(data: bytes, mime: str) -> str:
    """``data:<mime>;base64,...``."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


class FrameEmbedder:
    """Turns frame files into ``EmbeddedFrame``s for one page, keeping its size within a budget."""

    def __init__(self, page: Path, max_full_bytes: int = DEFAULT_FULL_BUDGET) -> None:
        self.page = Path(page)
        self.budget = max_full_bytes
        self.linked = 0  # frames whose full size is linked, not embedded

    def embed(self, path: Path) -> EmbeddedFrame:
        """Read and encode one frame; raises ``OSError``/``ValueError`` when the file is unreadable."""
        from PIL import Image

        path = Path(path)
        raw = safe_read(path.parent, path.name, MAX_FRAME_BYTES)  # never through a link out of the folder
        with Image.open(io.BytesIO(raw)) as img:
            img.load()
            width, height = img.size
            is_png = img.format == "PNG"
            if width <= THUMB_MAX_WIDTH:
                if is_png:
                    return EmbeddedFrame(width, height, data_uri(raw, "image/png"))
                return EmbeddedFrame(width, height, data_uri(_png(img), "image/png"))
            thumb = img.convert("RGB")
            thumb.thumbnail((THUMB_MAX_WIDTH, max(1, round(height * THUMB_MAX_WIDTH / width))),
                            Image.Resampling.LANCZOS)
            buf = io.BytesIO()
            thumb.save(buf, "JPEG", quality=JPEG_QUALITY, optimize=True)
            full_bytes = raw if is_png else _png(img)
        shown = EmbeddedFrame(width, height, data_uri(buf.getvalue(), "image/jpeg"))
        if len(full_bytes) <= self.budget:
            self.budget -= len(full_bytes)
            shown.full = data_uri(full_bytes, "image/png")
        else:
            self.linked += 1
            shown.full, shown.linked = rel_href(Path(path), self.page), True
        return shown


def _png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=False)
    return buf.getvalue()
