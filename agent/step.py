"""The step record: what one step of an episode was, as every writer and reader of ``steps.jsonl`` sees it.

One line of ``steps.jsonl`` is one :class:`StepRecord`. The autonomous loop and scripted mode fill it
in phase by phase, the episode writer appends it, and the report, replay, the UI and anything later
(export, a Ray gatherer, an MCP recorder) read it back through :func:`read_step`. The shape is
described field by field below and in ``docs/design.md``.

Versions: lines without ``"v"`` are version 1 (written before this module existed: the same fields,
a scripted step's ``grounding`` as a list of plain records). Version 2 adds ``v``, ``action_text`` and
the grounding's ``matched``/``box``/``score``/``candidates``/``reason`` at the top of each grounding
(version 1 kept them inside ``details``; they are lifted on reading). A line that does not validate
is read field by field: each field that cannot be read is dropped and named, so a damaged line costs
only its damaged fields.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.models.base import Usage
from tools.actions import Action, describe

STEP_VERSION = 2
"""The version :class:`StepRecord` writes."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HistoryCounts(_Record):
    """How the earlier steps went into the prompt: as images, as text, or dropped for the budget."""

    images: int = 0
    text: int = 0
    dropped: int = 0


class Request(_Record):
    """The request as recorded: the messages with every image replaced by the name of its frame file."""

    messages: list[dict[str, Any]] = Field(default_factory=list)
    sampling: dict[str, Any] = Field(default_factory=dict)
    prompt_tokens: int | None = None
    image_tokens: int | None = None
    exact_count: bool | None = None
    history: HistoryCounts | None = None


class Executed(_Record):
    """One action that was sent to the desktop, in screen pixels, and whether it ran."""

    action: Action
    ok: bool = True
    error: str | None = None


class Rejected(_Record):
    """One action that did not run: the model's action (model space), why, and the screen action the
    policy judged when it got that far."""

    action: Action | None = None
    message: str = ""
    screen_action: dict[str, Any] | None = None

    @property
    def what(self) -> str:
        """The rejected action in words (``click(0.5, 0.2)``)."""
        return describe(self.action) if self.action else "an action"

    def __str__(self) -> str:
        return f"{self.what} was not executed: {self.message}"


class ApprovalRecord(_Record):
    """A person's decision on an action an approval rule marked (``agent.approval``): the screen action,
    the rule in words, the answer, who gave it (``terminal``, ``no terminal`` …) and when (wall clock)."""

    action: Action
    rule: str
    approved: bool
    by: str
    at: float | None = None


class InterventionRecord(_Record):
    """A stretch in which the driver waited before this step (``agent.control.RunControl``): a pause, or
    a takeover in which a person had the desktop's input. ``at`` is when it began (Unix time), ``seconds``
    how long the driver waited, ``frame_before``/``frame_after`` the screen as it began and as it ended."""

    kind: Literal["pause", "takeover"]
    by: str
    at: float
    seconds: float
    frame_before: str | None = None
    frame_after: str | None = None


class Settle(_Record):
    """How the screen behaved after acting: frames compared until quiet."""

    stable: bool
    changed: bool
    frames: int


Box = tuple[float, float, float, float]


class Candidate(_Record):
    """A piece of the screen the grounder considered (text it read, its score and box)."""

    text: str = ""
    score: float | None = None
    kind: str | None = None
    box: Box | None = None


_LIFTED = ("matched", "box", "score", "candidates", "reason")


class GroundingRecord(_Record):
    """One grounding of a scripted step: the words it was asked for, what it matched, where it pointed.

    ``point`` is in screen pixels, None when nothing was found (``reason`` says why and ``candidates``
    lists the closest reads). ``details`` keeps what else the grounder reported.
    """

    description: str
    grounder: str = ""
    point: tuple[float, float] | None = None
    matched: str | None = None
    box: Box | None = None
    score: float | None = None
    candidates: list[Candidate] = Field(default_factory=list)
    reason: str | None = None
    reply: str | None = None
    latency_s: float = 0.0
    details: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _lift_details(cls, data: Any) -> Any:
        """Version 1 kept matched/box/score/candidates/reason inside ``details``."""
        if not isinstance(data, dict) or not isinstance(data.get("details"), dict):
            return data
        details = dict(data["details"])
        lifted = {k: details.pop(k) for k in _LIFTED if k in details and data.get(k) is None}
        return {**data, **lifted, "details": details} if lifted else data

    @classmethod
    def of(cls, grounding: Any) -> "GroundingRecord":
        """The record of a grounder's answer (``agent.grounders.Grounding`` or anything shaped like it)."""
        point = grounding.point
        return cls.model_validate({
            "description": grounding.description, "grounder": grounding.grounder,
            "point": None if point is None else (point.x, point.y), "reply": grounding.reply,
            "latency_s": round(grounding.latency_s, 4), "details": dict(grounding.details)})


