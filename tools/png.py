"""Fast lossless PNG encoding of screen frames (BGRA buffers), for the image sent to the model every step.

Pillow's ``save(..., "PNG", compress_level=1)`` spends its time on two things a screenshot does not
need: it tries all five PNG filters on every row to pick one, and it deflates with zlib's level 1 in
one thread. :func:`encode_png` instead:

1. writes each row's filter-type byte and its pixels, BGR(X) reordered to RGB, with numpy;
2. deflates horizontal strips of rows in parallel threads (compressors release the GIL): each strip
   is a raw deflate stream ended by a sync flush, the last one finished — the way pigz makes one
   valid zlib stream out of independent pieces — and the strips' Adler-32 sums are combined
   arithmetically;
3. writes the PNG signature, IHDR (8-bit RGB), one IDAT and IEND with their CRCs.

The deflate backend is the fastest one installed: ``zlib-ng`` (PyPI ``zlib-ng``; level 2, rows
unfiltered — its matcher finds the vertical repeats itself), else ``isal`` (level 1, unfiltered),
else the standard library's ``zlib`` (level 1, rows "up"-filtered — each byte minus the one above,
mostly zeros on a screen — which halves zlib's time). The output is a standard PNG; its pixels are
exactly the frame's (the fourth byte, X/alpha, is dropped: screens are opaque, as in ``Frame.image()``).
"""

from __future__ import annotations

import importlib
import os
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_FILTERS = {"none": 0, "up": 2}
_ADLER_BASE = 65521
_MIN_STRIP_BYTES = 256 * 1024  # below this a thread hand-off costs more than it saves


@dataclass(frozen=True)
class Backend:
    """A deflate implementation with the ``zlib`` module's API, and the settings that suit it."""

    name: str
    module: Any
    level: int
    filter: str


_BACKEND_SPECS = (  # (name, module to import, default level, default filter), fastest first
    ("zlib-ng", "zlib_ng.zlib_ng", 2, "none"),
    ("isal", "isal.isal_zlib", 1, "none"),
    ("zlib", "zlib", 1, "up"),
)
_backends: dict[str, Backend] | None = None
_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def backends() -> dict[str, Backend]:
    """The installed deflate backends by name, fastest first (``zlib`` is always there)."""
    global _backends
    with _lock:
        if _backends is None:
            found = {}
            for name, module, level, filt in _BACKEND_SPECS:
                try:
                    found[name] = Backend(name, importlib.import_module(module), level, filt)
                except ImportError:
                    continue
            _backends = found
        return _backends


def default_backend() -> Backend:
    """The backend :func:`encode_png` uses unless told otherwise: the fastest installed."""
    return next(iter(backends().values()))


def default_threads() -> int:
    """Strips deflated in parallel by default: the CPU count, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=default_threads(), thread_name_prefix="png")
        return _pool


def adler32_combine(adler1: int, adler2: int, len2: int) -> int:
    """The Adler-32 of A+B from adler32(A), adler32(B) and len(B) (as zlib's ``adler32_combine``)."""
    rem = len2 % _ADLER_BASE
    sum1 = adler1 & 0xFFFF
    sum2 = (rem * sum1) % _ADLER_BASE
    sum1 = (sum1 + (adler2 & 0xFFFF) + _ADLER_BASE - 1) % _ADLER_BASE
    sum2 = (sum2 + ((adler1 >> 16) & 0xFFFF) + ((adler2 >> 16) & 0xFFFF) + _ADLER_BASE - rem) % _ADLER_BASE
    return sum1 | (sum2 << 16)


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(tag)) & 0xFFFFFFFF)


def _bgra(src: Any, width: int | None, height: int | None) -> "np.ndarray":
    """A (height, width, 4) uint8 view of a Frame, a BGRA buffer with its size, or a (h, w, 4) array."""
    import numpy as np

    if hasattr(src, "bgra") and hasattr(src, "width") and hasattr(src, "height"):
        width, height, src = src.width, src.height, src.bgra
    if isinstance(src, np.ndarray) and src.ndim == 3:
        if src.shape[2] != 4 or src.dtype != np.uint8:
            raise ValueError(f"expected a (h, w, 4) uint8 BGRA array, got {src.shape} {src.dtype}")
        if (width is not None and src.shape[1] != width) or (height is not None and src.shape[0] != height):
            raise ValueError(f"array is {src.shape[1]}x{src.shape[0]}, not {width}x{height}")
        return src
    if width is None or height is None:
        raise ValueError("width and height are needed for a raw BGRA buffer")
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    buf = np.frombuffer(src, dtype=np.uint8)
    if buf.size != width * height * 4:
        raise ValueError(f"BGRA buffer holds {buf.size} bytes, {width}x{height} needs {width * height * 4}")
    return buf.reshape(height, width, 4)


