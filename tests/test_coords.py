"""tools.coords: the image-size rules (docs/model-interface.md §2, §3) and the model <-> screen transform."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tools.actions import Click, Done, Drag, Key, Move, Scroll, TypeText, Wait
from tools.coords import Transform, moonvit_padded, moonvit_resize, moonvit_tokens, smart_resize
from tools.policy import Rejection

SCREENS = [(1920, 1080), (1280, 800), (3840, 2160), (1366, 768), (1023, 767), (7, 13), (1, 1), (2560, 1440)]


# -- smart_resize -----------------------------------------------------------------------------------

def test_smart_resize_reference_vector() -> None:
    assert smart_resize(1080, 1920) == (1092, 1932)


def test_ui_tars_point_maps_back_to_the_screen() -> None:
    t = Transform.for_smart_resize(1920, 1080, 1920, 1080, min_pixels=100 * 28 * 28)
    assert (t.model_w, t.model_h) == (1932, 1092)
    assert t.to_screen(197, 525) == (195, 519)


def test_smart_resize_rounds_half_to_even() -> None:
    # 70/28 = 2.5 and 126/28 = 4.5: Python's round gives 2 and 4 (half-up would give 3 and 5)
    assert smart_resize(70, 2800) == (56, 2800)
    assert smart_resize(126, 2800) == (112, 2800)


def test_smart_resize_shrinks_and_grows_into_the_pixel_bounds() -> None:
    h, w = smart_resize(4320, 7680)  # 8K: over max_pixels, floor
    assert h % 28 == 0 and w % 28 == 0 and h * w <= 16384 * 28 * 28
    assert (h, w) == (2688, 4760)
    h, w = smart_resize(10, 10, min_pixels=100 * 28 * 28)  # tiny: under min_pixels, ceil
    assert (h, w) == (280, 280)


def test_smart_resize_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(10, 2100)
    with pytest.raises(ValueError):
        smart_resize(0, 100)
    with pytest.raises(ValueError):
        smart_resize(100, -5)


@settings(max_examples=300, deadline=None)
@given(h=st.integers(1, 9000), w=st.integers(1, 9000), umin=st.sampled_from([4, 100]))
def test_smart_resize_properties(h: int, w: int, umin: int) -> None:
    assume(max(h, w) / min(h, w) <= 200)
    min_pixels, max_pixels = umin * 28 * 28, 16384 * 28 * 28
    rh, rw = smart_resize(h, w, min_pixels=min_pixels, max_pixels=max_pixels)
    assert rh % 28 == 0 and rw % 28 == 0 and rh >= 28 and rw >= 28
    assert rh * rw <= max_pixels
    if max(28, round(h / 28) * 28) * max(28, round(w / 28) * 28) <= max_pixels:
        assert rh * rw >= min_pixels  # only a shrink (floor) may end below min_pixels
    if min(h, w) >= 28:  # the aspect ratio survives up to the rounding of each side to 28 px
        assert abs(math.log(rw / rh) - math.log(w / h)) <= 2 * math.log(1 + 28 / min(rh, rw)) + 1e-9


# -- MoonViT -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "size, limit, scaled, padded, tokens",
    [
        ((1920, 1080), 4096, (1196, 672), (1204, 672), 1032),
        ((1920, 1080), 16384, (1920, 1080), (1932, 1092), 2691),
        ((2560, 1440), 4096, (1202, 676), (1204, 700), 1075),
        ((2560, 1440), 16384, (2404, 1352), (2408, 1372), 4214),
    ],
)
def test_moonvit_reference_vectors(size, limit, scaled, padded, tokens) -> None:  # noqa: ANN001
    assert moonvit_resize(*size, in_token_limit=limit) == scaled
    assert moonvit_padded(*scaled) == padded
    assert moonvit_tokens(*size, in_token_limit=limit) == tokens


def test_moonvit_rejects_sides_of_512_patches() -> None:
    assert moonvit_tokens(7140, 100, in_token_limit=16384) == 255 * 4  # 7140 px = 510 patches: fine
    with pytest.raises(ValueError, match="512"):
        moonvit_tokens(7200, 100, in_token_limit=16384)  # pads to 7224 px = 516 patches
    with pytest.raises(ValueError):
        moonvit_tokens(0, 100)


def _reference(w: int, h: int, limit: int) -> tuple[int, int, int]:
    """docs/model-interface.md §2 restated independently (vLLM's get_num_image_tokens rounding): tokens, padded w, h."""
    if (w // 14) * (h // 14) > limit:
        s = math.sqrt(limit / ((w // 14) * (h // 14)))
        w, h = int(w * s), int(h * s)
    pw, ph = -(-w // 28) * 28, -(-h // 28) * 28
    return (pw // 28) * (ph // 28), pw, ph


@settings(max_examples=300, deadline=None)
@given(w=st.integers(1, 7300), h=st.integers(1, 7300), limit=st.sampled_from([4096, 16384, 65536]))
def test_moonvit_tokens_match_the_rule(w: int, h: int, limit: int) -> None:
    tokens, pw, ph = _reference(w, h, limit)
    if max(pw, ph) // 14 >= 512:
        with pytest.raises(ValueError):
            moonvit_tokens(w, h, limit)
        return
    assert moonvit_tokens(w, h, limit) == tokens
    sw, sh = moonvit_resize(w, h, limit)
    assert sw <= w and sh <= h and moonvit_padded(sw, sh) == (pw, ph)


# -- Transform ---------------------------------------------------------------------------------------

def _transforms(sw: int, sh: int) -> list[Transform]:
    out = [Transform("normalized", sw, sh), Transform("thousand", sw, sh), Transform("pixels", sw, sh, sw, sh)]
    if sw >= 28 and sh >= 28 and max(sw, sh) / min(sw, sh) <= 200:
        out.append(Transform.for_smart_resize(sw, sh, sw, sh))
    out.append(Transform("pixels", sw, sh, max(1, sw // 2), max(1, sh // 3)))
    return out


@pytest.mark.parametrize("screen", SCREENS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_screen_pixel_round_trips_exactly(screen: tuple[int, int]) -> None:
    sw, sh = screen
    xs = sorted({0, 1, sw // 3, sw // 2, sw - 2, sw - 1} & set(range(sw)))
    ys = sorted({0, 1, sh // 3, sh // 2, sh - 2, sh - 1} & set(range(sh)))
    for t in _transforms(sw, sh):
        for x in xs:
            for y in ys:
                assert t.to_screen(*t.to_model(x, y)) == (x, y), (t, x, y)


@settings(max_examples=400, deadline=None)
@given(
    screen=st.sampled_from(SCREENS) | st.tuples(st.integers(1, 5000), st.integers(1, 5000)),
    fx=st.floats(0, 1, exclude_max=True),
    fy=st.floats(0, 1, exclude_max=True),
)
def test_model_points_round_trip_within_one_pixel(screen: tuple[int, int], fx: float, fy: float) -> None:
    sw, sh = screen
    for t in _transforms(sw, sh):
        ex, ey = t.extent
        x, y = fx * ex, fy * ey
        sx, sy = t.to_screen(x, y)
        assert 0 <= sx < sw and 0 <= sy < sh
        bx, by = t.to_model(sx, sy)
        # back within one screen pixel's size in model units (the pixel's left/top edge)
        assert bx <= x + 1e-6 * ex and x - bx <= ex / sw + 1e-6 * ex
        assert by <= y + 1e-6 * ey and y - by <= ey / sh + 1e-6 * ey
        sx2, sy2 = t.to_screen(bx, by)
        assert (sx2, sy2) == (sx, sy)


def test_spaces_agree_on_the_same_point() -> None:
    n = Transform("normalized", 1920, 1080)
    k = Transform("thousand", 1920, 1080)
    p = Transform.for_image("pixels", 1920, 1080, 960, 540)
    assert n.to_screen(0.5, 0.25) == k.to_screen(500, 250) == p.to_screen(480, 135) == (960, 270)
    assert n.to_model(960, 270) == (0.5, 0.25)
    assert Transform.for_image("normalized", 1920, 1080, 960, 540).model_w is None


def test_action_to_screen_maps_every_coordinate() -> None:
    t = Transform("normalized", 1920, 1080)
    assert t.action_to_screen(Click(x=0.5, y=0.5, button="right", clicks=2)) == Click(x=960, y=540, button="right", clicks=2)
    assert t.action_to_screen(Move(x=0.25, y=0.75)) == Move(x=480, y=810)
    assert t.action_to_screen(Drag(x1=0.1, y1=0.2, x2=0.3, y2=0.4)) == Drag(x1=192, y1=216, x2=576, y2=432)
    assert t.action_to_screen(Scroll(dy=-3, x=0.5, y=0.5)) == Scroll(dy=-3, x=960, y=540)
    mapped = t.action_to_screen(Click(x=0.5, y=0.5))
    assert isinstance(mapped.x, int) and isinstance(mapped.y, int)
    for action in (Scroll(dy=2), TypeText(text="hi"), Key(keys=["ctrl", "s"]), Wait(seconds=1), Done()):
        assert t.action_to_screen(action) is action


def test_slightly_outside_is_clamped_far_outside_is_rejected() -> None:
    t = Transform("normalized", 1920, 1080)
    assert t.action_to_screen(Click(x=1.002, y=-0.01)) == Click(x=1919, y=0)
    assert t.action_to_screen(Click(x=1.0, y=1.0)) == Click(x=1919, y=1079)
    far = t.action_to_screen(Click(x=960, y=540))
    assert isinstance(far, Rejection)
    assert "between 0 and 1" in far.message and far.action == Click(x=960, y=540).model_dump()
    drag = t.action_to_screen(Drag(x1=0.1, y1=0.1, x2=0.5, y2=1.4))
    assert isinstance(drag, Rejection)
    thousand = Transform("thousand", 1920, 1080).action_to_screen(Move(x=1200, y=10))
    assert isinstance(thousand, Rejection) and "1000" in thousand.message
    pixels = Transform.for_smart_resize(1920, 1080, 1920, 1080).action_to_screen(Click(x=2500, y=10))
    assert isinstance(pixels, Rejection) and "1932x1092" in pixels.message
    # padding to 28 px: a point in the pad of the smart_resize image is clamped, not rejected
    assert Transform.for_smart_resize(1920, 1080, 1920, 1080).action_to_screen(Click(x=1940, y=1100)) == Click(x=1919, y=1079)


def test_transform_validates_its_fields() -> None:
    with pytest.raises(ValueError):
        Transform("inches", 1920, 1080)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Transform("pixels", 1920, 1080)
    with pytest.raises(ValueError):
        Transform("normalized", 0, 1080)
    with pytest.raises(ValueError):
        Transform("normalized", 1920, 1080).to_screen(float("nan"), 0)