class StepRecord(_Record):
    """One step: one model reply (``kind="model"``) or one scripted step in words (``kind="scripted"``).

    ``frame`` is the PNG the model (or grounder) saw; ``parsed`` the reply's actions in model space,
    ``executed`` what reached the desktop in screen pixels, ``rejections`` what did not run and why,
    ``feedback`` what the model is told about it next step; ``interventions`` the pauses and takeovers
    that came just before this step; ``timings`` are milliseconds per phase (capture, encode, model,
    parse, ground, act, settle); ``at`` is when the step's frame was captured (wall clock), which
    places the step on the episode's video.
    """

    v: int = 1
    index: int = 0
    kind: Literal["model", "scripted"] = "model"
    frame: str | None = None
    instruction: str | None = None
    request: Request | None = None
    reply: str | None = None
    thought: str | None = None
    action_text: str | None = None
    parsed: list[Action] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    grounding: list[GroundingRecord] = Field(default_factory=list)
    executed: list[Executed] = Field(default_factory=list)
    rejections: list[Rejected] = Field(default_factory=list)
    approvals: list[ApprovalRecord] = Field(default_factory=list)
    interventions: list[InterventionRecord] = Field(default_factory=list)
    feedback: str | None = None
    error: str | None = None
    usage: Usage | None = None
    settle: Settle | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    at: float | None = None  # wall clock (epoch s) of the step's frame: its place on the episode's video

    @model_validator(mode="before")
    @classmethod
    def _older_shapes(cls, data: Any) -> Any:
        """null means "not recorded" for every field; early scripted lines held one grounding, not a list."""
        if not isinstance(data, dict):
            return data
        data = {k: v for k, v in data.items() if v is not None}
        if isinstance(data.get("grounding"), dict):
            data["grounding"] = [data["grounding"]]
        return data

    @classmethod
    def start(cls, index: int, kind: Literal["model", "scripted"] = "model", **fields: Any) -> "StepRecord":
        """A new record of the current version."""
        return cls(v=STEP_VERSION, index=index, kind=kind, **fields)

    def line(self) -> bytes:
        """The record as one ``steps.jsonl`` line (unset optional fields left out)."""
        return self.model_dump_json(exclude_none=True).encode() + b"\n"

    @property
    def terminal(self) -> Action | None:
        """The executed DONE or FAIL that ended the episode at this step, if any."""
        return next((e.action for e in self.executed if e.action.type in ("done", "fail")), None)

    @property
    def executed_actions(self) -> list[Action]:
        """The actions sent to the desktop, in order."""
        return [e.action for e in self.executed]

    def problems(self) -> list[str]:
        """What went wrong in this step, in words: parse errors, rejections, failed actions."""
        out = list(self.errors)
        out += [str(r) for r in self.rejections]
        told = {r.message for r in self.rejections}
        out += [f"{describe(e.action)} failed: {e.error}" for e in self.executed if not e.ok and e.error not in told]
        return out


def read_step(data: Any, fallback_index: int) -> tuple[StepRecord, list[str]]:
    """A recorded line as a :class:`StepRecord`, and what in it was damaged (each named by its field).

    Never raises: a field that does not validate is dropped (a bad item of a list drops that item) and
    reported as ``"<field>[.item…]: <why>"``. A line that is not an object reads as an empty step.
    """
    if not isinstance(data, dict):
        return StepRecord(index=fallback_index), [f"the line is {type(data).__name__}, not an object"]
    original, data = data, dict(data)
    problems: list[str] = []
    for _ in range(len(StepRecord.model_fields) + 1):
        try:
            record = StepRecord.model_validate(data)
            break
        except ValidationError as exc:
            _drop_damage(data, exc, problems)
    else:  # pragma: no cover - every round drops at least one field
        record = StepRecord()
    if "index" not in data:
        record.index = fallback_index
        if "index" not in original:
            problems.append("index is missing")
    return record, problems


def _drop_damage(data: dict[str, Any], exc: ValidationError, problems: list[str]) -> None:
    """Remove from ``data`` every field (or list item) an error points at, naming each."""
    drop_items: dict[str, set[int]] = {}
    for err in exc.errors(include_url=False):
        loc = err.get("loc") or ("?",)
        field = str(loc[0])
        path = ".".join(str(p) for p in loc)
        got = repr(err.get("input"))
        why = str(err.get("msg", "invalid")).replace("Input should be", "should be")
        problems.append(f"{path}: {why} (got {got[:60]}{'…' if len(got) > 60 else ''})")
        if len(loc) > 1 and isinstance(loc[1], int) and isinstance(data.get(field), list):
            drop_items.setdefault(field, set()).add(loc[1])
        else:
            data.pop(field, None)
    for field, items in drop_items.items():
        if isinstance(data.get(field), list):
            data[field] = [v for i, v in enumerate(data[field]) if i not in items]
