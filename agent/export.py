"""Episodes out as fine-tuning data: one JSONL sample per model step, ``{"messages": [...], "images": [...]}``.

Each sample is a prompt with a target. By default the prompt is the request exactly as the model saw it
(system prompt, instruction, the history the context budget kept) and the target the model's reply
(``raw``), or the thought and the validated actions re-rendered in the episode's profile's format
(``canonical``). ``profile_name`` re-renders the whole sample for another model family: prompt, images and
target as that profile would have had them (:mod:`agent.export_render`). Images are written beside the
JSONL under ``images/`` (once each: identical images share a file) and named in order in ``images``; in the
messages each stands as ``{"type": "image"}``, the shape VLM fine-tuning tools read. ``fmt="hf"`` writes a
Hugging Face ``datasets`` folder instead (:mod:`agent.export_hf`).

Episode folders are foreign input: a frame is copied only when it is a regular file inside its episode
folder.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agent.episode import STEPS_FILE, Episode, load_episode
from agent.errors import UsageError
from agent.export_render import FRAME_ERRORS, Rendered, inside, open_frame, render_episode, target_of
from agent.profiles import PROFILES, Profile, get_profile
from agent.step import StepRecord

Target = Literal["raw", "canonical"]
Format = Literal["jsonl", "hf"]
DATA_FILE = "data.jsonl"


@dataclass
class ExportSummary:
    """What an export wrote: samples, episodes used, and what was left out and why."""

    samples: int = 0
    episodes: int = 0
    left_out: list[str] = field(default_factory=list)


def episode_folders(paths: list[Path]) -> list[Path]:
    """Episode folders from run folders (every sub-folder with steps) and episode folders."""
    found = []
    for path in paths:
        if (path / STEPS_FILE).is_file():
            found.append(path)
        elif path.is_dir() and (path / "results.json").is_file():
            found += sorted(p for p in path.iterdir() if p.is_dir() and (p / STEPS_FILE).is_file())
        else:
            raise UsageError(f"{path}: neither a run folder (results.json) nor an episode folder ({STEPS_FILE})")
    return found


def passed(ep: Episode) -> bool:
    """The episode's verdict passed."""
    verdict = (ep.result or {}).get("verdict")
    return isinstance(verdict, dict) and verdict.get("passed") is True


class _Images:
    """Writes images beside the JSONL, each distinct image once, and hands out their relative names."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.names: dict[str, str] = {}

    def add(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if digest not in self.names:
            ext = "jpg" if data[:3] == b"\xff\xd8\xff" else "png"
            rel = Path("images") / f"{len(self.names) + 1:06d}-{digest[:12]}.{ext}"
            (self.out / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.out / rel).write_bytes(data)
            self.names[digest] = rel.as_posix()
        return self.names[digest]


def _recorded(ep: Episode, step: StepRecord) -> tuple[list[dict[str, Any]], list[bytes]]:
    """The recorded request with each frame name turned into an image slot, and the frames' bytes."""
    out, images = [], []
    for message in step.request.messages if step.request else []:
        content = message.get("content")
        if isinstance(content, list):
            parts = []
            for part in content:
                if isinstance(part, dict) and part.get("type") == "image_url":
                    url = (part.get("image_url") or {}).get("url")
                    src = inside(ep.folder, url)
                    if src is None:
                        raise ValueError(f"image {url!r} is not a frame of the episode")
                    images.append(src.read_bytes())
                    parts.append({"type": "image"})
                elif isinstance(part, dict) and part.get("type") == "text":
                    parts.append({"type": "text", "text": str(part.get("text", ""))})
            content = parts
        elif not isinstance(content, str):
            content = ""
        out.append({"role": str(message.get("role", "user")), "content": content})
    return out, images


def _as_recorded(ep: Episode, step: StepRecord, target: Target, profile: Profile | None) -> Rendered | str:
    """One sample with the prompt as recorded, or why the step was left out."""
    try:
        messages, images = _recorded(ep, step)
        if target == "raw":
            reply: str | None = step.reply
        elif profile is None:
            return f"its profile {(ep.task or {}).get('profile')!r} is unknown here: no canonical target"
        else:
            reply = target_of(step, profile, profile.prepare(open_frame(ep, step)), profile.fmt)
    except FRAME_ERRORS as exc:
        return str(exc)
    if reply is None:
        return "no usable action to render"
    return Rendered(messages + [{"role": "assistant", "content": reply}], images, reply)


def _samples(ep: Episode, target: Target, retarget: Profile | None):  # noqa: ANN202 - an iterator of pairs
    recorded = PROFILES.get(str((ep.task or {}).get("profile") or "")) if ep.task else None
    if retarget is not None:
        yield from render_episode(ep, retarget, recorded.fmt if recorded else None)
        return
    for step in ep.steps:
        if step.kind == "model" and step.request is not None and step.reply is not None:
            yield step, _as_recorded(ep, step, target, recorded)


def target_profile(name: str | None, target: Target) -> Profile | None:
    """The profile a whole sample is re-rendered for (None: keep the recorded prompt); UsageError when it
    cannot be (a raw reply is in the recorded model's format; a grounding-only profile plans no steps)."""
    if name is None:
        return None
    try:
        profile = get_profile(name)
    except ValueError as exc:
        raise UsageError(f"--profile: {exc}") from None
    if target == "raw":
        raise UsageError(f"--profile {name} re-renders the prompt and the target; a raw target is the recorded "
                         "model's own reply: use --target canonical")
    if profile.grounding_only:
        raise UsageError(f"--profile {name} is grounding-only: it has no agent prompt to render a step for")
    return profile


def export(paths: list[Path], out: Path, *, only_passed: bool = False, target: Target = "raw",
           profile_name: str | None = None, fmt: Format = "jsonl") -> ExportSummary:
    """Write ``out/data.jsonl`` and ``out/images/`` (``fmt="hf"``: a ``datasets`` folder) from the episodes
    in ``paths``."""
    if fmt == "hf":
        from agent.export_hf import require_datasets

        require_datasets()
    retarget = target_profile(profile_name, target)
    folders = episode_folders(paths)
    with tempfile.TemporaryDirectory(prefix="screenact-export-") as tmp:
        stage = out if fmt == "jsonl" else Path(tmp)
        summary = _write(folders, stage, only_passed, target, retarget)
        if fmt == "hf":
            from agent.export_hf import write_hf

            write_hf(stage, out)
    return summary


def _write(folders: list[Path], out: Path, only_passed: bool, target: Target, retarget: Profile | None) -> ExportSummary:
    summary = ExportSummary()
    out.mkdir(parents=True, exist_ok=True)
    images = _Images(out)
    with (out / DATA_FILE).open("w", encoding="utf-8") as data:
        for folder in folders:
            ep = load_episode(folder)
            if only_passed and not passed(ep):
                summary.left_out.append(f"{folder.name}: not passed")
                continue
            used = 0
            for step, sample in _samples(ep, target, retarget):
                if isinstance(sample, str):
                    summary.left_out.append(f"{folder.name} step {step.index}: {sample}")
                    continue
                names = [images.add(b) for b in sample.images]
                data.write(json.dumps({"messages": sample.messages, "images": names}, ensure_ascii=False) + "\n")
                used += 1
            summary.samples += used
            summary.episodes += bool(used)
    return summary


__all__ = ["DATA_FILE", "ExportSummary", "episode_folders", "export", "target_profile"]
