"""OCRGrounder on real Tk windows in a real sandbox (1280×800), plus its text and pixel rules.

OCR costs about a second or two a frame on 2 cores, so the sandbox screenshot is read once per module:
every grounding test below shares one frame and one grounder, and the cache is checked to prove it.
"""

from __future__ import annotations

import asyncio
import sys
import time

import pytest
from PIL import Image, ImageDraw, ImageFont

from agent.grounders import Grounder, Point
from agent.grounders.ocr import (
    INSTALL_HINT,
    OCRGrounder,
    OCRUnavailable,
    find_entry_right_of,
    match_score,
    normalize,
    parse_target,
)
from agent.profiles import get_profile
from agent.prompts import build_grounding_messages
from sandbox import Sandbox
from tests.ocr_desktop import read_boxes, start_ocr_app
from tests.ocr_model import OCRModel
from tools.frame import Frame
from tools.parse import parse_point
from tools.settle import settle

pytest.importorskip("rapidocr_onnxruntime")

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


class Desktop:
    """The OCR test app on a 1280×800 sandbox, its settled screenshot and the widget boxes it reported."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        sb.launch(["xterm", "-title", "term", "-geometry", "100x20+0+0"])  # other text on screen
        start_ocr_app(sb)
        self.frame = settle(sb.screenshot, quiet=0.3, timeout=5).frame
        self.widgets = self.state()["widgets"]

    def state(self) -> dict:
        """The app's latest report of its widgets and focus."""
        return read_boxes(self.sb)

    def box(self, wid: str) -> list[int]:
        return self.widgets[wid]["box"]

    def inside(self, point: Point | None, wid: str) -> bool:
        x1, y1, x2, y2 = self.box(wid)
        return point is not None and x1 <= point.x < x2 and y1 <= point.y < y2


@pytest.fixture(scope="module")
def desktop():
    with Sandbox(1280, 800) as sb:
        yield Desktop(sb)


@pytest.fixture(scope="module")
def grounder():
    return OCRGrounder()


def locate(grounder: OCRGrounder, frame: Frame, description: str, **kw):
    return asyncio.run(grounder.locate(frame, description, **kw))


# ---------------------------------------------------------------------- on the live desktop
@pytest.mark.parametrize("description,widget", [
    ("Save", "save"),
    ("the Save button", "save"),            # exact "Save" beats the prefix match "Save As…"
    ("click the Save button", "save"),
    ("Cancel", "cancel"),
    ("Save As…", "save_as"),
    ("the Open File button", "open_file"),  # "Open" is also a verb: the gentler reading wins
    ("the Remember me checkbox", "remember"),
    ("保存", "cn_save"),
    ("点击 取消 按钮", "cn_cancel"),
    ("Name field", "name_entry"),           # the label is OCR'd, the click lands in the entry beside it
    ("the Email field", "email_entry"),     # an entry with text in it
    ("the Phone number field", "phone_entry"),
    ("the Company field", "company_entry"),  # a themed (ttk) entry: light right/bottom border
    ("姓名 输入框", "cn_name_entry"),
    ("“邮箱地址”输入框", "cn_email_entry"),
    ("type 'Alice' into the Name field", "name_entry"),
    ("the 7 button", "key_0"),              # lone glyphs the text detector misses: the glyph pass
    ("+", "key_2"),
    ("the − key", "key_3"),
    ("=", "key_4"),
])
def test_finds_the_widget(desktop, grounder, description, widget):
    g = locate(grounder, desktop.frame, description)
    assert desktop.inside(g.point, widget), (description, g.point, desktop.box(widget), g.details)
    assert g.grounder == "ocr" and g.reply is None and g.details["score"] >= grounder.threshold


def test_fields_use_the_entry_rectangle(desktop, grounder):
    g = locate(grounder, desktop.frame, "the Name field")
    assert g.details["rule"] == "entry-box" and g.details["field"] is True
    entry = desktop.box("name_entry")
    assert all(abs(a - b) <= 2 for a, b in zip(g.details["entry_box"], entry)), (g.details["entry_box"], entry)


@pytest.mark.parametrize("description", ["the Delete button", "删除", "OK", "Preferences menu"])
def test_text_not_on_screen_is_none(desktop, grounder, description):
    g = locate(grounder, desktop.frame, description)
    assert g.point is None and "no text on screen matches" in g.details["reason"]


