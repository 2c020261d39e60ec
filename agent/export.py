"""Episodes out as fine-tuning data: one JSONL sample per model step, ``{"messages": [...], "images": [...]}``.

Each sample is the prompt exactly as the model saw it (system prompt, instruction, the history the context
budget kept) with the model's reply as the assistant target: the reply itself (``raw``) or the thought and
the validated actions re-rendered as canonical code (``canonical``, for a profile whose replies are
pyautogui code). Images are copied beside the JSONL under ``images/`` and named in order in ``images``;
in the messages each stands as ``{"type": "image"}``, the shape VLM fine-tuning tools read.

Episode folders are foreign input: a frame is copied only when it is a regular file inside its episode
folder.
"""

from __future__ import annotations

import json
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agent.episode import STEPS_FILE, Episode, load_episode
from agent.errors import UsageError
from agent.step import StepRecord
from tools.actions import TERMINAL_ACTIONS, Action
from tools.render import pyautogui_code

Target = Literal["raw", "canonical"]
DATA_FILE = "data.jsonl"
CANONICAL_FORMATS = ("kimi-vl", "pyautogui")


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


def _inside(folder: Path, name: Any) -> Path | None:
    """``folder/name`` when it is a regular file inside ``folder`` (no ``..``, no symlink out)."""
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        return None
    path = folder / name
    return path if path.is_file() and not path.is_symlink() else None


def _png_size(path: Path) -> tuple[int, int]:
    with path.open("rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    return struct.unpack(">II", head[16:24])


class _Images:
    """Copies images beside the JSONL and hands out their relative names."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.count = 0

    def add(self, src: Path, episode: str) -> str:
        self.count += 1
        rel = Path("images") / f"{self.count:06d}-{episode}-{src.name}"
        (self.out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, self.out / rel)
        return rel.as_posix()


def _messages(ep: Episode, step: StepRecord, images: _Images, tag: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The recorded request with each frame name turned into an image slot and a copied file."""
    out, names = [], []
    for message in step.request.messages if step.request else []:
        content = message.get("content")
        if isinstance(content, list):
            parts = []
            for part in content:
                if isinstance(part, dict) and part.get("type") == "image_url":
                    url = (part.get("image_url") or {}).get("url")
                    src = _inside(ep.folder, url)
                    if src is None:
                        raise ValueError(f"step {step.index}: image {url!r} is not a frame of the episode")
                    names.append(images.add(src, tag))
                    parts.append({"type": "image"})
                elif isinstance(part, dict) and part.get("type") == "text":
                    parts.append({"type": "text", "text": str(part.get("text", ""))})
            content = parts
        elif not isinstance(content, str):
            content = ""
        out.append({"role": str(message.get("role", "user")), "content": content})
    return out, names


def canonical_reply(step: StepRecord, profile: Any, screen: tuple[int, int]) -> str | None:
    """The thought and the validated actions, re-rendered in ``profile``'s format (None: no usable action)."""
    actions: list[Action] = [e.action for e in step.executed if e.ok]
    if not any(isinstance(a, TERMINAL_ACTIONS) for a in actions):  # an answer the loop ended on without executing
        actions += [a for a in step.parsed if isinstance(a, TERMINAL_ACTIONS)]
    if not actions:
        return None
    w, h = screen
    scale = {"normalized": 1.0, "thousand": 1000.0}[profile.space]
    code = pyautogui_code(actions, lambda x, y: (round(x / w * scale, 4), round(y / h * scale, 4)))
    thought = (step.thought or "").strip()
    think = f"{profile.thinking[0]}{thought}{profile.thinking[1]}" if profile.thinking and thought else ""
    line = (step.action_text or thought or "").strip()
    return f"{think}## Action:\n{line}\n\n## Code:\n```python\n{code}\n```"


def check_profile(profile: Any) -> None:
    """Canonical targets are written for profiles whose replies are pyautogui code in fractions or thousandths."""
    if profile.fmt not in CANONICAL_FORMATS or profile.space not in ("normalized", "thousand"):
        raise UsageError(f"--target canonical renders pyautogui code (formats {', '.join(CANONICAL_FORMATS)} in "
                         f"normalized or thousand space); profile {profile.name} is {profile.fmt} in {profile.space}")


def export(paths: list[Path], out: Path, *, only_passed: bool = False, target: Target = "raw",
           profile_name: str | None = None) -> ExportSummary:
    """Write ``out/data.jsonl`` and ``out/images/`` from the episodes in ``paths``."""
    from agent.profiles import get_profile

    summary = ExportSummary()
    out.mkdir(parents=True, exist_ok=True)
    images = _Images(out)
    with (out / DATA_FILE).open("w", encoding="utf-8") as data:
        for n, folder in enumerate(episode_folders(paths), 1):
            ep = load_episode(folder)
            if only_passed and not passed(ep):
                summary.left_out.append(f"{folder.name}: not passed")
                continue
            profile = get_profile(profile_name or (ep.task or {}).get("profile") or None)
            if target == "canonical":
                check_profile(profile)
            used = 0
            for step in ep.steps:
                if step.kind != "model" or step.request is None or step.reply is None:
                    continue
                sample = _sample(ep, step, images, f"{n:04d}", target, profile)
                if isinstance(sample, str):
                    summary.left_out.append(f"{folder.name} step {step.index}: {sample}")
                    continue
                data.write(json.dumps(sample, ensure_ascii=False) + "\n")
                used += 1
            summary.samples += used
            summary.episodes += bool(used)
    return summary


def _sample(ep: Episode, step: StepRecord, images: _Images, tag: str, target: Target, profile: Any) -> dict | str:
    """One sample, or why the step was left out."""
    frame = _inside(ep.folder, step.frame)
    try:
        messages, names = _messages(ep, step, images, tag)
        reply = step.reply if target == "raw" else (
            canonical_reply(step, profile, _png_size(frame)) if frame else None)
    except ValueError as exc:
        return str(exc)
    if reply is None:
        return "no usable action to render" if frame else "its frame is missing"
    messages.append({"role": "assistant", "content": reply})
    return {"messages": messages, "images": names}


__all__ = ["DATA_FILE", "ExportSummary", "canonical_reply", "episode_folders", "export"]
