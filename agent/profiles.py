"""Model profiles: everything that differs between model families, as data.

A profile fixes how a screenshot is prepared (size, encoding, token cost), the coordinate space the
model answers in, the parse format of its replies, its thinking markers, sampling defaults for agent
and grounding modes, and which prompt templates it gets. ``get_profile(name)`` looks one up.

Serving: each profile names the context length it should be served with, the images per prompt
(vLLM's ``--limit-mm-per-prompt``) and the oldest vLLM that runs its architecture; ``screenact serve``
starts it that way. Sources for every number: docs/model-interface.md.

Sampling choices worth knowing:
- Kimi-VL-A3B-Thinking agent mode uses temperature 0.6 (the Kimi-VL README's value for the Thinking
  model); Thinking-2506 uses 0.8 (its card); grounding uses 0 and max_tokens 8192 like the published
  ScreenSpot-Pro run.
- ``max_tokens`` is the completion size we would like; ``agent.budget`` lowers it to what the context
  leaves, never below ``max_tokens_floor`` (below that, history is dropped instead).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from agent.images import Encoding, ImageRule, ModelImage, MoonViTRule, SmartResizeRule, prepare_image
from tools.parse import DEFAULT_LIMITS, Limits, Parsed, ParseError, ThinkingMarkers, parse, split_thinking
from tools.parse._text import KIMI_THINKING
from tools.actions import Action
from tools.coords import Transform
from tools.approval import DEFAULT_RULES, ApprovalRules
from tools.policy import Policy
from tools.render import render_answer

if TYPE_CHECKING:
    from agent.prompt_file import PromptTemplate

Mode = Literal["agent", "grounding"]

TAKEOVER_NOTE = ("A person took over the desktop for {seconds} s and acted on it themselves; the screenshot "
                 "shows the screen as they left it. Do not undo what they did: continue the task from this screen.")
"""What the next prompt says after a takeover (``agent.control``): ``{seconds}`` and ``{by}`` are filled in."""


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters for one mode. ``extra`` holds server-specific ones (vLLM: top_k, …)."""

    temperature: float = 0.0
    top_p: float | None = None
    max_tokens: int = 2048
    max_tokens_floor: int = 512
    extra: dict[str, Any] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        """Keyword arguments for ``ModelClient.complete``."""
        out: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        if self.top_p is not None:
            out["top_p"] = self.top_p
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class Profile:
    """One model family's conventions (see the module docstring)."""

    name: str
    served_model_name: str
    hf_model: str
    image_rule: ImageRule
    space: Literal["normalized", "thousand", "pixels"]
    fmt: str
    thinking: ThinkingMarkers | None
    agent_sampling: Sampling
    grounding_sampling: Sampling
    agent_prompt: str | None = "sections"
    grounding_prompt: str = "pyautogui"
    image_overhead_tokens: int = 4
    keep_images: int = 3
    encoding: Encoding = "png"
    recommended_max_model_len: int = 32768
    limit_images: int | None = None
    min_vllm: tuple[int, ...] = (0, 8, 5)
    family: str = ""
    vllm_args: tuple[str, ...] = ()
    description: str = ""
    grounding_template: "PromptTemplate | None" = None
    agent_template: "PromptTemplate | None" = None
    max_reply_wait_s: float = 30.0  # the waiting one reply may ask for in total (Policy.max_reply_wait)
    approval: ApprovalRules = DEFAULT_RULES  # what `run --approve` asks about (a rules file replaces it)
    takeover_note: str = TAKEOVER_NOTE  # the next prompt's words after a person took over the desktop

    @property
    def images_per_prompt(self) -> int:
        """Images one request may carry: the server's ``--limit-mm-per-prompt`` as ``screenact serve`` sets
        it (``limit_images``, else the screenshots kept in history plus the current one)."""
        return self.limit_images if self.limit_images is not None else self.keep_images + 1

    def policy(self) -> Policy:
        """The action policy for this profile's agent: the defaults, with its cap on one reply's waiting."""
        return Policy(max_reply_wait=self.max_reply_wait_s)

    @property
    def grounding_only(self) -> bool:
        """True for a model trained to point at elements, not to plan steps (it has no agent prompt)."""
        return self.agent_prompt is None

    def prepare(self, frame: Any) -> ModelImage:
        """The screenshot as this model gets it: bytes, sent size, token cost and Transform."""
        return prepare_image(frame, self.image_rule, self.space, encoding=self.encoding)

    def image_tokens(self, width: int, height: int) -> int:
        """Tokens one screenshot of this native size costs, markers around it included."""
        return self.image_rule.tokens(width, height) + self.image_overhead_tokens

    def sampling(self, mode: Mode = "agent") -> Sampling:
        return self.agent_sampling if mode == "agent" else self.grounding_sampling

    @property
    def parse_limits(self) -> Limits:
        """The parsers' limits with this profile's thinking markers (the common ones when it names none)."""
        return DEFAULT_LIMITS if self.thinking is None else replace(DEFAULT_LIMITS, thinking=(self.thinking,))

    def split(self, text: str) -> tuple[str | None, str]:
        """(thinking, answer) of a reply by this profile's markers (``tools.parse.split_thinking``)."""
        parts = split_thinking(text, self.parse_limits.thinking)
        return parts.thought, (parts.answer or "").strip()

    def read(self, text: str) -> tuple[Parsed, bool]:
        """A reply read in this profile's format and markers: (what it says, whether its actions are usable).

        Never raises: an unusable reply comes back with its thought, answer and action line when they could
        be read, no actions, and the problems in ``errors`` (written for the model)."""
        try:
            parsed = parse(text, self.fmt, limits=self.parse_limits)
        except ParseError as exc:
            thought, answer = self.split(text)
            read = exc.parsed or Parsed(raw=text, fmt=self.fmt, thought=thought, answer=answer)
            read.errors, read.actions = [str(exc)], []
            return read, False
        return parsed, bool(parsed.actions) and not parsed.errors

    def model_point(self, transform: Transform) -> Callable[[float, float], tuple[float, float]]:
        """Screen pixel → this profile's coordinates on the image ``transform`` belongs to: the pixel's centre
        (so that reading it back lands on the same pixel), written as the family writes numbers."""
        def point(x: float, y: float) -> tuple[float, float]:
            mx, my = transform.to_model(x + 0.5, y + 0.5)
            if self.space == "normalized":
                return round(mx, 4), round(my, 4)
            # whole numbers: of the neighbours, the one that reads back nearest to the pixel (exact where it can be)
            lx, ly = transform.to_model(x, y)
            nx = min({math.floor(mx), math.ceil(lx)}, key=lambda m: abs(transform.to_screen(m, my)[0] - x))
            ny = min({math.floor(my), math.ceil(ly)}, key=lambda m: abs(transform.to_screen(mx, m)[1] - y))
            return nx, ny

        return point

    def render_reply(self, actions: Sequence[Action], transform: Transform, *, line: str,
                     thought: str | None = None) -> str:
        """Validated screen actions as this family answers: its thinking markers around ``thought`` (when it
        thinks), then the answer in its format (``tools.render.render_answer``); ``line`` is the one-sentence
        action. ``tools.render.Unrenderable`` when the format cannot say an action."""
        answer = render_answer(self.fmt, actions, self.model_point(transform), line=line, thought=thought)
        if self.thinking and thought and thought.strip():
            return f"{self.thinking[0]}{thought.strip()}{self.thinking[1]}{answer}"
        return answer

    def with_(self, **changes: Any) -> "Profile":
        """A copy with some fields changed (e.g. ``served_model_name`` for a custom server)."""
        return replace(self, **changes)


