"""Chat mode without the web framework: uploads, the thinking/answer split while streaming, and a
conversation kept within the model's context budget.

Nothing here imports chainlit, so every piece can be tested on its own.

- ``load_image_upload`` turns an uploaded file into an image content part (a base64 data URL by
  default), or raises ``UploadError`` with a sentence the user can act on.
- ``ThinkingStream`` routes streamed text to "thinking" or "answer" as it arrives, whether the
  server separates reasoning (``reasoning_content``) or, like vLLM for Kimi-VL, leaves the
  ``◁think▷ … ◁/think▷`` markers inside the content. Markers split across chunks are handled.
- ``Conversation`` holds the turns and ``fit`` builds the largest request that fits: at most the
  server's images per request (the oldest beyond it left out), then within the context lower max_tokens
  to the floor, leave out old images (the newest one last), then old turns. ``send`` asks once more under
  the server's own image limit when the server names a lower one.
- ``md_escape`` makes any text (model output, file names, error messages) display literally.
"""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterator

from agent.models.base import ThinkingMarkers

if TYPE_CHECKING:
    from agent.budget import ContextBudget

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."
MAX_IMAGE_SIDE = 7168  # MoonViT refuses a side of 512 patches (14 px) or more; larger uploads are scaled down
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
IMAGE_PLACEHOLDER = "[an image from earlier in the conversation, left out to fit the context length]"
IMAGE_OVER_LIMIT = "[an earlier image, left out: the server takes at most {limit} images per request]"
_MIME_OF_FORMAT = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


# ---------------------------------------------------------------------- text helpers
# Linear time on any text (model text is hostile): str.replace and one split only, never a Python call
# or a regex match per character (a reply of 100k list lines took 200 ms that way). Marks that open a
# heading, list or setext underline at the start of a line are escaped wherever they follow a space, tab
# or line break, and a number's "." or ")" wherever it follows a digit: a superset of the line starts,
# which Markdown shows the same (an escaped punctuation mark is shown as itself).
_MD_ALWAYS = ("\\", *"`*_[]<>|~&$")  # the backslash first, so the escapes added later stay single
_MD_MARKS = tuple(ws + mark for ws in " \t\n\r" for mark in "#=+-")
_MD_NUMBERS = tuple(digit + end for digit in "0123456789" for end in ".)")
_URL = re.compile(r"((?:https?://|www\.)[^\s<>\"'`]+)")


def md_escape(text: str) -> str:
    """Text that Markdown renders literally.

    Characters that can open markup anywhere are backslash-escaped (CommonMark allows escaping any
    ASCII punctuation), as are the ones that matter at the start of a line (headings, lists, setext
    underlines); line breaks are kept. URLs are left as they are: the renderer links them itself and
    would otherwise show the backslashes inside them.
    """
    # NUL separates the pieces around URLs (Markdown shows a NUL as U+FFFD anyway, so it is replaced first)
    parts = _URL.split(text.replace("\0", "\ufffd"))
    plain = _escape_plain("\0".join(parts[0::2])).split("\0")
    urls = parts[1::2] + [""]
    return "".join(piece for pair in zip(plain, urls) for piece in pair).replace("\n", "  \n")


def _escape_plain(text: str) -> str:
    for ch in _MD_ALWAYS:
        text = text.replace(ch, "\\" + ch)
    if text[:1] in ("#", "=", "+", "-"):
        text = "\\" + text
    for pair in _MD_MARKS:
        text = text.replace(pair, pair[0] + "\\" + pair[1])
    for pair in _MD_NUMBERS:
        text = text.replace(pair, pair[0] + "\\" + pair[1])
    return text


def no_remote_images(text: str, previous: str = "") -> str:
    """Model Markdown with image syntax (``![alt](url)``) disarmed: the browser would fetch the URL
    by itself, which lets a prompt-injected model send data anywhere. Links stay (they need a click).
    ``previous`` is the text shown just before ``text`` (for a ``!`` and ``[`` split across chunks)."""
    if previous.endswith("!") and text.startswith("["):
        text = "\\" + text
    return text.replace("![", "!\\[")


def code_span(text: str) -> str:
    """``text`` as an inline code span that cannot be closed early by backticks inside it."""
    text = text.replace("\n", " ")
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def code_block(text: str, lang: str = "") -> str:
    """``text`` in a fenced code block whose fence is longer than any backtick run inside it."""
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------- uploads
class UploadError(ValueError):
    """An upload that cannot be sent to the model; the message is meant for the user."""


@dataclass(frozen=True)
class ImageUpload:
    """An uploaded image ready to send: its bytes, MIME type, size, and what was done to it."""

    name: str
    data: bytes = field(repr=False)
    mime: str
    width: int
    height: int
    note: str | None = None  # e.g. "scaled down from 9000x3000"

    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"

    def content_part(self) -> dict:
        return {"type": "image_url", "image_url": {"url": self.data_url()}}