def test_several_steps_on_one_frame_run_ocr_once(desktop, grounder):
    locate(grounder, desktop.frame, "Save")
    runs = grounder.ocr_runs
    for d in ("Cancel", "Name field", "保存"):
        assert locate(grounder, desktop.frame, d).details["cached"] is True
    # the same pixels in another Frame object (a second screenshot of a still screen) hit the cache too
    copy = Frame(desktop.frame.width, desktop.frame.height, bytes(desktop.frame.bgra))
    assert locate(grounder, copy, "Cancel").details["cached"] is True
    # (earlier tests' misses on this frame were checked on a whole read too: that read is cached as well)
    assert grounder.ocr_runs == runs <= 2
    assert grounder.glyph_runs <= 1  # the glyph pass (for short targets) is cached the same way


def test_region_reads_only_part_of_the_screen(desktop, grounder):
    x1, y1, x2, y2 = desktop.box("cancel")
    region = (x1 - 150, y1 - 10, x2 + 10, y2 + 10)
    g = locate(grounder, desktop.frame, "Cancel", region=region)
    assert desktop.inside(g.point, "cancel") and g.details["cached"] is False
    read = grounder.read(desktop.frame, region)  # the read just made (a cache hit): nothing outside the region
    assert read and all(region[0] <= b.box[0] and region[1] <= b.box[1] and b.box[2] <= region[2] and b.box[3] <= region[3]
                        for b in read), (region, [b.box for b in read])
    assert locate(grounder, desktop.frame, "Open File", region=region).point is None


def test_as_a_model_client_for_a_normalized_profile(desktop, grounder):
    profile = get_profile("kimi-vl-thinking")
    image = profile.prepare(desktop.frame)
    locate(grounder, desktop.frame, "Cancel")
    runs = grounder.ocr_runs
    reply = asyncio.run(OCRModel(grounder).complete(build_grounding_messages(profile, image, "the Cancel button"), temperature=0))
    point = parse_point(reply.text, profile.fmt)
    assert point is not None and "## Code:" in reply.text
    assert grounder.ocr_runs == runs  # the PNG a model gets decodes to the same pixels: a cache hit
    assert desktop.inside(Point(*image.transform.to_screen(*point)), "cancel")
    missing = asyncio.run(OCRModel(grounder).complete(build_grounding_messages(profile, image, "the Delete button")))
    assert parse_point(missing.text, profile.fmt) is None


def test_click_on_the_field_point_focuses_the_entry(desktop, grounder):
    point = asyncio.run(grounder.ground(desktop.frame, "type 'Alice' into the Phone number field"))
    desktop.sb.act({"type": "click", "x": point.x, "y": point.y})
    desktop.sb.act({"type": "type", "text": "Alice 张"})
    deadline = time.monotonic() + 5
    while True:
        state = desktop.state()
        if state["focus"] == "phone_entry" and state["widgets"]["phone_entry"]["value"] == "Alice 张":
            break
        assert time.monotonic() < deadline, state["focus"]
        time.sleep(0.05)


def test_grounder_protocol(grounder):
    assert isinstance(grounder, Grounder) and grounder.name == "ocr"


# ---------------------------------------------------------------------- a synthetic screen
def _label_frame(entry: bool) -> tuple[Frame, tuple[int, int, int, int] | None]:
    img = Image.new("RGB", (480, 120), (246, 245, 244))
    d = ImageDraw.Draw(img)
    d.text((20, 44), "Address", font=ImageFont.truetype(FONT, 18), fill=(30, 30, 30))
    box = None
    if entry:
        box = (150, 36, 420, 72)
        d.rectangle(box, fill=(255, 255, 255), outline=(200, 196, 192))
    return Frame.from_image(img), box


