"""Coordinate spaces: the image-size rules models apply, and the transform model space <-> screen pixels.

Image rules (docs/model-interface.md §2 and §3):

- :func:`smart_resize` — Qwen2-VL / Qwen2.5-VL / UI-TARS: each side rounded to a multiple of
  ``factor`` with Python's ``round`` (half-to-even; the reference processors use ``round`` too, and
  UI-TARS-desktop issue 1730 shows that a half-up port lands on a different size for some inputs), then
  scaled by a square root into [min_pixels, max_pixels] (floor when shrinking, ceil when growing).
- :func:`moonvit_resize` / :func:`moonvit_tokens` — Kimi-VL's MoonViT: 14-px patches, a budget of
  ``in_token_limit`` patches, 2×2 merge so a token covers 28×28 px.

Model spaces (:data:`Space`): ``"normalized"`` (0–1 of the image, Kimi-VL), ``"thousand"`` (0–1000,
Qwen2-VL / Qwen3-VL / OS-Atlas), ``"pixels"`` (pixels of the image the model saw: the smart_resize size
for Qwen2.5-VL / UI-TARS, the sent size for computer_13).

Mapping to the screen scales by screen/extent and truncates, like pyautogui does with float
coordinates (``int(x)``); that is what makes the UI-TARS vector hold: model (197, 525) in a 1932×1092
image → screen (195, 519) on 1920×1080. A tiny epsilon keeps ``to_screen(to_model(p)) == p`` exact
despite float rounding.

Edge policy of :meth:`Transform.action_to_screen`: a point up to ``tolerance`` (a fraction of the
model extent, default 3 %) outside the image — padding to 28 px, ``1.002`` normalized — is clamped
to the nearest screen pixel; a point further out gives a :class:`tools.policy.Rejection` whose message
tells the model which range its coordinates must be in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from tools.actions import Action, Click, Drag, Move, Scroll
from tools.policy import Rejection

Space = Literal["normalized", "thousand", "pixels"]
"""A model's coordinate convention: 0–1, 0–1000, or pixels of the image it was shown."""

SPACES: tuple[str, ...] = ("normalized", "thousand", "pixels")
"""The values of :data:`Space`, for validation and messages."""

MOONVIT_PATCH = 14
"""MoonViT patch side in pixels."""
MOONVIT_MERGE = 2
"""MoonViT merges 2×2 patches into one LLM token (28×28 px)."""
MOONVIT_MAX_PATCHES_PER_SIDE = 512
"""A (padded) side reaching this many patches exceeds MoonViT's position embedding."""

_EPS = 1e-7


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _round_by(value: float, factor: int) -> int:
    return round(value / factor) * factor  # Python round: half-to-even (see module docstring)


def _floor_by(value: float, factor: int) -> int:
    return math.floor(value / factor) * factor


def _ceil_by(value: float, factor: int) -> int:
    return math.ceil(value / factor) * factor


