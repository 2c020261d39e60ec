"""Grounding datasets: ScreenSpot / ScreenSpot-v2 / ScreenSpot-Pro loaders, the benchmarks' metric and
breakdowns, and a generator of ScreenSpot-Pro-format sets from the sandbox.

- :mod:`tasks.grounding.datasets` — ``load_dataset(path, fmt="auto") -> Dataset`` of ``Sample`` records
  with boxes as ``(x1, y1, x2, y2)`` in original-image pixels whatever the file's convention.
- :mod:`tasks.grounding.metrics` — ``judge(point, bbox)``, ``compute_metrics(details)`` and ``render_tables``.
- :mod:`tasks.grounding.failures` — ``write_failures_html(details, path)``: the wrong predictions drawn.
- :mod:`tasks.grounding.generate` — ``generate_set(out, n, seed)`` (needs a real sandbox);
  :mod:`tasks.grounding.xterm_scene` runs inside its xterm windows.
"""

from __future__ import annotations

from tasks.grounding.datasets import FORMATS, Dataset, DatasetError, Sample, detect_format, load_dataset
from tasks.grounding.metrics import Correctness, Score, compute_metrics, judge, render_tables

__all__ = ["FORMATS", "Dataset", "DatasetError", "Sample", "detect_format", "load_dataset",
           "Correctness", "Score", "compute_metrics", "judge", "render_tables"]