_KIMI_VLLM = ("--trust-remote-code",)
KIMI_MIN_VLLM = (0, 8, 5)          # Kimi-VL support landed in vLLM 0.8.5
QWEN25_MIN_VLLM = (0, 7, 3)        # Qwen2.5-VL's README: vllm>0.7.2 (UI-TARS-1.5-7B is the same architecture)
QWEN2_MIN_VLLM = (0, 6, 1)         # Qwen2-VL architecture (OS-Atlas-Base-7B): vllm>=0.6.1
QWEN3_MIN_VLLM = (0, 11, 0)        # Qwen3-VL's README: vllm>=0.11.0

PROFILES: dict[str, Profile] = {}


def register(profile: Profile) -> Profile:
    """Add a profile to ``PROFILES`` (names are unique)."""
    if profile.name in PROFILES:
        raise ValueError(f"profile {profile.name!r} is already registered")
    PROFILES[profile.name] = profile
    return profile


register(Profile(
    name="kimi-vl-thinking",
    served_model_name="Kimi-VL-A3B-Thinking",
    hf_model="moonshotai/Kimi-VL-A3B-Thinking",
    image_rule=MoonViTRule(in_token_limit=4096),
    space="normalized",
    fmt="kimi-vl",
    thinking=KIMI_THINKING,
    agent_sampling=Sampling(temperature=0.6, max_tokens=8192, max_tokens_floor=2048),
    grounding_sampling=Sampling(temperature=0.0, max_tokens=8192, max_tokens_floor=1024),
    agent_prompt="sections",
    grounding_prompt="kimi-screenspot",
    min_vllm=KIMI_MIN_VLLM,
    family="kimi-vl",
    vllm_args=_KIMI_VLLM,
    description="Kimi-VL-A3B-Thinking (reference model): native-resolution MoonViT, 4096-patch image budget, "
                "normalized coordinates, ◁think▷ reasoning, temperature 0.6.",
))

