"""``screenact export --format hf``: the exported samples as a Hugging Face ``datasets`` folder
(``Dataset.save_to_disk``; ``datasets.load_from_disk`` reads it back).

Columns: ``messages``, a list of ``{role, content}`` whose content is always a list of ``{type, text}``
parts (``type`` ``"image"`` with no text marks where an image goes, in order), and ``images``, the images
themselves (``datasets.Image``, their bytes embedded): the shape TRL's vision fine-tuning reads. Needs the
optional ``datasets`` package (``pip install 'screenact[hf]'``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.errors import UsageError

EXTRA = "pip install 'screenact[hf]'"


def require_datasets() -> None:
    """UsageError naming the extra when the ``datasets`` package is not installed."""
    try:
        import datasets  # noqa: F401
    except ImportError:
        raise UsageError(f"--format hf needs the Hugging Face datasets package: {EXTRA}") from None


def _parts(content: Any) -> list[dict[str, str | None]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [{"type": "image", "text": None} if p.get("type") == "image" else {"type": "text", "text": p.get("text", "")}
            for p in content]


def write_hf(stage: Path, out: Path) -> None:
    """Turn ``stage/data.jsonl`` and its images into a ``datasets`` folder at ``out``."""
    from datasets import Dataset, Features, Image, Sequence, Value

    from agent.export import DATA_FILE

    rows = []
    for line in (stage / DATA_FILE).read_text(encoding="utf-8").splitlines():
        sample = json.loads(line)
        rows.append({"messages": [{"role": m["role"], "content": _parts(m["content"])} for m in sample["messages"]],
                     "images": [{"bytes": (stage / rel).read_bytes(), "path": Path(rel).name} for rel in sample["images"]]})
    part = {"type": Value("string"), "text": Value("string")}
    features = Features({"messages": [{"role": Value("string"), "content": [part]}], "images": Sequence(Image())})
    Dataset.from_list(rows, features=features).save_to_disk(str(out))


__all__ = ["EXTRA", "require_datasets", "write_hf"]
