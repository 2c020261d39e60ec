"""Prompt templates from files, so that a published protocol can be reproduced word for word.

screenact's own prompts are written in its own words; a benchmark score is only comparable with a
published one when the model got the published prompt. A template file gives it:

- a ``.txt`` (or any non-JSON/YAML) file: the user turn's text; the screenshot comes before it;
- a ``.json`` / ``.yaml`` / ``.yml`` file: ``{"system": "...", "user": "...", "image": "before"|"after"}``
  (``system`` optional; ``image`` is where the screenshot goes relative to the user text).

Placeholders, replaced literally (any other ``{…}``, e.g. JSON in a published prompt, stays as it is):
``{instruction}`` (required in a grounding template), ``{width}`` and ``{height}`` (the screenshot as
sent). ``ground --prompt-file`` sets a profile's ``grounding_template``; a profile's ``agent_template``
replaces the agent's system prompt and the text of the turn that carries the task. The results of a
run record which prompt was used: its source and the SHA-256 of its text.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    from agent.images import ModelImage
    from agent.profiles import Profile

MAX_TEMPLATE_BYTES = 256 * 1024


class PromptFileError(ValueError):
    """A template file that cannot be used; the message names the file, and the field when there is one."""


class PromptTemplate(BaseModel):
    """A system and a user text with placeholders, and where the screenshot goes (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str | None = Field(default=None, max_length=MAX_TEMPLATE_BYTES)
    user: str = Field(min_length=1, max_length=MAX_TEMPLATE_BYTES)
    image: Literal["before", "after"] = "before"
    source: str = Field(default="", exclude=True)

    def fill(self, text: str, instruction: str, width: int, height: int) -> str:
        """``text`` with the placeholders replaced (only these three; other braces stay)."""
        for name, value in (("{instruction}", instruction), ("{width}", str(width)), ("{height}", str(height))):
            text = text.replace(name, value)
        return text

    def build(self, image: "ModelImage", instruction: str) -> list[dict]:
        """Grounding messages: the optional system turn, then the user turn with the screenshot and text."""
        text = {"type": "text", "text": self.fill(self.user, instruction.strip(), image.width, image.height)}
        parts = [image.content_part(), text] if self.image == "before" else [text, image.content_part()]
        system = [] if self.system is None else [
            {"role": "system", "content": self.fill(self.system, instruction.strip(), image.width, image.height)}]
        return [*system, {"role": "user", "content": parts}]

    def sha256(self) -> str:
        """The hash of what the template says (its source excluded): equal text, equal hash."""
        return hashlib.sha256(json.dumps(self.model_dump(), sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def load_prompt_file(path: str | Path, *, grounding: bool = True) -> PromptTemplate:
    """The template in ``path``; PromptFileError naming the file (and field) when it cannot be used."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PromptFileError(f"{path}: cannot read the prompt file ({exc.strerror or exc})") from None
    if len(raw) > MAX_TEMPLATE_BYTES:
        raise PromptFileError(f"{path}: the prompt file is {len(raw)} bytes; at most {MAX_TEMPLATE_BYTES} are read")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PromptFileError(f"{path}: the prompt file is not UTF-8 text (byte {exc.start})") from None
    data: Any = _structured(path, text) if path.suffix.lower() in (".json", ".yaml", ".yml") else {"user": text}
    try:
        template = PromptTemplate.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "the file"
        raise PromptFileError(f"{path}: field {field!r}: {first.get('msg', 'invalid value')}") from None
    if grounding and "{instruction}" not in template.user + (template.system or ""):
        raise PromptFileError(f"{path}: the template never says {{instruction}}, so the model would not be told what "
                              "to find; put {instruction} where the element's description goes")
    return template.model_copy(update={"source": str(path)})


def _structured(path: Path, text: str) -> Any:
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        import yaml

        return yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - json and yaml raise several kinds; each means "not readable"
        raise PromptFileError(f"{path}: not valid {path.suffix.lstrip('.').upper()}: {str(exc).splitlines()[0]}") from None


def grounding_prompt_identity(profile: "Profile") -> dict[str, str]:
    """Which grounding prompt a profile sends: ``{"source", "sha256"}``. A template file is named by its
    path; a built-in prompt by its name, hashed as the messages it builds for a placeholder request."""
    template = profile.grounding_template
    if template is not None:
        return {"source": template.source or "template", "sha256": template.sha256()}
    from agent.images import ModelImage
    from agent.prompts import build_grounding_messages
    from tools.coords import Transform

    placeholder = ModelImage(data=b"", mime="image/png", width=1000, height=1000, screen_width=1000,
                             screen_height=1000, transform=Transform.for_image(profile.space, 1000, 1000, 1000, 1000),
                             image_tokens=0, encode_s=0.0)
    messages = build_grounding_messages(profile, placeholder, "{instruction}")
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return {"source": f"builtin:{profile.grounding_prompt}", "sha256": digest}