def smart_resize(
    height: int,
    width: int,
    factor: int = 28,
    min_pixels: int = 4 * 28 * 28,
    max_pixels: int = 16384 * 28 * 28,
    max_ratio: float = 200,
) -> tuple[int, int]:
    """The (height, width) a Qwen2-VL-family processor resizes an image to (docs/model-interface.md §2).

    Each side becomes a multiple of ``factor``; the area lands within [min_pixels, max_pixels];
    the aspect ratio is kept as closely as that allows. Raises ValueError when the aspect ratio
    exceeds ``max_ratio`` or a size is not a positive integer. UI-TARS uses min_pixels=100·28·28.
    """
    _positive_int("height", height)
    _positive_int("width", width)
    _positive_int("factor", factor)
    if max(height, width) / min(height, width) > max_ratio:
        raise ValueError(f"aspect ratio must be at most {max_ratio}, got {max(height, width) / min(height, width):.1f}")
    h_bar = max(factor, _round_by(height, factor))
    w_bar = max(factor, _round_by(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, _floor_by(height / beta, factor))
        w_bar = max(factor, _floor_by(width / beta, factor))
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = _ceil_by(height * beta, factor)
        w_bar = _ceil_by(width * beta, factor)
    return h_bar, w_bar


def moonvit_resize(width: int, height: int, in_token_limit: int = 4096) -> tuple[int, int]:
    """The (width, height) MoonViT scales an image to before padding (docs/model-interface.md §2).

    When (W//14)·(H//14) exceeds ``in_token_limit`` the image is scaled by sqrt(limit/patches),
    keeping its aspect, and each side is truncated with ``int()`` — the rounding of the reference
    processor (Kimi-VL's ``KimiVLImageProcessor.rescale`` and vLLM's
    ``KimiVLProcessingInfo.get_num_image_tokens``). Raises ValueError when a padded side reaches
    512 patches (7168 px).
    """
    _positive_int("width", width)
    _positive_int("height", height)
    _positive_int("in_token_limit", in_token_limit)
    patches = (width // MOONVIT_PATCH) * (height // MOONVIT_PATCH)
    if patches > in_token_limit:
        scale = math.sqrt(in_token_limit / patches)
        width, height = max(1, int(width * scale)), max(1, int(height * scale))
    pw, ph = moonvit_padded(width, height)
    if pw // MOONVIT_PATCH >= MOONVIT_MAX_PATCHES_PER_SIDE or ph // MOONVIT_PATCH >= MOONVIT_MAX_PATCHES_PER_SIDE:
        raise ValueError(f"image {width}x{height} is too large for MoonViT: a side reaches {MOONVIT_MAX_PATCHES_PER_SIDE} patches")
    return width, height


def moonvit_padded(width: int, height: int) -> tuple[int, int]:
    """A scaled size padded right/bottom to multiples of 28 px (one merged token)."""
    unit = MOONVIT_PATCH * MOONVIT_MERGE
    return _ceil_by(width, unit), _ceil_by(height, unit)


def moonvit_tokens(width: int, height: int, in_token_limit: int = 4096) -> int:
    """LLM tokens one image costs Kimi-VL: 1920×1080 → 1032 at limit 4096, 2691 at 16384."""
    pw, ph = moonvit_padded(*moonvit_resize(width, height, in_token_limit))
    unit = MOONVIT_PATCH * MOONVIT_MERGE
    return (pw // unit) * (ph // unit)


@dataclass(frozen=True)
class Transform:
    """Maps points between a model's coordinate space and screen pixels.

    ``model_w``/``model_h`` are the size of the image the model saw, needed (only) for the
    ``"pixels"`` space. ``tolerance`` is how far outside the model image, as a fraction of its
    extent, a point may be and still be clamped onto the screen.
    """

    space: Space
    screen_w: int
    screen_h: int
    model_w: float | None = None
    model_h: float | None = None
    tolerance: float = 0.03

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise ValueError(f"space must be one of {', '.join(SPACES)}, got {self.space!r}")
        _positive_int("screen_w", self.screen_w)
        _positive_int("screen_h", self.screen_h)
        if self.space == "pixels":
            for name in ("model_w", "model_h"):
                value = getattr(self, name)
                if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
                    raise ValueError(f"{name} must be a positive size for pixel space, got {value!r}")
        if not (0 <= self.tolerance < 1):
            raise ValueError(f"tolerance must be in [0, 1), got {self.tolerance!r}")

    # -- constructors --------------------------------------------------------------------------

    @classmethod
    def for_image(cls, space: Space, screen_w: int, screen_h: int, sent_w: int, sent_h: int, **kw: float) -> "Transform":
        """The transform for an image of sent_w×sent_h (a capture of the whole screen) shown as is."""
        if space == "pixels":
            return cls(space, screen_w, screen_h, sent_w, sent_h, **kw)
        return cls(space, screen_w, screen_h, **kw)

    @classmethod
    def for_smart_resize(
        cls,
        screen_w: int,
        screen_h: int,
        sent_w: int,
        sent_h: int,
        factor: int = 28,
        min_pixels: int = 4 * 28 * 28,
        max_pixels: int = 16384 * 28 * 28,
        **kw: float,
    ) -> "Transform":
        """Pixel space of the smart_resize image the server makes from a sent_w×sent_h image (Qwen2.5-VL, UI-TARS)."""
        h, w = smart_resize(sent_h, sent_w, factor, min_pixels, max_pixels)
        return cls("pixels", screen_w, screen_h, w, h, **kw)

    # -- geometry ------------------------------------------------------------------------------

    @property
    def extent(self) -> tuple[float, float]:
        """The model-space size of the whole image: (1, 1), (1000, 1000) or (model_w, model_h)."""
        if self.space == "normalized":
            return (1.0, 1.0)
        if self.space == "thousand":
            return (1000.0, 1000.0)
        return (float(self.model_w), float(self.model_h))  # type: ignore[arg-type]

    def to_screen(self, x: float, y: float) -> tuple[int, int]:
        """The screen pixel for a model point, clamped onto the screen (ValueError if not finite)."""
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"point ({x}, {y}) is not finite")
        ex, ey = self.extent
        sx = math.floor(x * self.screen_w / ex + _EPS)
        sy = math.floor(y * self.screen_h / ey + _EPS)
        return (min(max(sx, 0), self.screen_w - 1), min(max(sy, 0), self.screen_h - 1))

    def to_model(self, x: float, y: float) -> tuple[float, float]:
        """The model-space point for a screen pixel (the left/top edge of that pixel)."""
        ex, ey = self.extent
        return (x * ex / self.screen_w, y * ey / self.screen_h)

    def inside(self, x: float, y: float) -> bool:
        """Whether a model point is inside the image, allowing ``tolerance``."""
        if not (math.isfinite(x) and math.isfinite(y)):
            return False
        ex, ey = self.extent
        return -self.tolerance * ex <= x <= (1 + self.tolerance) * ex and -self.tolerance * ey <= y <= (1 + self.tolerance) * ey

    def describe_range(self) -> str:
        """The valid range in words, for messages to the model."""
        if self.space == "normalized":
            return "coordinates are normalized: x and y must be between 0 and 1"
        if self.space == "thousand":
            return "coordinates are relative on a 0-1000 scale: x and y must be between 0 and 1000"
        ex, ey = self.extent
        return f"coordinates are pixels of the {ex:g}x{ey:g} screenshot: x must be 0-{ex:g} and y 0-{ey:g}"

    def action_to_screen(self, action: Action) -> Action | Rejection:
        """The action with every coordinate mapped to screen pixels, or a Rejection for a point far outside.

        Actions without coordinates (keys, text, waits, …) come back unchanged.
        """
        fields: tuple[tuple[str, str], ...]
        if isinstance(action, (Click, Move)):
            fields = (("x", "y"),)
        elif isinstance(action, Drag):
            fields = (("x1", "y1"), ("x2", "y2"))
        elif isinstance(action, Scroll) and action.x is not None and action.y is not None:
            fields = (("x", "y"),)
        else:
            return action
        update: dict[str, int] = {}
        for fx, fy in fields:
            x, y = getattr(action, fx), getattr(action, fy)
            if not self.inside(x, y):
                return Rejection(
                    f"{action.type} at ({x:g}, {y:g}) is outside the screenshot; {self.describe_range()}",
                    action.model_dump(),
                )
            update[fx], update[fy] = self.to_screen(x, y)
        return action.model_copy(update=update)
