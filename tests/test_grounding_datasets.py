"""Loaders of ScreenSpot, ScreenSpot-v2 and ScreenSpot-Pro on fixture files in their real shapes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tasks.grounding import DatasetError, detect_format, load_dataset

CORPUS = Path(__file__).resolve().parent / "corpus" / "grounding"


def test_detects_each_format_from_the_folder():
    assert detect_format(CORPUS / "screenspot") == "screenspot"
    assert detect_format(CORPUS / "screenspot_v2") == "screenspot-v2"
    assert detect_format(CORPUS / "screenspot_pro") == "screenspot-pro"
    assert detect_format(CORPUS / "screenspot_v2" / "screenspot_web_v2.json") == "screenspot-v2"
    assert detect_format(CORPUS / "screenspot_pro" / "annotations" / "vscode_macos.json") == "screenspot-pro"


def test_unknown_folder_is_refused_with_a_hint(tmp_path):
    (tmp_path / "data.json").write_text("[]")
    with pytest.raises(DatasetError, match="pass --format"):
        detect_format(tmp_path)
    with pytest.raises(DatasetError, match="no such file"):
        detect_format(tmp_path / "missing")


def test_screenspot_boxes_are_xywh():
    ds = load_dataset(CORPUS / "screenspot")
    assert ds.format == "screenspot" and len(ds) == 6
    assert [p.name for p in ds.files] == ["screenspot_desktop.json", "screenspot_mobile.json", "screenspot_web.json"]
    s = next(s for s in ds.samples if s.instruction == "settings gear icon")
    assert s.raw_bbox == (10, 20, 40, 20)
    assert s.bbox == (10, 20, 50, 40)          # [x, y, w, h] -> (x1, y1, x2, y2)
    assert s.platform == "mobile" and s.application == "android" and s.ui_type == "icon" and s.group is None
    assert s.image_path == CORPUS / "screenspot" / "screenspot_imgs" / "mobile_7f3a.png"
    assert s.key == "screenspot_mobile#0"


def test_screenspot_v2_boxes_are_xywh():
    ds = load_dataset(CORPUS / "screenspot_v2")
    assert ds.format == "screenspot-v2" and len(ds) == 6
    s = next(s for s in ds.samples if s.instruction == "close window")
    assert s.bbox == (290, 4, 314, 28) and s.platform == "desktop" and s.application == "macos"
    assert s.image_path.parent.name == "screenspotv2_image"
    assert s.key == "screenspot_desktop_v2#1"


def test_screenspot_pro_boxes_are_xyxy():
    ds = load_dataset(CORPUS / "screenspot_pro")
    assert ds.format == "screenspot-pro" and len(ds) == 5
    s = next(s for s in ds.samples if s.instruction == "Run and Debug button")
    assert s.bbox == (500, 10, 580, 30) == s.raw_bbox
    assert (s.application, s.platform, s.group, s.ui_type) == ("vscode", "macos", "Dev", "text")
    assert s.img_size == (640, 360) and s.id == "vscode_macos_0"
    assert s.prompt("cn") == "运行和调试按钮" and s.prompt("en") == "Run and Debug button"
    assert s.image_path.is_file()


def test_explicit_format_and_single_file():
    ds = load_dataset(CORPUS / "screenspot_pro" / "annotations" / "photoshop_windows.json")
    assert len(ds) == 2 and ds.root == CORPUS / "screenspot_pro"
    ds = load_dataset(CORPUS / "screenspot_v2", "screenspot-v2")
    assert len(ds) == 6
    with pytest.raises(DatasetError, match="no screenspot annotation files"):
        load_dataset(CORPUS / "screenspot_pro", "screenspot")
    with pytest.raises(DatasetError, match="unknown dataset format"):
        load_dataset(CORPUS / "screenspot", "screenspot-3")


def _pro_copy(tmp_path: Path) -> Path:
    root = tmp_path / "pro"
    shutil.copytree(CORPUS / "screenspot_pro", root)
    return root


def _edit(file: Path, index: int, **changes) -> None:
    recs = json.loads(file.read_text())
    for k, v in changes.items():
        if v is ...:
            del recs[index][k]
        else:
            recs[index][k] = v
    file.write_text(json.dumps(recs))


@pytest.mark.parametrize("changes, field, message", [
    ({"bbox": [1, 2, 3]}, "bbox", "expected 4 numbers"),
    ({"bbox": [10, 10, 5, 20]}, "bbox", "x2 < x1"),
    ({"bbox": ["1", 2, 3, 4]}, "bbox[0]", "valid number"),
    ({"bbox": ...}, "bbox", "missing"),
    ({"ui_type": "button"}, "ui_type", "'text' or 'icon'"),
    ({"img_size": [640]}, "img_size", "at least 2"),
    ({"instruction": ""}, "instruction", "at least 1 character"),
    ({"img_filename": "nope/missing.png"}, "img_filename", "not found"),
    ({"application": 7}, "application", "valid string"),
])
def test_malformed_pro_record_names_file_index_and_field(tmp_path, changes, field, message):
    root = _pro_copy(tmp_path)
    file = root / "annotations" / "vscode_macos.json"
    _edit(file, 2, **changes)
    with pytest.raises(DatasetError) as info:
        load_dataset(root)
    err = info.value
    assert (err.file, err.index, err.field) == (file, 2, field)
    text = str(err)
    assert str(file) in text and "record 2" in text and repr(field) in text and message in text


def test_malformed_screenspot_record(tmp_path):
    root = tmp_path / "ss"
    shutil.copytree(CORPUS / "screenspot", root)
    file = root / "screenspot_web.json"
    _edit(file, 1, bbox=[1, 2, -3, 4])
    with pytest.raises(DatasetError, match=r"screenspot_web\.json: record 1: field 'bbox': .*negative size"):
        load_dataset(root)
    _edit(file, 1, bbox=[1, 2, 3, 4], data_type="image")
    with pytest.raises(DatasetError, match=r"record 1: field 'data_type'"):
        load_dataset(root)


def test_broken_files(tmp_path):
    root = tmp_path / "ss"
    root.mkdir()
    (root / "screenspot_web.json").write_text("[{\"img_filename\": ")
    with pytest.raises(DatasetError, match=r"screenspot_web\.json: not valid JSON"):
        load_dataset(root)
    (root / "screenspot_web.json").write_text("{\"records\": []}")
    with pytest.raises(DatasetError, match="expected a JSON list"):
        load_dataset(root)
    (root / "screenspot_web.json").write_text("[3]")
    with pytest.raises(DatasetError, match="record 0: expected a JSON object"):
        load_dataset(root)


def test_images_may_be_missing_when_not_checked(tmp_path):
    root = _pro_copy(tmp_path)
    shutil.rmtree(root / "images")
    ds = load_dataset(root, check_images=False)
    assert len(ds) == 5 and not ds.samples[0].image_path.exists()
