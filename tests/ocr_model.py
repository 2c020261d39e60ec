"""A ``ModelClient`` that answers grounding requests with the OCR grounder, in Kimi-VL's reply shape.

Tests use it to drive the model path (prompt → reply → ``parse_point`` → Transform) without a model
server: the reply clicks the found element in normalized coordinates, or says ``FAIL`` when nothing
matches.
"""

from __future__ import annotations

import io
import time
from typing import Any

from PIL import Image

from agent.grounders.ocr import OCRGrounder
from agent.images import decode_data_url
from agent.models.base import ModelError, Reply
from tools.frame import Frame


def _last_user_turn(messages: list[dict]) -> tuple[str | None, str]:
    """(image data URL, instruction text) of the last user turn that has a content list."""
    url, text = None, ""
    for msg in reversed(messages):
        if msg.get("role") != "user" or not isinstance(msg.get("content"), list):
            continue
        for part in msg["content"]:
            if part.get("type") == "image_url":
                url = part.get("image_url", {}).get("url")
            elif part.get("type") == "text":
                text += part.get("text", "")
        break
    for marker in ("## Task Instruction:", "<instruction>"):
        if marker in text:
            text = text.split(marker, 1)[1]
    return url, text.strip()


class OCRModel:
    """Answers grounding messages like a Kimi-VL model would, by asking ``grounder``."""

    name = "ocr"
    backend = "ocr"

    def __init__(self, grounder: OCRGrounder) -> None:
        self.grounder = grounder

    async def complete(self, messages: list[dict], **sampling: Any) -> Reply:
        """Ground the last user turn's instruction on its screenshot; sampling parameters are ignored."""
        started = time.perf_counter()
        url, instruction = _last_user_turn(messages)
        if not url:
            raise ModelError("the OCR model needs a user turn with a screenshot (a data: URL image)")
        _, data = decode_data_url(url)
        with Image.open(io.BytesIO(data)) as img:
            frame = Frame.from_image(img)
        g = await self.grounder.locate(frame, instruction)
        if g.point is None:
            text = (f"## Action:\nThe element \"{instruction}\" is not on the screen ({g.details.get('reason')}).\n"
                    "## Code:\n```python\nFAIL\n```")
        else:
            nx, ny = (g.point.x + 0.5) / frame.width, (g.point.y + 0.5) / frame.height
            text = (f"## Action:\nclick {g.details.get('matched', instruction)!r}\n"
                    f"## Code:\n```python\npyautogui.click(x={nx:.4f}, y={ny:.4f})\n```")
        return Reply.build(text, None, latency_s=time.perf_counter() - started, model="ocr", finish_reason="stop")