def _strip(a: "np.ndarray", raw: "np.ndarray", r0: int, r1: int, backend: Backend, level: int, filter_type: int,
           last: bool) -> tuple[bytes, int, int]:
    """Filter rows r0..r1 of ``a`` into ``raw`` and deflate them: (raw deflate bytes, adler32, length)."""
    import numpy as np

    rows = raw[r0:r1]
    rows[:, 0] = filter_type
    src = a[r0:r1]
    if filter_type == 2:  # "up", modulo 256: whole BGRA rows (contiguous) minus the rows above them
        src = np.empty((r1 - r0, a.shape[1], 4), dtype=np.uint8)
        if r0 == 0:
            src[0] = a[0]
            np.subtract(a[1:r1], a[0:r1 - 1], out=src[1:])
        else:
            np.subtract(a[r0:r1], a[r0 - 1:r1 - 1], out=src)
    # BGR(X) → RGB one channel at a time: numpy copies a reversed 3-of-4 slice element by element,
    # about five times slower than these three simple strided copies
    pixels = rows[:, 1:].reshape(r1 - r0, a.shape[1], 3)
    pixels[..., 0] = src[..., 2]
    pixels[..., 1] = src[..., 1]
    pixels[..., 2] = src[..., 0]
    z = backend.module
    comp = z.compressobj(level, z.DEFLATED, -15, 8)
    data = memoryview(rows).cast("B")
    out = comp.compress(data) + comp.flush(z.Z_FINISH if last else z.Z_SYNC_FLUSH)
    return out, getattr(z, "adler32", zlib.adler32)(data), len(data)  # zlib-ng's and isal's are SIMD


def encode_png(src: Any, width: int | None = None, height: int | None = None, *, level: int | None = None,
               threads: int | None = None, backend: str | None = None, filter: str | None = None) -> bytes:
    """Lossless PNG bytes (8-bit RGB) of a BGRA image.

    ``src`` is a ``tools.frame.Frame``, raw BGRA bytes with ``width`` and ``height``, or a (h, w, 4)
    uint8 array. ``backend`` names a deflate backend (default: the fastest installed, see
    :func:`backends`), ``level`` its level and ``filter`` the PNG row filter ("none" or "up"), both
    defaulting to what suits that backend. ``threads`` strips of rows are deflated in parallel
    (default: :func:`default_threads`, fewer for images under a few hundred KiB).
    """
    import numpy as np

    chosen = default_backend() if backend is None else backends().get(backend)
    if chosen is None:
        raise ValueError(f"deflate backend {backend!r} is not installed; installed: {', '.join(backends())}")
    level = chosen.level if level is None else level
    if not 0 <= level <= 9:
        raise ValueError(f"level must be 0-9, got {level!r}")
    filter_name = chosen.filter if filter is None else filter
    if filter_name not in _FILTERS:
        raise ValueError(f"filter must be one of {', '.join(_FILTERS)}, got {filter_name!r}")
    a = _bgra(src, width, height)
    h, w = a.shape[:2]
    row_bytes = 3 * w + 1
    raw = np.empty((h, row_bytes), dtype=np.uint8)
    if threads is None:
        threads = min(default_threads(), (h * row_bytes) // _MIN_STRIP_BYTES or 1)
    n = max(1, min(threads, h))
    bounds = [h * k // n for k in range(n + 1)]
    jobs = [(bounds[k], bounds[k + 1], k == n - 1) for k in range(n)]

    def run(job: tuple[int, int, bool]) -> tuple[bytes, int, int]:
        return _strip(a, raw, job[0], job[1], chosen, level, _FILTERS[filter_name], job[2])

    parts = [run(jobs[0])] if n == 1 else list(_executor().map(run, jobs))
    adler = 1
    for _, part_adler, length in parts:
        adler = adler32_combine(adler, part_adler, length)
    # zlib header: deflate with a 32 KiB window, "fastest" level flag; the strips; the Adler-32
    idat = b"".join([b"\x78\x01", *(p for p, _, _ in parts), struct.pack(">I", adler)])
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


__all__ = ["Backend", "PNG_SIGNATURE", "adler32_combine", "backends", "default_backend", "default_threads",
           "encode_png"]
