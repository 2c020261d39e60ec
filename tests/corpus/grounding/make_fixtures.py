"""Regenerate the grounding fixture datasets (tiny PNGs + annotation files in each benchmark's real shape).

    .venv/bin/python tests/corpus/grounding/make_fixtures.py

Deterministic: the same files every time. Each element is drawn as a filled rectangle with its label,
exactly at its box, so a failures page shows something meaningful.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
PALETTE = [(66, 133, 244), (219, 68, 55), (244, 180, 0), (15, 157, 88), (171, 71, 188), (0, 172, 193)]


def draw(path: Path, size: tuple[int, int], boxes: list[tuple[list[float], str]]) -> None:
    """An image of ``size`` with each (x1, y1, x2, y2) box filled and labelled."""
    img = Image.new("RGB", size, (245, 245, 245))
    d = ImageDraw.Draw(img)
    for i, (box, label) in enumerate(boxes):
        x1, y1, x2, y2 = box
        d.rectangle([x1, y1, max(x1, x2 - 1), max(y1, y2 - 1)], fill=PALETTE[i % len(PALETTE)])
        d.text((x1 + 2, y1 + 1), label[:12], fill=(255, 255, 255))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, optimize=True)


def write_json(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- ScreenSpot (SeeClick): bbox [x, y, w, h]
SS = {
    "mobile": ("mobile_7f3a.png", (120, 240), [
        ([10, 20, 40, 20], "settings gear icon", "icon", "android"),
        ([60, 200, 50, 24], "Send button", "text", "ios"),
    ]),
    "desktop": ("pc_1c2d.png", (320, 180), [
        ([8, 8, 60, 16], "File menu", "text", "windows"),
        ([290, 4, 24, 24], "close window", "icon", "macos"),
    ]),
    "web": ("web_9e01.png", (320, 200), [
        ([100, 60, 120, 30], "search box", "icon", "shop"),
        ([20, 150, 80, 20], "Sign in link", "text", "forum"),
    ]),
}


def screenspot(root: Path, images: str, suffix: str) -> None:
    for split, (img, size, elems) in SS.items():
        recs = [{"img_filename": img, "bbox": b, "instruction": ins, "data_type": t, "data_source": src}
                for b, ins, t, src in elems]
        write_json(root / f"screenspot_{split}{suffix}.json", recs)
        draw(root / images / img, size, [([x, y, x + w, y + h], ins) for (x, y, w, h), ins, _, _ in elems])


# ---------------------------------------------------------------- ScreenSpot-Pro: bbox [x1, y1, x2, y2]
PRO = {
    ("vscode", "macos", "Dev"): ("vscode_macos/screenshot_2024-11-02_10-01-01.png", (640, 360), [
        ([500, 10, 580, 30], "Run and Debug button", "运行和调试按钮", "text"),
        ([20, 100, 44, 124], "the explorer icon in the activity bar", "活动栏中的资源管理器图标", "icon"),
        ([300, 200, 300, 200], "a zero-size box", "零尺寸框", "icon"),
    ]),
    ("photoshop", "windows", "Creative"): ("photoshop_windows/screenshot_2024-11-05_16-20-11.png", (640, 360), [
        ([30, 40, 130, 70], "Layers panel tab", "图层面板选项卡", "text"),
        ([600, 300, 632, 332], "zoom tool", "缩放工具", "icon"),
    ]),
}


def screenspot_pro(root: Path) -> None:
    for (app, plat, group), (img, size, elems) in PRO.items():
        recs = [{"img_filename": img, "bbox": b, "instruction": ins, "instruction_cn": cn, "id": f"{app}_{plat}_{i}",
                 "application": app, "platform": plat, "img_size": list(size), "ui_type": t, "group": group}
                for i, (b, ins, cn, t) in enumerate(elems)]
        write_json(root / "annotations" / f"{app}_{plat}.json", recs)
        draw(root / "images" / img, size, [(b, ins) for b, ins, _, _ in elems])


if __name__ == "__main__":
    screenspot(HERE / "screenspot", "screenspot_imgs", "")
    screenspot(HERE / "screenspot_v2", "screenspotv2_image", "_v2")
    screenspot_pro(HERE / "screenspot_pro")
    print("fixtures written under", HERE)
