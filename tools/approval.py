"""Approval rules: which actions (in screen pixels, after the policy) need a person's yes before they run.

A rule matches an action type (``"drag"``), a key combination (``"ctrl+alt+t"``: the action presses at
least these keys, order and sides ignored, as the policy's deny-list), typed text (a regular expression
searched in the text of a ``type`` action) or a screen region (a pointer action whose point, or either
end of a drag, lies in ``(x, y, width, height)``). :data:`DEFAULT_RULES` is the documented default set
(docs/approval.md): typed commands that destroy data, gain privileges or run code from the network.

A rules file (``run --approve-rules FILE``, YAML or JSON) holds the same four lists, validated by
:class:`RulesFile`; :func:`load_rules` reads one and names the file, field and value of any mistake.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from tools.actions import Action, Click, Drag, Key, KeyDown, Move, Scroll, TypeText
from tools.keys import canonical_key, key_family
from tools.policy import parse_combo

Region = tuple[int, int, int, int]
MAX_RULES_BYTES = 256 * 1024


@dataclass(frozen=True)
class ApprovalRules:
    """What needs approval; :meth:`match` says which rule an action meets. Bad rules raise ValueError."""

    actions: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    regions: tuple[Region, ...] = ()
    _combos: tuple[tuple[str, frozenset[str]], ...] = field(init=False, repr=False, default=())
    _patterns: tuple[re.Pattern[str], ...] = field(init=False, repr=False, default=())

    def __post_init__(self) -> None:
        combos = []
        for spec in self.keys:
            try:
                combos.append((spec, parse_combo(spec)))
            except ValueError as exc:
                raise ValueError(f"approval key rule {spec!r}: {str(exc).split(': ', 1)[-1]}") from None
        object.__setattr__(self, "_combos", tuple(combos))
        patterns = []
        for pattern in self.text:
            try:
                patterns.append(re.compile(pattern))
            except re.error as exc:
                raise ValueError(f"approval text rule {pattern!r}: {exc}") from None
        object.__setattr__(self, "_patterns", tuple(patterns))

    def match(self, action: Action) -> str | None:
        """The rule ``action`` meets, in words (``typed text matches 'sudo'``), or None."""
        if action.type in self.actions:
            return f"action type {action.type}"
        if isinstance(action, TypeText):
            for pattern in self._patterns:
                if pattern.search(action.text):
                    return f"typed text matches {pattern.pattern!r}"
        if isinstance(action, (Key, KeyDown)):
            pressed = {key_family(canonical_key(k) or k) for k in (action.keys if isinstance(action, Key) else [action.key])}
            for spec, combo in self._combos:
                if combo <= pressed:
                    return f"key combination {spec}"
        for x, y in _points(action):
            for region in self.regions:
                rx, ry, rw, rh = region
                if rx <= x < rx + rw and ry <= y < ry + rh:
                    return f"a point in the screen region {region}"
        return None


def _points(action: Action) -> list[tuple[float, float]]:
    if isinstance(action, (Click, Move)):
        return [(action.x, action.y)]
    if isinstance(action, Drag):
        return [(action.x1, action.y1), (action.x2, action.y2)]
    if isinstance(action, Scroll) and action.x is not None and action.y is not None:
        return [(action.x, action.y)]
    return []


DEFAULT_RULES = ApprovalRules(text=(
    r"\brm\s+(-\w*\s+)*-\w*[rRf]",           # rm -rf, rm -r -f, rm --force…: recursive or forced deletion
    r"\bsudo\b|\bsu\s+-|\bdoas\b",           # privileges
    r"\b(curl|wget)\b[^\n|]*\|\s*(sudo\s+)?(ba|z|da)?sh\b",  # curl … | sh: code from the network
    r"\bmkfs(\.\w+)?\b|\bdd\s+[^\n]*\bof=/dev/",  # formatting, raw writes to devices
    r"\bchmod\s+(-\w+\s+)*[0-7]*777\b",      # world-writable
    r":\(\)\s*\{\s*:\|:&\s*\};:",            # the classic fork bomb
))
"""The default set: typed text that deletes recursively, gains privileges, pipes a download into a shell,
formats or overwrites a device, makes files world-writable, or is a fork bomb."""


ActionType = Literal[tuple(get_args(a.model_fields["type"].annotation)[0]  # type: ignore[misc]
                           for a in get_args(get_args(Action)[0]))]


def _key_rule(spec: str) -> str:
    ApprovalRules(keys=(spec,))  # a ValueError naming the combination and the bad key
    return spec


def _text_rule(pattern: str) -> str:
    ApprovalRules(text=(pattern,))  # a ValueError naming the pattern and what is wrong with it
    return pattern


def _region_rule(region: Region) -> Region:
    if min(region[:2]) < 0 or min(region[2:]) < 1:
        raise ValueError("a region is [x, y, width, height]: x and y at least 0, width and height at least 1")
    return region


class RulesFile(BaseModel):
    """An approval rules file: what marks an action (see the module docstring), and whether the default set
    applies as well (``defaults: true``)."""

    model_config = ConfigDict(extra="forbid")

    defaults: bool = False
    actions: list[ActionType] = Field(default_factory=list)  # type: ignore[valid-type]
    keys: list[Annotated[str, AfterValidator(_key_rule)]] = Field(default_factory=list)
    text: list[Annotated[str, AfterValidator(_text_rule)]] = Field(default_factory=list)
    regions: list[Annotated[Region, AfterValidator(_region_rule)]] = Field(default_factory=list)

    def rules(self) -> ApprovalRules:
        """The rules this file sets (with the default set's when ``defaults``)."""
        base = DEFAULT_RULES if self.defaults else ApprovalRules()
        return ApprovalRules(actions=base.actions + tuple(self.actions), keys=base.keys + tuple(self.keys),
                             text=base.text + tuple(self.text), regions=base.regions + tuple(self.regions))


class RulesFileError(ValueError):
    """A rules file that cannot be used; the message names the file, the field and the value."""


def load_rules(path: str | Path) -> ApprovalRules:
    """The approval rules in the YAML or JSON file ``path``; :class:`RulesFileError` names what is wrong."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_RULES_BYTES + 1)
    except OSError as exc:
        raise RulesFileError(f"{path}: cannot read the rules file ({exc.strerror or exc})") from None
    if len(raw) > MAX_RULES_BYTES:
        raise RulesFileError(f"{path}: the rules file is over {MAX_RULES_BYTES} bytes")
    data = _parsed(path, raw)
    if not isinstance(data, dict):
        raise RulesFileError(f"{path}: expected a mapping of actions/keys/text/regions/defaults, "
                             f"got {type(data).__name__}")
    try:
        return RulesFile.model_validate(data).rules()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "the file"
        message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        value = json.dumps(first.get("input"), ensure_ascii=False, default=str)[:120]
        raise RulesFileError(f"{path}: field {where!r}: {message} (value {value})") from None


def _parsed(path: Path, raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
        if path.suffix.lower() == ".json":
            return json.loads(text)
        import yaml

        return yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - decoding, json and yaml raise several kinds; each means "unreadable"
        kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
        raise RulesFileError(f"{path}: not valid {kind}: {str(exc).splitlines()[0]}") from None
