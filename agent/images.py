"""Image preparation for the model: which size to send, how to encode it, what it costs in tokens.

A profile owns one ``ImageRule``. ``prepare_image`` turns a native ``Frame`` into a ``ModelImage``:
the encoded bytes actually sent, their size, the exact number of image tokens the server will spend
on them, and the ``Transform`` between the model's coordinates and screen pixels.

- MoonViT (Kimi-VL) is native-resolution: the screenshot goes out unchanged and the server scales
  it to the per-image patch budget, so the token count follows the MoonViT rule.
- smart_resize models (Qwen2.5-VL, UI-TARS-1.5) answer in pixels of the resized image, so we resize
  to exactly that size before sending; the server's own resize is then the identity and the model's
  pixel coordinates refer to the image we hold.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Literal, Protocol

if TYPE_CHECKING:  # tools.coords is imported where used, so message helpers load without it
    from PIL import Image as PILImage

    from tools.coords import Space, Transform
    from tools.frame import Frame

Encoding = Literal["png", "jpeg"]


class ImageRule(Protocol):
    """How a model family sizes an image and counts its tokens."""

    def sent_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of the image we send for a screen of this size."""
        ...

    def tokens(self, width: int, height: int) -> int:
        """Image tokens the server spends on a screenshot of this native size."""
        ...


@dataclass(frozen=True)
class MoonViTRule:
    """Kimi-VL: send native pixels; tokens by MoonViT's patch budget (``in_token_limit`` 14-px patches)."""

    in_token_limit: int = 4096

    def sent_size(self, width: int, height: int) -> tuple[int, int]:
        return width, height

    def tokens(self, width: int, height: int) -> int:
        from tools.coords import moonvit_tokens

        return moonvit_tokens(width, height, self.in_token_limit)


@dataclass(frozen=True)
class SmartResizeRule:
    """Qwen-VL family: sides rounded to ``factor`` within [min_pixels, max_pixels]; one token per factor² px.

    ``resize=True`` sends the image already at the smart_resize size (needed when the model answers
    in pixels of that image); ``resize=False`` sends native pixels and leaves resizing to the server
    (fine for relative coordinates).
    """

    factor: int = 28
    min_pixels: int = 4 * 28 * 28
    max_pixels: int = 16384 * 28 * 28
    resize: bool = True

    def _size(self, width: int, height: int) -> tuple[int, int]:
        from tools.coords import smart_resize

        h, w = smart_resize(height, width, factor=self.factor, min_pixels=self.min_pixels, max_pixels=self.max_pixels)
        return w, h

    def sent_size(self, width: int, height: int) -> tuple[int, int]:
        return self._size(width, height) if self.resize else (width, height)

    def tokens(self, width: int, height: int) -> int:
        w, h = self._size(width, height)
        return (w // self.factor) * (h // self.factor)


@dataclass(frozen=True)
class ModelImage:
    """An encoded screenshot as sent to the model, with its cost and coordinate transform."""

    data: bytes = field(repr=False)
    mime: str
    width: int
    height: int
    screen_width: int
    screen_height: int
    transform: Transform
    image_tokens: int
    encode_s: float = 0.0

    @property
    def sent_size(self) -> tuple[int, int]:
        return (self.width, self.height)

    @property
    def screen_size(self) -> tuple[int, int]:
        return (self.screen_width, self.screen_height)

    @property
    def png(self) -> bytes | None:
        """The PNG bytes, when the image was encoded as PNG."""
        return self.data if self.mime == "image/png" else None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"

    def content_part(self) -> dict:
        """The OpenAI chat content part carrying this image (a data URL)."""
        return {"type": "image_url", "image_url": {"url": self.data_url()}}


def encode(image: "PILImage.Image", encoding: Encoding = "png", *, png_level: int = 1, jpeg_quality: int = 85) -> bytes:
    """PNG (lossless; level 1 is several times faster than the default) or JPEG bytes of an RGB image."""
    buf = io.BytesIO()
    if encoding == "png":
        image.save(buf, format="PNG", compress_level=png_level)
    elif encoding == "jpeg":
        image.convert("RGB").save(buf, format="JPEG", quality=jpeg_quality)
    else:
        raise ValueError(f"unknown image encoding {encoding!r}; use 'png' or 'jpeg'")
    return buf.getvalue()


def prepare_image(
    frame: Frame,
    rule: ImageRule,
    space: Space,
    *,
    encoding: Encoding = "png",
    png_level: int = 1,
    jpeg_quality: int = 85,
) -> ModelImage:
    """Resize (if the rule says so) and encode a frame; attach its token cost and Transform."""
    from PIL import Image

    from tools.coords import Transform

    started = time.perf_counter()
    sw, sh = frame.width, frame.height
    tw, th = rule.sent_size(sw, sh)
    if (tw, th) == (sw, sh) and encoding == "png":
        from tools.png import encode_png

        data = encode_png(frame)
    else:
        img = frame.image()
        if (tw, th) != (sw, sh):
            img = img.resize((tw, th), Image.Resampling.BICUBIC)
        data = encode(img, encoding, png_level=png_level, jpeg_quality=jpeg_quality)
    return ModelImage(
        data=data,
        mime="image/png" if encoding == "png" else "image/jpeg",
        width=tw,
        height=th,
        screen_width=sw,
        screen_height=sh,
        transform=Transform.for_image(space, sw, sh, tw, th),
        image_tokens=rule.tokens(sw, sh),
        encode_s=time.perf_counter() - started,
    )


# ---------------------------------------------------------------------- message helpers
def decode_data_url(url: str) -> tuple[str, bytes]:
    """(mime, bytes) of a base64 data URL; ValueError for anything else."""
    if not url.startswith("data:"):
        raise ValueError(f"not a data URL: {url[:40]!r}")
    header, sep, payload = url.partition(",")
    if not sep or ";base64" not in header:
        raise ValueError("only base64 data URLs are supported")
    try:
        return header[5:].split(";")[0] or "application/octet-stream", base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"invalid base64 in data URL: {e}") from e