def load_image_upload(path: str | Path, name: str | None = None, *, max_side: int = MAX_IMAGE_SIDE,
                      max_bytes: int = MAX_UPLOAD_BYTES) -> ImageUpload:
    """Read an uploaded file as an image the model server can decode.

    PNG, JPEG and WebP are sent as they are; other formats (GIF, BMP, TIFF, …) are converted to PNG;
    an image with a side longer than ``max_side`` is scaled down (keeping its aspect) and said so.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    label = name or path.name
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UploadError(f"the upload {label!r} could not be read ({exc.strerror or exc})") from None
    if size == 0:
        raise UploadError(f"the upload {label!r} is empty")
    if size > max_bytes:
        raise UploadError(f"the upload {label!r} is {size / 1e6:.1f} MB; images up to {max_bytes / 1e6:.0f} MB are accepted")
    raw = path.read_bytes()
    try:
        with Image.open(io.BytesIO(raw)) as img:
            fmt = img.format
            img.load()  # decode everything now: a truncated or corrupt file fails here, not at the server
            width, height = img.size
            note = None
            if max(width, height) > max_side:
                scale = max_side / max(width, height)
                new = (max(1, int(width * scale)), max(1, int(height * scale)))
                img = img.convert("RGBA" if "A" in img.getbands() else "RGB").resize(new, Image.Resampling.LANCZOS)
                note = f"scaled down from {width}×{height} to {new[0]}×{new[1]} (the longest side a model accepts is {max_side} px)"
                width, height = new
                raw, fmt = _png(img), "PNG"
            elif fmt not in ("PNG", "JPEG", "WEBP"):
                mode = "RGBA" if "A" in img.getbands() or "transparency" in img.info else "RGB"
                raw, fmt = _png(img.convert(mode)), "PNG"
    except UnidentifiedImageError:
        raise UploadError(f"{label!r} is not an image this app can read (PNG, JPEG, WebP, GIF, BMP, …)") from None
    except (OSError, ValueError, SyntaxError) as exc:  # pillow: truncated / corrupt data
        raise UploadError(f"{label!r} could not be decoded as an image: {exc}") from None
    except Image.DecompressionBombError as exc:
        raise UploadError(f"{label!r} is too large to decode safely: {exc}") from None
    return ImageUpload(label, raw, _MIME_OF_FORMAT[fmt], width, height, note)


def _png(img: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


# ---------------------------------------------------------------------- streaming split
class ThinkingStream:
    """Splits streamed reply text into ("thinking", …) and ("answer", …) pieces as it arrives.

    ``feed(kind, text)`` takes one delta from ``OpenAIModel``'s ``on_delta`` (kind "content" or
    "reasoning") and returns the pieces that can be shown now; ``finish()`` returns what was held
    back. Text that might be the start of a marker is held until it is known not to be one. The
    final split shown to the user should still come from ``Reply`` (``thinking``/``answer``), which
    also handles a reply whose template opened the thinking block before the first token.
    """

    def __init__(self, markers: ThinkingMarkers | None) -> None:
        self.markers = markers
        self.state = "start" if markers else "answer"
        self._buf = ""
        # Linear in the reply however it is cut: shown text and leading blanks are kept as lists of
        # pieces (re-concatenating or re-stripping everything on each delta was quadratic).
        self._blank: list[str] = []
        self._shown: dict[str, list[str]] = {"thinking": [], "answer": []}

    @property
    def thinking(self) -> str:
        """The thinking text shown so far."""
        return "".join(self._shown["thinking"])

    @property
    def answer(self) -> str:
        """The answer text shown so far."""
        return "".join(self._shown["answer"])

    def feed(self, kind: str, text: str) -> list[tuple[str, str]]:
        if not text:
            return []
        if kind == "reasoning":
            return self._emit([("thinking", text)])
        if self.state == "start" and not self._buf and text.isspace():
            self._blank.append(text)  # blanks before the first word: held until it shows whether they stay
            return []
        self._buf += text
        return self._emit(self._drain(final=False))

    def finish(self) -> list[tuple[str, str]]:
        return self._emit(self._drain(final=True))

    def _emit(self, pieces: list[tuple[str, str]]) -> list[tuple[str, str]]:
        out = [(k, t) for k, t in pieces if t]
        for k, t in out:
            self._shown[k].append(t)
        return out

    def _drain(self, final: bool) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if not self.markers:
            out.append(("answer", self._buf))
            self._buf = ""
            return out
        open_, close = self.markers
        if final and self.state == "start" and self._blank:
            self._buf, self._blank = "".join(self._blank) + self._buf, []
        while self._buf:
            if self.state == "start":
                head = self._buf.lstrip()
                if head.startswith(open_):
                    self._buf, self._blank = head[len(open_):], []
                    self.state = "thinking"
                    continue
                if not final and (not head or open_.startswith(head)):
                    return out  # could still become the opening marker
                self._buf, self._blank = "".join(self._blank) + self._buf, []
                self.state = "answer"
                continue
            if self.state == "thinking":
                end = self._buf.find(close)
                if end >= 0:
                    out.append(("thinking", self._buf[:end]))
                    self._buf = self._buf[end + len(close):]
                    self.state = "after"
                    continue
                keep = 0 if final else _partial_suffix(self._buf, close)
                out.append(("thinking", self._buf[: len(self._buf) - keep]))
                self._buf = self._buf[len(self._buf) - keep:]
                return out
            if self.state == "after":  # drop the blank lines between the close marker and the answer
                stripped = self._buf.lstrip()
                if not stripped and not final:
                    self._buf = ""
                    return out
                self._buf = stripped
                self.state = "answer"
                continue
            out.append(("answer", self._buf))
            self._buf = ""
        return out


def _partial_suffix(text: str, marker: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``marker``."""
    for n in range(min(len(marker) - 1, len(text)), 0, -1):
        if marker.startswith(text[-n:]):
            return n
    return 0