def test_field_without_a_box_falls_back_to_the_label_offset():
    grounder = OCRGrounder(field_offset=50)
    frame, _ = _label_frame(entry=False)
    g = locate(grounder, frame, "the Address field")
    assert g.details["rule"] == "label-offset"
    assert g.point == Point(g.details["box"][2] + 50, (g.details["box"][1] + g.details["box"][3]) // 2)
    frame, box = _label_frame(entry=True)
    g = locate(grounder, frame, "the Address field")
    assert g.details["rule"] == "entry-box" and g.details["entry_box"] == [150, 36, 421, 73]
    assert g.point == Point(285, 54)


def test_scaled_ocr_maps_boxes_back_to_screen_pixels():
    frame, _ = _label_frame(entry=False)
    full = locate(OCRGrounder(), frame, "Address").details["box"]
    half = locate(OCRGrounder(scale=0.75), frame, "Address").details["box"]
    assert all(abs(a - b) <= 4 for a, b in zip(full, half)), (full, half)


# ---------------------------------------------------------------------- pure rules
def test_find_entry_right_of_on_drawn_boxes():
    import numpy as np

    gray = np.full((100, 400), 236, dtype=np.int16)
    label = (10, 40, 60, 62)
    assert find_entry_right_of(gray, label) is None
    gray[36:66, 100] = 150          # left border
    gray[36:66, 101:300] = 255      # white inside
    gray[36, 100:301] = 150
    gray[65, 100:301] = 150
    gray[36:66, 300] = 150          # right border
    gray[45:55, 110:118] = 0        # a typed glyph inside does not stop the scan
    assert find_entry_right_of(gray, label) == (100, 36, 301, 66)
    # a glyph-high stroke right of the label is not a box
    gray2 = np.full((100, 400), 236, dtype=np.int16)
    gray2[44:58, 80] = 0
    assert find_entry_right_of(gray2, label) is None


@pytest.mark.parametrize("description,text,field", [
    ("the Save button", "Save", False),
    ("click the Save button", "Save", False),
    ("Save", "Save", False),
    ("the Name field", "Name", True),
    ("Name field", "Name", True),
    ("type 'Alice' into the Email field", "Email", True),
    ("the 'Save As…' button", "Save As…", False),
    ("点击 保存 按钮", "保存", False),
    ("点击取消", "取消", False),
    ("Email 输入框", "Email", True),
    ("“姓名”输入框", "姓名", True),
    ("在 邮箱地址 输入框 中输入 abc", "邮箱地址", True),
    ("the Remember me check box", "Remember me", False),
    ("the Phone number text field", "Phone number", True),
    ("the text box labelled Phone number", "Phone number", True),
    ("the Save button in the toolbar", "Save", False),
    ("File menu item", "File", False),
    ("the Country dropdown", "Country", True),
    ("the Settings tab", "Settings", False),
])
def test_parse_target(description, text, field):
    target = parse_target(description)
    assert (target.text, target.field) == (text, field)


def test_parse_target_keeps_gentler_readings():
    assert "Open File" in parse_target("the Open File button").texts
    assert "Add Item" in parse_target("Add Item").texts


@pytest.mark.parametrize("target,text,kind,at_least,below", [
    ("Save", "Save", "exact", 1.0, 1.01),
    ("save", "SAVE", "exact", 1.0, 1.01),
    ("Name", "Name:", "exact", 1.0, 1.01),
    ("Save As…", "Save As...", "exact", 1.0, 1.01),
    ("Remember me", "Rememberme", "exact", 1.0, 1.01),
    ("ＯＫ", "OK", "exact", 1.0, 1.01),            # full-width folds to ASCII (NFKC)
    ("Save", "Save As...", "words", 0.85, 1.0),
    ("export", "Ready to export the report", "words", 0.85, 1.0),
    ("保存", "保存为", "words", 0.85, 1.0),
    ("Open File", "0pen File", "fuzzy", 0.7, 0.85),  # an OCR slip still matches
    ("Save", "Sale", "fuzzy", 0.0, 0.7),             # a different short word does not
    ("OK", "Look", "fuzzy", 0.0, 0.7),
])
def test_match_score(target, text, kind, at_least, below):
    score, k = match_score(target, text)
    assert k == kind and at_least <= score < below, (score, k)


def test_normalize():
    assert normalize("  Save  As… ") == "save as"
    assert normalize("邮箱地址：") == "邮 箱 地 址"


def test_missing_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)  # makes the import fail
    with pytest.raises(OCRUnavailable) as err:
        OCRGrounder()
    assert INSTALL_HINT in str(err.value) and isinstance(err.value, ImportError)