def image_size(url: str) -> tuple[int, int]:
    """(width, height) of the image in a data: or file:// URL, reading only its header where possible."""
    from PIL import Image

    if url.startswith("file://"):
        from urllib.parse import unquote, urlparse

        with Image.open(unquote(urlparse(url).path)) as img:
            return img.size
    header, sep, payload = url.partition(",")
    if not url.startswith("data:") or not sep or ";base64" not in header:
        raise ValueError(f"cannot size image {url[:40]!r}: only base64 data: and file:// URLs are supported")
    # PNG and most JPEGs state their size in the first bytes: decode a prefix first, all of it if needed.
    for chunk in (payload[:8192], payload):
        try:
            raw = base64.b64decode(chunk[: len(chunk) // 4 * 4], validate=True)
            with Image.open(io.BytesIO(raw)) as img:
                return img.size
        except Exception:  # truncated header or not an image yet: try the whole payload
            if chunk is payload:
                raise ValueError("the data URL does not hold a readable image") from None
    raise AssertionError("unreachable")


def iter_image_parts(messages: list[dict]) -> Iterator[dict]:
    """Every ``image_url`` content part in the messages, in order."""
    for msg in messages:
        content = msg.get("content")
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "image_url":
                    yield part


def count_images(messages: list[dict]) -> int:
    return sum(1 for _ in iter_image_parts(messages))


def strip_images(messages: list[dict], placeholder: str | None = None) -> list[dict]:
    """A copy without image parts (each replaced by a text part ``placeholder`` when given)."""
    out = []
    for msg in messages:
        content = msg.get("content")
        if isinstance(content, list):
            parts = []
            for part in content:
                if isinstance(part, dict) and part.get("type") == "image_url":
                    if placeholder is not None:
                        parts.append({"type": "text", "text": placeholder})
                else:
                    parts.append(part)
            msg = {**msg, "content": parts if parts else ""}
        out.append(msg)
    return out


_EXT = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}


def messages_with_file_urls(messages: list[dict], directory: str | Path) -> list[dict]:
    """A copy whose data-URL images are written to ``directory`` and referenced as ``file://`` URLs.

    Files are named by content hash, so a screenshot repeated in history is written once. Only for
    servers started with ``--allowed-local-media-path`` covering ``directory``.
    """
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    out = copy.deepcopy(messages)
    for part in iter_image_parts(out):
        url = part.get("image_url", {}).get("url", "")
        if not url.startswith("data:"):
            continue
        mime, data = decode_data_url(url)
        path = directory / f"{hashlib.sha256(data).hexdigest()[:24]}{_EXT.get(mime, '.bin')}"
        if not path.exists():
            tmp = path.with_suffix(path.suffix + ".part")
            tmp.write_bytes(data)
            tmp.replace(path)
        part["image_url"] = {**part["image_url"], "url": path.as_uri()}
    return out