register(Profile(
    name="kimi-vl-thinking-2506",
    served_model_name="Kimi-VL-A3B-Thinking-2506",
    hf_model="moonshotai/Kimi-VL-A3B-Thinking-2506",
    image_rule=MoonViTRule(in_token_limit=16384),
    space="normalized",
    fmt="kimi-vl",
    thinking=KIMI_THINKING,
    agent_sampling=Sampling(temperature=0.8, max_tokens=32768, max_tokens_floor=2048),
    grounding_sampling=Sampling(temperature=0.0, max_tokens=8192, max_tokens_floor=1024),
    agent_prompt="sections",
    grounding_prompt="kimi-screenspot",
    keep_images=2,
    # a 1080p screenshot costs 2,695 tokens and the thinking runs long: 65536 leaves room for both
    recommended_max_model_len=65536,
    min_vllm=KIMI_MIN_VLLM,
    family="kimi-vl",
    vllm_args=_KIMI_VLLM,
    description="Kimi-VL-A3B-Thinking-2506: 16384-patch image budget (1080p at native size), shorter thinking, "
                "temperature 0.8.",
))

register(Profile(
    name="kimi-vl-instruct",
    served_model_name="Kimi-VL-A3B-Instruct",
    hf_model="moonshotai/Kimi-VL-A3B-Instruct",
    image_rule=MoonViTRule(in_token_limit=4096),
    space="normalized",
    fmt="kimi-vl",
    thinking=None,
    agent_sampling=Sampling(temperature=0.2, max_tokens=2048, max_tokens_floor=512),
    grounding_sampling=Sampling(temperature=0.0, max_tokens=512, max_tokens_floor=128),
    agent_prompt="sections",
    grounding_prompt="kimi-instruct-point",
    min_vllm=KIMI_MIN_VLLM,
    family="kimi-vl",
    vllm_args=_KIMI_VLLM,
    description="Kimi-VL-A3B-Instruct: no thinking, temperature 0.2, the card's point prompt for grounding.",
))

register(Profile(
    name="ui-tars-1.5",
    served_model_name="UI-TARS-1.5-7B",
    hf_model="ByteDance-Seed/UI-TARS-1.5-7B",
    image_rule=SmartResizeRule(factor=28, min_pixels=100 * 28 * 28, max_pixels=16384 * 28 * 28),
    space="pixels",
    fmt="ui-tars",
    thinking=None,
    agent_sampling=Sampling(temperature=0.0, max_tokens=1024, max_tokens_floor=256),
    grounding_sampling=Sampling(temperature=0.0, max_tokens=256, max_tokens_floor=64),
    agent_prompt="ui-tars",
    grounding_prompt="ui-tars",
    image_overhead_tokens=2,
    keep_images=5,
    min_vllm=QWEN25_MIN_VLLM,
    family="qwen2.5-vl",
    takeover_note=("A person controlled the computer for {seconds} s and made changes; the latest screenshot "
                   "shows the result. Keep their changes and continue the task from the current screen."),
    description="UI-TARS-1.5: Thought/Action replies in its 1.5 action space (point='<point>x y</point>'), "
                "pixels of the smart_resize image (min_pixels 100·28·28).",
))

