"""Frame: one screenshot at native resolution, as captured, plus helpers to view and encode it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

SCREEN_SIDE = (64, 8192)
"""The smallest and largest screen width or height a desktop (and a task's ``screen``) may have, in pixels."""

if TYPE_CHECKING:  # pillow and numpy are imported lazily: capture itself needs neither
    import numpy as np
    from PIL import Image


@dataclass(frozen=True, eq=False)
class Frame:
    """Native pixels of one screen (BGRA, 4 bytes a pixel, rows top to bottom) and when they were taken.

    ``cursor`` is the pointer position in screen pixels at capture time, or None when unknown.
    """

    width: int
    height: int
    bgra: bytes = field(repr=False)
    captured_at: float = field(default_factory=time.time)
    cursor: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if len(self.bgra) != self.width * self.height * 4:
            raise ValueError(f"frame buffer holds {len(self.bgra)} bytes, {self.width}x{self.height} needs {self.width * self.height * 4}")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return (self.width, self.height)

    def image(self) -> "Image.Image":
        """The frame as an RGB pillow image (a copy)."""
        from PIL import Image

        return Image.frombuffer("RGB", self.size, self.bgra, "raw", "BGRX", 0, 1).copy()

    def array(self) -> "np.ndarray":
        """The frame as a read-only (height, width, 4) uint8 BGRA array without copying."""
        import numpy as np

        return np.frombuffer(self.bgra, dtype=np.uint8).reshape(self.height, self.width, 4)

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        """The (r, g, b) colour at screen pixel (x, y)."""
        i = (y * self.width + x) * 4
        b, g, r = self.bgra[i], self.bgra[i + 1], self.bgra[i + 2]
        return (r, g, b)

    def png(self, compress_level: int | None = None) -> bytes:
        """Lossless PNG bytes of the frame (``tools.png``: several times faster than pillow's encoder)."""
        from tools.png import encode_png

        return encode_png(self, level=compress_level)

    def save(self, path: str | Path, compress_level: int | None = None) -> Path:
        """Write the frame as a PNG file and return its path."""
        path = Path(path)
        path.write_bytes(self.png(compress_level))
        return path

    @classmethod
    def from_image(cls, image: "Image.Image", captured_at: float | None = None) -> "Frame":
        """A frame from any pillow image (datasets, recorded episodes)."""
        rgba = image.convert("RGBA")
        r, g, b, a = rgba.split()
        from PIL import Image

        bgra = Image.merge("RGBA", (b, g, r, a)).tobytes()
        return cls(rgba.width, rgba.height, bgra, captured_at if captured_at is not None else time.time())

    @classmethod
    def open(cls, path: str | Path) -> "Frame":
        """Load a frame from an image file (PNG, JPEG, …)."""
        from PIL import Image

        with Image.open(path) as img:
            return cls.from_image(img, captured_at=Path(path).stat().st_mtime)
