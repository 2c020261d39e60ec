"""Context budget: every request must fit the server's context length, completion included.

    prompt tokens + max_tokens + safety margin <= context length

Prompt tokens = text tokens (exact from the server's ``/tokenize`` when it has one, else a
conservative estimate that never under-counts) + for every image its exact token count by the
profile's rule plus the markers around it (``Profile.image_overhead_tokens``).

History keeps the screenshots of the last ``keep_images`` steps; older steps are one-line text
summaries. When a request does not fit, in this order:
1. lower max_tokens, down to the profile's floor;
2. drop the oldest text summaries, but keep the newest ``min_text_steps`` of them;
3. turn the oldest screenshot step into a text summary, and go back to 2;
4. with no screenshot left in history, drop text summaries down to none;
5. if even the system prompt + current screenshot + instruction + floor do not fit: ``BudgetError``.

Candidates are searched with few ``/tokenize`` calls (one in the usual case).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from agent.images import image_size, iter_image_parts, strip_images
from agent.models.base import ModelError, TokenCounter
from agent.prompts import HistoryStep, build_agent_messages, split_history

if TYPE_CHECKING:
    from agent.images import ModelImage
    from agent.profiles import Profile

MESSAGE_OVERHEAD_ESTIMATE = 8
GENERATION_PROMPT_ESTIMATE = 8


class BudgetError(ModelError):
    """Even the smallest possible request does not fit the context length."""


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (0x3000 <= o <= 0x9FFF) or (0xAC00 <= o <= 0xD7AF) or (0xF900 <= o <= 0xFAFF) or (0xFF00 <= o <= 0xFFEF) \
        or (0x20000 <= o <= 0x2FFFF)


def estimate_text_tokens(text: str) -> int:
    """A conservative token count for text: ASCII at 2 characters a token, CJK at 1 a character, anything else at 2.

    BPE tokenizers of current VLMs average 3–4 ASCII characters and about one CJK character per token;
    rare symbols can fall back to bytes, hence 2 for the rest.
    """
    ascii_chars = cjk = other = 0
    for ch in text:
        if ord(ch) < 128:
            ascii_chars += 1
        elif _is_cjk(ch):
            cjk += 1
        else:
            other += 1
    return math.ceil(ascii_chars / 2) + cjk + 2 * other


def estimate_message_tokens(messages: list[dict]) -> int:
    """Conservative text tokens of chat messages (images excluded), chat-template framing included."""
    total = GENERATION_PROMPT_ESTIMATE
    for msg in messages:
        total += MESSAGE_OVERHEAD_ESTIMATE
        content = msg.get("content")
        if isinstance(content, str):
            total += estimate_text_tokens(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "text":
                    total += estimate_text_tokens(part.get("text", ""))
    return total


DEFAULT_CONTEXT_LEN = 8192
"""The context length assumed when neither the server nor the user gives one (the seed's ``--max-model-len``)."""
MIN_CONTEXT_LEN = 512
"""The smallest ``--context-len`` the command line accepts: below it not even a prompt and a short reply fit."""


class ContextMismatch(ValueError):
    """``--context-len`` says one number and the server another; the message names both."""


def context_len_from(server: int | None, override: int | None, where: str = "the server") -> int:
    """The context length to budget for: the server's own number (vLLM publishes ``max_model_len``).

    ``override`` (``--context-len``) is for servers that publish none; when both are known they must
    agree, because vLLM refuses every request that does not fit its own number (ContextMismatch).
    With neither, :data:`DEFAULT_CONTEXT_LEN`.
    """
    if server is not None and override is not None and server != override:
        raise ContextMismatch(
            f"--context-len {override} does not match the context length {server} that {where} reports "
            f"(its --max-model-len): drop --context-len to use {server}, or restart the server with "
            f"--max-model-len {override}")
    if server is not None:
        return server
    return override if override is not None else DEFAULT_CONTEXT_LEN


@dataclass(frozen=True)
class BudgetSettings:
    """Knobs of the context budget.

    ``context_len`` is the server's ``--max-model-len``. ``keep_images`` is how many recent steps keep
    their screenshot (None: the profile's). ``thought_chars`` caps each replayed thought.
    ``min_text_steps`` text summaries are kept in preference to an old screenshot.
    ``max_tokens_floor`` overrides the profile's floor. ``use_server_count`` asks ``/tokenize``.
    """

    context_len: int = DEFAULT_CONTEXT_LEN
    keep_images: int | None = None
    thought_chars: int | None = 1500
    min_text_steps: int = 8
    max_tokens_floor: int | None = None
    safety_margin: int = 16
    use_server_count: bool = True


@dataclass(frozen=True)
class Fitted:
    """A request that fits: the messages, the max_tokens to send, and how the budget was spent."""

    messages: list[dict]
    max_tokens: int
    prompt_tokens: int
    image_tokens: int
    images: int
    image_steps: int
    text_steps: int
    dropped_steps: int
    exact: bool
    context_len: int

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.max_tokens


class ContextBudget:
    """Fits requests of one profile into ``settings.context_len`` (see the module docstring)."""

    def __init__(self, profile: "Profile", settings: BudgetSettings | None = None, counter: TokenCounter | None = None) -> None:
        self.profile = profile
        self.settings = settings or BudgetSettings()
        self.counter = counter
        self._server_count_ok = counter is not None and self.settings.use_server_count
        self._asked_server = False
        self._last_plan: tuple[int, int] | None = None  # (screenshots kept, text steps kept) last time

    # ------------------------------------------------------------------ counting
    def image_tokens(self, messages: list[dict]) -> tuple[int, int]:
        """(tokens, count) of the images in the messages by the profile's rule, markers included.

        The rule is applied to the *sent* size: for smart_resize profiles that is already the resized
        size (a fixed point of the rule); for MoonViT it is the native size.
        """
        total = n = 0
        for part in iter_image_parts(messages):
            try:
                w, h = image_size(part.get("image_url", {}).get("url", ""))
            except (ValueError, OSError) as e:
                raise BudgetError(f"cannot count the tokens of an image: {e}") from e
            total += self.profile.image_tokens(w, h)
            n += 1
        return total, n

    async def count(self, messages: list[dict], need: int | None = None) -> tuple[int, int, int, bool]:
        """(prompt tokens, image tokens, images, exact) for the messages.

        With ``need`` (the answer tokens the caller wants room for), the server is not asked when the
        conservative estimate already leaves that room: an exact count could only show more room, and
        the request is sent the same either way. It saves a ``/tokenize`` round trip on most requests.
        """
        await self._learn_context_len()
        image_tokens, images = self.image_tokens(messages)
        text_only = strip_images(messages)
        text: int | None = None
        if need is not None:
            estimate = estimate_message_tokens(text_only) + image_tokens
            if self.room(estimate) >= need:
                return estimate, image_tokens, images, False
        if self._server_count_ok:
            assert self.counter is not None
            text = await self.counter.count_tokens(text_only)
            if text is None:
                self._server_count_ok = False
        exact = text is not None
        if text is None:
            text = estimate_message_tokens(text_only)
        return text + image_tokens, image_tokens, images, exact

    async def _learn_context_len(self) -> None:
        """Ask the counter's server once for its context length (vLLM lists it in ``/v1/models``), so that
        even a request the estimate lets through without ``/tokenize`` is fitted to the server's number."""
        if self._asked_server or getattr(self.counter, "max_model_len", 0) is not None:
            return
        self._asked_server = True
        served_model = getattr(self.counter, "served_model", None)
        if served_model is not None:
            try:
                await served_model()
            except ModelError:
                pass  # the request itself will report an unreachable server or an unknown model

    # ------------------------------------------------------------------ fitting
    def floor(self, desired: int) -> int:
        floor = self.settings.max_tokens_floor
        if floor is None:
            floor = self.profile.agent_sampling.max_tokens_floor
        return min(floor, desired)

    @property
    def context_len(self) -> int:
        """The context length requests are fitted to: the server's own number once the counter has
        heard it (from ``/v1/models`` or a ``/tokenize`` answer), else ``settings.context_len``."""
        server = getattr(self.counter, "max_model_len", None)
        return server if isinstance(server, int) and server > 0 else self.settings.context_len

    def room(self, prompt_tokens: int) -> int:
        return self.context_len - self.settings.safety_margin - prompt_tokens

    async def fit_messages(self, messages: list[dict], max_tokens: int, *, floor: int | None = None) -> Fitted:
        """Check one fixed request (grounding): lower max_tokens to fit, or raise BudgetError."""
        prompt, img_tokens, images, exact = await self.count(messages, need=max_tokens)
        floor = min(max_tokens, floor if floor is not None else self.floor(max_tokens))
        room = self.room(prompt)
        if room < floor:
            raise BudgetError(
                f"the request needs {prompt} prompt tokens ({img_tokens} for {images} image(s)) plus at least "
                f"{floor} for the answer, but the context length is {self.context_len}. Serve the model "
                "with a larger --max-model-len or use a profile with a smaller image budget.")
        return Fitted(messages, min(max_tokens, room), prompt, img_tokens, images, 0, 0, 0, exact,
                      self.context_len)

    async def fit_agent(
        self,
        instruction: str,
        history: Sequence[HistoryStep],
        image: "ModelImage",
        screen_size: tuple[int, int],
        *,
        max_tokens: int | None = None,
    ) -> Fitted:
        """The richest agent request for this step that fits the context (see the module docstring)."""
        desired = max_tokens if max_tokens is not None else self.profile.agent_sampling.max_tokens
        search = _AgentSearch(self, instruction, list(history), image, screen_size, desired, self.floor(desired))
        keep = self.settings.keep_images if self.settings.keep_images is not None else self.profile.keep_images
        most_images = len(split_history(search.steps, keep)[0])
        # Blocks of candidates, richest first: k screenshots kept (k = most_images … 0); within a block
        # the oldest text steps are dropped one by one, keeping at least min_text_steps of them while a
        # screenshot step could still be turned into text instead. Sizes fall monotonically inside a
        # block, so a binary search finds its best candidate; the previous step's plan is tried first,
        # since consecutive steps mostly fit the same way (two /tokenize calls in the steady state).
        last_k, last_text = self._last_plan if self._last_plan is not None else (None, None)
        for k in range(most_images, -1, -1):
            text_steps = len(search.steps) - k
            keep_text = min(text_steps, self.settings.min_text_steps) if k > 0 else 0
            guess = text_steps - last_text if k == last_k and last_text is not None else None
            fitted = await search.smallest_drop(k, text_steps - keep_text, guess,
                                                probe_smallest_first=last_k is not None and k > last_k)
            if fitted is not None:
                self._last_plan = (k, fitted.text_steps)
                return fitted
        raise BudgetError(
            f"even without any history the request needs {search.last_prompt} prompt tokens (the screenshot costs "
            f"{image.image_tokens + self.profile.image_overhead_tokens}) plus at least {search.floor} for the "
            f"answer, but the context length is {self.context_len}. Serve the model with a larger "
            "--max-model-len (screenact serve --max-model-len N), or use a profile whose screenshots cost fewer "
            "tokens.")


@dataclass
class _AgentSearch:
    """One step's search for the agent request that fits: ``attempt`` builds and counts one candidate."""

    budget: ContextBudget
    instruction: str
    steps: list[HistoryStep]
    image: "ModelImage"
    screen_size: tuple[int, int]
    desired: int
    floor: int
    last_prompt: int = 0

    async def attempt(self, k: int, drop: int) -> Fitted | None:
        """The request with ``k`` screenshots and the ``drop`` oldest steps left out, or None if it does not fit."""
        b = self.budget
        kept = self.steps[drop:]
        msgs = build_agent_messages(b.profile, self.instruction, kept, self.image, self.screen_size,
                                    keep_images=k, thought_chars=b.settings.thought_chars)
        prompt, img_tokens, images, exact = await b.count(msgs, need=self.desired)
        self.last_prompt = prompt
        room = b.room(prompt)
        if room < self.floor:
            return None
        shown = len(split_history(kept, k)[0])
        return Fitted(msgs, min(self.desired, room), prompt, img_tokens, images, shown, len(kept) - shown,
                      drop, exact, b.context_len)

    async def smallest_drop(self, k: int, max_drop: int, guess: int | None, probe_smallest_first: bool) -> Fitted | None:
        """The candidate of block k with the fewest dropped steps that fits, or None."""
        attempt = self.attempt
        if probe_smallest_first and max_drop > 0:
            if await attempt(k, max_drop) is None:
                return None
        first = 0 if guess is None else min(max(guess, 0), max_drop)
        best = await attempt(k, first)
        if best is not None:
            if first == 0:
                return best
            lo, hi = 0, first
            neighbour = await attempt(k, first - 1)  # usually the answer is the last step's plan
            if neighbour is None:
                return best
            best, hi = neighbour, first - 1
        else:
            lo = first + 1
            if lo > max_drop:
                return None
            best = await attempt(k, max_drop)
            if best is None:
                return None
            hi = max_drop
        while lo < hi:  # the smallest drop that fits lies in [lo, hi]; hi fits
            mid = (lo + hi) // 2
            fitted = await attempt(k, mid)
            if fitted is not None:
                best, hi = fitted, mid
            else:
                lo = mid + 1
        return best