register(Profile(
    name="qwen2.5-vl",
    served_model_name="Qwen2.5-VL-7B-Instruct",
    hf_model="Qwen/Qwen2.5-VL-7B-Instruct",
    image_rule=SmartResizeRule(factor=28, min_pixels=4 * 28 * 28, max_pixels=16384 * 28 * 28),
    space="pixels",
    fmt="qwen-tool",
    thinking=None,
    agent_sampling=Sampling(temperature=0.0, max_tokens=1024, max_tokens_floor=256),
    grounding_sampling=Sampling(temperature=0.0, max_tokens=256, max_tokens_floor=64),
    agent_prompt="qwen-tool",
    grounding_prompt="qwen-tool",
    image_overhead_tokens=2,
    min_vllm=QWEN25_MIN_VLLM,
    family="qwen2.5-vl",
    description="Qwen2.5-VL: its computer_use tool calls, in absolute pixels of the smart_resize image "
                "(\"The screen's resolution is W×H\" of that image).",
))

register(Profile(
    name="qwen-thousand",
    served_model_name="OS-Atlas-Base-7B",
    hf_model="OS-Copilot/OS-Atlas-Base-7B",
    image_rule=SmartResizeRule(factor=28, min_pixels=4 * 28 * 28, max_pixels=16384 * 28 * 28, resize=False),
    space="thousand",
    fmt="thousand",
    thinking=None,
    agent_sampling=Sampling(temperature=0.0, max_tokens=1024, max_tokens_floor=256),
    # the box comes between <|box_start|> and <|box_end|>, special tokens vLLM drops unless told not to
    grounding_sampling=Sampling(temperature=0.0, max_tokens=256, max_tokens_floor=64,
                                extra={"skip_special_tokens": False}),
    agent_prompt=None,
    grounding_prompt="os-atlas",
    image_overhead_tokens=2,
    min_vllm=QWEN2_MIN_VLLM,
    family="qwen2-vl",
    description="OS-Atlas-Base (Qwen2-VL): grounding only, its (with bbox) prompt; integers in [0, 1000]; "
                "native image, server-side smart_resize.",
))

register(Profile(
    name="qwen3-vl",
    served_model_name="Qwen3-VL-8B-Instruct",
    hf_model="Qwen/Qwen3-VL-8B-Instruct",
    # Qwen3-VL: 16-px patches merged 2x2, so one token per 32x32 px; processor bounds 64·32² to 16384·32² px.
    image_rule=SmartResizeRule(factor=32, min_pixels=64 * 32 * 32, max_pixels=16384 * 32 * 32, resize=False),
    space="thousand",
    fmt="qwen-tool",
    thinking=None,
    agent_sampling=Sampling(temperature=0.7, top_p=0.8, max_tokens=2048, max_tokens_floor=512, extra={"top_k": 20}),
    grounding_sampling=Sampling(temperature=0.0, max_tokens=256, max_tokens_floor=64),
    agent_prompt="qwen-tool",
    grounding_prompt="qwen-tool",
    image_overhead_tokens=2,
    min_vllm=QWEN3_MIN_VLLM,
    family="qwen3-vl",
    description="Qwen3-VL: its computer_use tool calls on a 1000x1000 grid; 32-px tokens.",
))

register(Profile(
    name="openai-pyautogui",
    served_model_name="",
    hf_model="",
    # Unknown model: assume a Qwen-like 28-px token rule for the budget and send the screenshot as is.
    image_rule=SmartResizeRule(factor=28, min_pixels=4 * 28 * 28, max_pixels=16384 * 28 * 28, resize=False),
    space="pixels",
    fmt="pyautogui",
    thinking=None,
    agent_sampling=Sampling(temperature=0.0, max_tokens=1024, max_tokens_floor=256),
    grounding_sampling=Sampling(temperature=0.0, max_tokens=256, max_tokens_floor=64),
    agent_prompt="sections",
    grounding_prompt="pyautogui",
    image_overhead_tokens=8,
    description="Any OpenAI-compatible VLM: pyautogui code in pixels of the screenshot as sent "
                "(served model name: the server's only model unless given).",
))

DEFAULT_PROFILE = "kimi-vl-thinking"


def get_profile(name: str | None = None) -> Profile:
    """The profile called ``name`` (the default profile for None); ValueError listing the names otherwise."""
    key = DEFAULT_PROFILE if name is None else name
    try:
        return PROFILES[key]
    except KeyError:
        raise ValueError(f"unknown model profile {name!r}; known profiles: {', '.join(PROFILES)}") from None
