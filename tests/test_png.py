"""tools.png: the PNG it writes decodes (with Pillow, and libpng through OpenCV when present) to exactly the
frame's pixels — random images, odd sizes, every installed deflate backend, real desktop screenshots."""

from __future__ import annotations

import io
import random
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.ocr_desktop import start_ocr_app
from tools.png import PNG_SIGNATURE, adler32_combine, backends, default_backend, encode_png
from sandbox import Sandbox
from tools.frame import Frame
from tools.settle import settle

TESTS = Path(__file__).resolve().parent
BACKENDS = list(backends())


def random_frame(w: int, h: int, seed: int = 0, kind: str = "noise") -> Frame:
    rng = np.random.default_rng(seed)
    if kind == "noise":
        bgra = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    else:  # flat blocks with a little noise, closer to a screen
        bgra = np.repeat(np.repeat(rng.integers(0, 256, ((h + 7) // 8, (w + 7) // 8, 4), dtype=np.uint8), 8, 0), 8, 1)
        bgra = np.ascontiguousarray(bgra[:h, :w])
        bgra[rng.random((h, w)) < 0.02] = 0
    return Frame(w, h, bgra.tobytes())


def decoded(png: bytes) -> bytes:
    with Image.open(io.BytesIO(png)) as img:
        assert img.mode == "RGB" and img.format == "PNG"
        return img.tobytes()


def chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(tag, data) of every chunk, checking each CRC."""
    assert png[:8] == PNG_SIGNATURE
    out, i = [], 8
    while i < len(png):
        (n,) = struct.unpack(">I", png[i:i + 4])
        tag, data = png[i + 4:i + 8], png[i + 8:i + 8 + n]
        (crc,) = struct.unpack(">I", png[i + 8 + n:i + 12 + n])
        assert crc == zlib.crc32(tag + data), tag
        out.append((tag, data))
        i += 12 + n
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("w,h", [(1, 1), (1, 7), (7, 1), (3, 5), (17, 13), (641, 3), (333, 257), (1025, 769)])
def test_round_trip_is_exact(backend, w, h):
    for kind in ("noise", "blocks"):
        frame = random_frame(w, h, seed=w * 31 + h, kind=kind)
        for threads in (1, 2, 3):
            png = encode_png(frame, backend=backend, threads=threads)
            assert decoded(png) == frame.image().tobytes(), (kind, threads)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("filter_name", ["none", "up"])
def test_every_filter_and_level(backend, filter_name):
    frame = random_frame(301, 211, seed=5, kind="blocks")
    for level in (0, 1, 6, 9):
        png = encode_png(frame, backend=backend, filter=filter_name, level=level, threads=2)
        assert decoded(png) == frame.image().tobytes(), level


def test_structure_crcs_and_zlib_stream():
    frame = random_frame(1025, 769, seed=3, kind="blocks")
    png = encode_png(frame, threads=3)
    tags = [t for t, _ in chunks(png)]
    assert tags == [b"IHDR", b"IDAT", b"IEND"]
    ihdr = chunks(png)[0][1]
    assert struct.unpack(">IIBBBBB", ihdr) == (1025, 769, 8, 2, 0, 0, 0)
    raw = zlib.decompress(chunks(png)[1][1])  # checks the combined Adler-32 too
    assert len(raw) == 769 * (3 * 1025 + 1)
    with Image.open(io.BytesIO(png)) as img:
        img.verify()


def test_libpng_reads_it_too():
    cv2 = pytest.importorskip("cv2")
    frame = random_frame(643, 401, seed=9, kind="blocks")
    for backend in BACKENDS:
        bgr = cv2.imdecode(np.frombuffer(encode_png(frame, backend=backend, threads=2), np.uint8), cv2.IMREAD_COLOR)
        assert np.array_equal(bgr, frame.array()[:, :, :3]), backend


def test_inputs_frame_bytes_and_array_agree():
    frame = random_frame(99, 41, seed=1)
    by_frame = encode_png(frame, threads=1)
    assert encode_png(frame.bgra, 99, 41, threads=1) == by_frame
    assert encode_png(memoryview(frame.bgra), 99, 41, threads=1) == by_frame
    assert encode_png(frame.array(), threads=1) == by_frame


def test_the_padding_byte_is_ignored():
    a = random_frame(64, 48, seed=2).array().copy()
    b = a.copy()
    a[..., 3] = 0
    b[..., 3] = 255
    assert decoded(encode_png(a)) == decoded(encode_png(b))


def test_deterministic_for_the_same_settings():
    frame = random_frame(512, 300, seed=4, kind="blocks")
    assert encode_png(frame, threads=2) == encode_png(frame, threads=2)


def test_bad_input_is_a_value_error():
    with pytest.raises(ValueError, match="needs"):
        encode_png(b"\0" * 10, 2, 2)
    with pytest.raises(ValueError, match="width and height"):
        encode_png(b"\0" * 16)
    with pytest.raises(ValueError, match="level"):
        encode_png(random_frame(2, 2), level=12)
    with pytest.raises(ValueError, match="not installed"):
        encode_png(random_frame(2, 2), backend="nope")
    with pytest.raises(ValueError, match="filter"):
        encode_png(random_frame(2, 2), filter="paeth")


def test_adler32_combine_matches_zlib():
    rng = random.Random(7)
    for _ in range(200):
        a = rng.randbytes(rng.randint(0, 5000))
        b = rng.randbytes(rng.randint(0, 70000))
        assert adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)


def test_recorded_episode_screenshots():
    for path in sorted((TESTS / "corpus" / "episodes" / "xterm-write").glob("step-*.png")):
        frame = Frame.open(path)
        assert decoded(encode_png(frame)) == frame.image().tobytes(), path


@pytest.fixture(scope="module")
def desktop_frame():
    """A real 1280×800 screen: xterm with some output and the OCR test app (a Tk window)."""
    with Sandbox(1280, 800) as sb:
        sb.launch(["xterm", "-title", "term", "-geometry", "100x30+0+0"])
        sb.wait_window("term")
        sb.act({"type": "type", "text": "ls -la /usr/bin | head -40\n"})
        start_ocr_app(sb)
        yield settle(sb.screenshot, quiet=0.3, timeout=5).frame


@pytest.mark.parametrize("backend", BACKENDS)
def test_real_desktop_screenshot(desktop_frame, backend):
    frame = desktop_frame
    png = encode_png(frame, backend=backend)
    assert decoded(png) == frame.image().tobytes()
    # no bigger than a quarter more than Pillow's level 1 (zlib-ng's level 2 is smaller than it)
    assert len(png) <= 1.25 * len(frame.png(1)), (len(png), len(frame.png(1)))


def test_default_backend_is_the_fastest_installed():
    assert default_backend().name == BACKENDS[0] and "zlib" in BACKENDS