# ---------------------------------------------------------------------- conversation + budget
@dataclass
class Turn:
    """One exchange: the user's content (text or OpenAI content parts) and the assistant's answer."""

    user: str | list[dict]
    answer: str | None = None

    def images(self) -> int:
        return sum(1 for p in self.user if isinstance(p, dict) and p.get("type") == "image_url") \
            if isinstance(self.user, list) else 0


@dataclass(frozen=True)
class ChatFit:
    """A chat request that fits: messages, the max_tokens to ask for, and what was left out.

    ``images_over_limit`` oldest images were left out because one request may carry at most
    ``image_limit`` (the server's ``--limit-mm-per-prompt``); ``images_left_out`` more to fit the context.
    """

    messages: list[dict]
    max_tokens: int
    prompt_tokens: int
    image_tokens: int
    exact: bool
    turns_left_out: int
    images_left_out: int
    images_over_limit: int = 0
    image_limit: int | None = None

    @property
    def trimmed(self) -> bool:
        return bool(self.turns_left_out or self.images_left_out or self.images_over_limit)


ImageId = tuple[int, int]
"""(turn index, part index) of one image in a conversation."""


class Conversation:
    """The turns of one chat session (answers only: earlier thinking is not sent back)."""

    def __init__(self, system: str | None = DEFAULT_SYSTEM_PROMPT) -> None:
        self.system = system
        self.turns: list[Turn] = []

    def ask(self, text: str, images: list[ImageUpload] | None = None) -> Turn:
        """Start a turn; the answer is filled in with ``answer`` once it arrived."""
        if images:
            parts: list[dict] = [img.content_part() for img in images]
            if text.strip():
                parts.append({"type": "text", "text": text})
            turn = Turn(parts)
        else:
            turn = Turn(text)
        self.turns.append(turn)
        return turn

    def answer(self, text: str) -> None:
        if self.turns:
            self.turns[-1].answer = text

    def abandon(self) -> None:
        """Forget the last turn if it got no answer (the request failed or was stopped)."""
        if self.turns and self.turns[-1].answer is None:
            self.turns.pop()

    def image_ids(self) -> list[ImageId]:
        """Every image of the conversation, oldest first."""
        return [(i, j) for i, turn in enumerate(self.turns) if isinstance(turn.user, list)
                for j, part in enumerate(turn.user) if isinstance(part, dict) and part.get("type") == "image_url"]

    def messages(self, keep: list[bool] | None = None, dropped: dict[ImageId, str] | None = None) -> list[dict]:
        """OpenAI chat messages; ``keep[i]`` False leaves turn i out, and each image in ``dropped`` is
        replaced by its text placeholder."""
        out: list[dict] = []
        if self.system:
            out.append({"role": "system", "content": self.system})
        for i, turn in enumerate(self.turns):
            if keep is not None and not keep[i]:
                continue
            user = turn.user
            if isinstance(user, list) and dropped:
                user = [{"type": "text", "text": dropped[(i, j)]} if (i, j) in dropped else p for j, p in enumerate(user)]
            out.append({"role": "user", "content": user})
            if turn.answer is not None and i < len(self.turns) - 1:
                out.append({"role": "assistant", "content": turn.answer})
        return out

    def _plans(self, max_images: int | None) -> Iterator[tuple[list[bool], dict[ImageId, str]]]:
        """Ever smaller requests. First the oldest images beyond ``max_images`` go (always); then, to fit
        the context, old images out (oldest first, those of the turn with the newest image last), then old
        turns (oldest first, the turn with the newest image last). The current turn always stays."""
        n = len(self.turns)
        keep = [True] * n
        ids = self.image_ids()
        over = len(ids) - max_images if max_images is not None and len(ids) > max_images else 0
        dropped = {image: IMAGE_OVER_LIMIT.format(limit=max_images) for image in ids[:over]}
        yield list(keep), dict(dropped)
        kept = ids[over:]
        newest = kept[-1][0] if kept else None
        for image in kept:
            if image[0] < n - 1 and image[0] != newest:
                dropped[image] = IMAGE_PLACEHOLDER
                yield list(keep), dict(dropped)
        for i in range(n - 1):
            if i != newest:
                keep[i] = False
                yield list(keep), dict(dropped)
        if newest is not None and newest < n - 1:
            for image in kept:
                if image[0] == newest:
                    dropped[image] = IMAGE_PLACEHOLDER
            yield list(keep), dict(dropped)
            keep[newest] = False
            yield list(keep), dict(dropped)

    async def fit(self, budget: "ContextBudget", max_tokens: int, floor: int | None = None, *,
                  max_images: int | None = None) -> ChatFit:
        """The richest request that carries at most ``max_images`` images and leaves at least ``floor``
        tokens for the answer (the budget's context length: the server's own once it said it).

        Raises ``agent.budget.BudgetError`` (a ``ModelError``) when even the system prompt and the
        current turn alone do not fit.
        """
        from agent.budget import BudgetError

        floor = min(max_tokens, floor if floor is not None else max_tokens)
        last: tuple[int, int] | None = None
        for keep, dropped in self._plans(max_images):
            messages = self.messages(keep, dropped)
            prompt, image_tokens, _, exact = await budget.count(messages)
            room = budget.room(prompt)
            last = (prompt, image_tokens)
            if room >= floor:
                over = sum(1 for text in dropped.values() if text != IMAGE_PLACEHOLDER)
                left = sum(1 for (i, _j), text in dropped.items() if text == IMAGE_PLACEHOLDER and keep[i])
                return ChatFit(messages, min(max_tokens, room), prompt, image_tokens, exact,
                               turns_left_out=sum(1 for i in range(len(self.turns) - 1) if not keep[i]),
                               images_left_out=left, images_over_limit=over, image_limit=max_images)
        prompt, image_tokens = last or (0, 0)
        raise BudgetError(
            f"this message needs {prompt} prompt tokens ({image_tokens} for images) plus at least {floor} for the "
            f"answer, but the context length is {budget.context_len}. Send a smaller image or less text, "
            "lower 'Max tokens', or serve the model with a larger --max-model-len.")


