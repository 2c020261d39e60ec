"""Grounding: a description of one element ("the Save button") → the screen pixel to act on.

Scripted tasks list steps in words; a :class:`Grounder` turns each step's target into a point on the
live screen. Two kinds exist:

- :class:`VLMGrounder` (:mod:`agent.grounders.vlm`) asks a vision-language model behind any
  ``ModelClient`` with the profile's grounding prompt (ScreenSpot-style: one screenshot + one instruction → one point), within the
  context budget, and maps the model's point to screen pixels with the image's ``Transform``;
- :class:`OCRGrounder` (:mod:`agent.grounders.ocr`) reads the screen's text on the CPU and matches it
  (no model server).

``ground()`` answers only the point (None: not found); ``locate()`` answers the whole record — the
point, the raw reply, the latency and the details that explain it — for episodes and reports.
"""

from agent.grounders.base import Grounder, Grounding, Point
from agent.grounders.ocr import OCRGrounder
from agent.grounders.vlm import VLMGrounder

__all__ = ["Grounder", "Grounding", "OCRGrounder", "Point", "VLMGrounder"]
