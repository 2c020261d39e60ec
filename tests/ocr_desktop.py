"""The OCR test app (tests/ocr_app.py) on a sandbox desktop: start it, and read the widget boxes it reports.

Shared by the OCR and PNG tests and their benchmarks, which all need the same realistic screen.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from sandbox import Sandbox

APP = Path(__file__).resolve().parent / "ocr_app.py"
BOXES = "/tmp/ocr-app-boxes.json"


def read_boxes(sb: Sandbox, timeout: float = 10.0) -> dict:
    """The app's latest report (``{"ready", "screen", "focus", "widgets"}``), waiting for its first one."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return json.loads(sb.read_file(BOXES))
        except Exception:  # not written yet, or caught between write and rename
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def start_ocr_app(sb: Sandbox) -> dict:
    """Launch the app, wait until its window is up and it has reported its boxes; its report."""
    sb.launch([sys.executable, "-c", APP.read_text(), BOXES])  # tests/ is not visible inside the sandbox
    sb.wait_window("ocr-app")
    return read_boxes(sb)