# ---------------------------------------------------------------------- one exchange
async def send(conv: Conversation, budget: "ContextBudget", complete: Callable[[ChatFit], Awaitable[Any]], *,
               max_tokens: int, floor: int, image_limit: int | None) -> tuple[Any, ChatFit]:
    """Fit the conversation (at most ``image_limit`` images) and ask: ``complete(fit)`` sends the request.

    When the server refuses because it takes fewer images than assumed (its ``--limit-mm-per-prompt``;
    vLLM names the number), the conversation is fitted again under the server's number and asked once
    more; the returned fit says which limit held, for the next turns.
    """
    from agent.models.openai_backend import TooManyImages

    fit = await conv.fit(budget, max_tokens, floor, max_images=image_limit)
    try:
        return await complete(fit), fit
    except TooManyImages as exc:
        if image_limit is not None and exc.limit >= image_limit:
            raise
        fit = await conv.fit(budget, max_tokens, floor, max_images=exc.limit)
        return await complete(fit), fit


def left_out_note(fit: ChatFit, context_len: int) -> str | None:
    """One line for the user saying what of the conversation the request left out, and why (None: nothing)."""
    parts = []
    if fit.images_over_limit:
        parts.append(f"{fit.images_over_limit} older image(s) left out: the server takes at most "
                     f"{fit.image_limit} image(s) per request")
    left = []
    if fit.turns_left_out:
        left.append(f"{fit.turns_left_out} earlier turn(s)")
    if fit.images_left_out:
        left.append(f"{fit.images_left_out} earlier image(s)")
    if left:
        parts.append(f"{' and '.join(left)} left out to fit the {context_len}-token context")
    return f"ℹ {'; '.join(parts)}." if parts else None


# ---------------------------------------------------------------------- errors
def describe_error(exc: BaseException) -> str:
    """One readable sentence for an error shown in the chat (never a traceback)."""
    from agent.models.base import ModelError

    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, ModelError):
        return text[0].upper() + text[1:]
    return f"{type(exc).__name__}: {text}"
