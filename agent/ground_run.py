"""Running a grounding benchmark: many samples through one ``Grounder``, N requests in flight.

``run_grounding(samples, grounder, out=...)`` asks the grounder for each sample's point (``locate``,
so the embedded ``ocr`` grounder and every VLM profile work alike), scores it by the benchmark's
rule (``tasks.grounding.metrics``) and writes ``out`` in ScreenSpot-Pro's results shape,
``{"details": [...], "metrics": {...}}`` plus a ``"run"`` header, every raw reply kept.

Nothing is lost on an interruption: each finished sample is appended to ``<out stem>.details.jsonl``
(one JSON line, flushed at once) before the next one is counted, and ``resume=True`` reads that log
(and a previous ``out``) and asks only for the samples not finished yet. A request that failed (the
server answered with an error after the client's retries) is recorded with an ``error`` and counts
as ``wrong_format``; a resumed run asks for it again. The run stops early — saving what it has — when
the server cannot be reached, the model name is unknown, or ``max_consecutive_errors`` samples in a
row failed.

Concurrency: ``concurrency`` worker coroutines share the list of samples, so at most that many
samples are being loaded or asked at once (vLLM batches the requests), and a worker goes on to its
next sample the moment one is done, without a hand-off through the event loop. Images are read as
files (:class:`FileFrame`, decoded only if a grounder needs pixels; :class:`DatasetProfile` sends a
PNG the model takes at native size as it is) and shared between samples of one screenshot.
Progress (done/total, rate, ETA, accuracy so far) goes to stderr.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import math
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, Protocol, runtime_checkable

from agent.grounders import Grounder, Grounding
from agent.images import ModelImage
from agent.profiles import Profile
from tasks.grounding.datasets import Sample
from tasks.grounding.metrics import compute_metrics, judge
from tools.frame import Frame
from tools.safe_files import atomic_write

RESULTS_VERSION = 1


class ResumeMismatch(ValueError):
    """The saved results were made by another grounder, language or dataset format."""


class RunAborted(RuntimeError):
    """The run stopped early (what finished is saved); the message says why and how to go on."""


def details_log_path(out: Path) -> Path:
    """Where the incremental details of ``out`` are logged: ``results.json`` → ``results.details.jsonl``."""
    return out.with_name(f"{out.stem}.details.jsonl")


# ---------------------------------------------------------------------------------- detail rows
def detail_row(sample: Sample, lang: str, *, grounding: Grounding | None = None, error: str | None = None,
               img_size: tuple[int, int] | None = None, latency_s: float = 0.0) -> dict[str, Any]:
    """One entry of ``details``: ScreenSpot-Pro's fields (``bbox`` always x1, y1, x2, y2 pixels) plus ours.

    ``pred`` is the point scored, in original-image pixels: for a VLM the model's point scaled
    exactly (no rounding, as the benchmarks score it — a point outside the image included, which is
    ``wrong``, not ``wrong_format``); for other grounders their pixel. Like ScreenSpot-Pro's scorer,
    the scale is the annotated ``img_size`` when the record has one (should the file differ, its size
    is kept as ``file_size``). ``pred_pixel`` is the whole
    pixel the grounder would click (None when it found nothing or the point is off the screen).
    A failed request is ``wrong_format`` with ``error``.
    """
    pred = None
    pixel = None
    reply = None
    extra: dict[str, Any] = {}
    if grounding is not None:
        pixel = None if grounding.point is None else [grounding.point.x, grounding.point.y]
        reply = grounding.reply
        extra = dict(grounding.details or {})
        latency_s = grounding.latency_s or latency_s
        # the benchmark scales the model's point by the annotated image size (the box's frame of reference)
        pred = exact_point(extra, sample.img_size or img_size) or pixel
        if pred is pixel and pixel is not None and sample.img_size and img_size and tuple(img_size) != sample.img_size:
            pred = [pixel[0] * sample.img_size[0] / img_size[0], pixel[1] * sample.img_size[1] / img_size[1]]
    correctness = judge(pred, sample.bbox)
    row: dict[str, Any] = {
        "key": sample.key,
        "id": sample.id,
        "img_path": str(sample.image_path),
        "img_filename": sample.img_filename,
        "img_size": list(sample.img_size or img_size or ()) or None,
        "group": sample.group,
        "platform": sample.platform,
        "application": sample.application,
        "lang": lang,
        "instruction_style": "instruction",
        "prompt_to_evaluate": sample.prompt(lang),  # type: ignore[arg-type]
        "gt_type": "positive",
        "ui_type": sample.ui_type,
        "task_filename": Path(sample.source_file).stem,
        "pred": pred,
        "pred_pixel": pixel,
        "raw_response": reply,
        "bbox": list(sample.bbox),
        "correctness": correctness,
        "latency_s": round(latency_s, 4),
    }
    if img_size and sample.img_size and tuple(img_size) != sample.img_size:
        row["file_size"] = list(img_size)  # the file is not the size the annotation says: points were scaled
    if grounding is not None:
        row["grounder"] = grounding.grounder
        row["grounding"] = extra
    if error is not None:
        row["error"] = error
    return row


def exact_point(details: dict[str, Any], size: tuple[int, int] | None) -> list[float] | None:
    """The model's point (``details["model_point"]`` in ``details["space"]``) in image pixels, unrounded."""
    mp, space = details.get("model_point"), details.get("space")
    if not mp or size is None or len(mp) != 2:
        return None
    if space == "normalized":
        ex, ey = 1.0, 1.0
    elif space == "thousand":
        ex, ey = 1000.0, 1000.0
    elif space == "pixels" and details.get("sent_size"):
        ex, ey = (float(v) for v in details["sent_size"])
    else:
        return None
    try:
        return [float(mp[0]) * size[0] / ex, float(mp[1]) * size[1] / ey]
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------------- saving
class DetailsLog:
    """Append-only JSON-lines log of finished samples: each line is flushed to the OS at once, so a
    killed process loses nothing; it is fsynced on close (an fsync per line would stall the event
    loop — 160 ms each on this project's VM disk — for protection only against power loss)."""

    def __init__(self, path: Path, header: dict[str, Any], *, append: bool) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not append or not path.exists() or path.stat().st_size == 0
        if not fresh:
            with path.open("rb") as f:  # a kill mid-line left a torn last line: start on a new one
                f.seek(-1, os.SEEK_END)
                torn = f.read(1) != b"\n"
        self._f: IO[str] = path.open("a" if not fresh else "w", encoding="utf-8")
        if not fresh and torn:
            self._f.write("\n")
        if fresh:
            self._write({"run": header})

    def _write(self, obj: dict[str, Any]) -> None:
        self._f.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
        self._f.flush()

    def append(self, row: dict[str, Any]) -> None:
        self._write(row)

    def close(self) -> None:
        if not self._f.closed:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()


def load_saved(out: Path) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """(run header, finished details by key) from a previous ``out`` and its details log.

    The log wins over ``out`` for a key present in both; a torn last line (a kill mid-write) is skipped.
    """
    header: dict[str, Any] | None = None
    rows: dict[str, dict[str, Any]] = {}
    if out.is_file():
        try:
            doc = json.loads(out.read_text(encoding="utf-8"))
        except (ValueError, OSError):
            doc = None
        if isinstance(doc, dict):
            header = doc.get("run") if isinstance(doc.get("run"), dict) else None
            for row in doc.get("details") or []:
                if isinstance(row, dict) and isinstance(row.get("key"), str):
                    rows[row["key"]] = row
    log = details_log_path(out)
    if log.is_file():
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue  # the line a kill cut short
            if not isinstance(obj, dict):
                continue
            if isinstance(obj.get("run"), dict):
                header = header or obj["run"]
            elif isinstance(obj.get("key"), str):
                rows[obj["key"]] = obj
    return header, rows


def write_results(out: Path, details: list[dict[str, Any]], run: dict[str, Any]) -> dict[str, Any]:
    """Write ``out`` atomically (``{"run", "details", "metrics"}``) and return the metrics."""
    metrics = compute_metrics(details)
    doc = {"run": run, "details": details, "metrics": metrics}
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, json.dumps(doc, ensure_ascii=False, indent=1, default=str), durable=True)
    return metrics


# ---------------------------------------------------------------------------------- progress
def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class Progress:
    """A one-line progress bar on a stream: done/total, samples/s, ETA, accuracy so far, failures.

    On a terminal the line is redrawn in place (at most every ``interval`` s); elsewhere (a log
    file, CI) a plain line is printed every ``log_interval`` s and at the end. Rate and ETA count
    only samples finished in this session, so a resumed run's estimate is honest.
    """

    def __init__(self, total: int, done: int = 0, correct: int = 0, *, stream: IO[str] | None = None,
                 label: str = "ground", interval: float = 0.2, log_interval: float = 10.0, enabled: bool = True) -> None:
        self.total, self.done, self.correct, self.errors = total, done, correct, 0
        self.resumed = done
        self.stream = stream if stream is not None else sys.stderr
        self.label = label
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if self.tty else log_interval
        self.started = time.monotonic()
        self._shown = 0.0

    @property
    def rate(self) -> float:
        """Samples per second finished in this session."""
        elapsed = time.monotonic() - self.started
        return (self.done - self.resumed) / elapsed if elapsed > 0 else 0.0

    @property
    def eta_s(self) -> float:
        rate = self.rate
        return (self.total - self.done) / rate if rate > 0 else math.inf

    def line(self) -> str:
        frac = self.done / self.total if self.total else 1.0
        width = 24
        filled = int(frac * width)
        bar = "█" * filled + "░" * (width - filled)
        acc = f"acc {100 * self.correct / self.done:.1f}%" if self.done else "acc –"
        fails = f" | {self.errors} failed" if self.errors else ""
        eta = "done" if self.done >= self.total else f"ETA {_duration(self.eta_s)}"
        return (f"{self.label} {self.done}/{self.total} {bar} {100 * frac:5.1f}% | {self.rate:.2f} samples/s | "
                f"{eta} | {acc}{fails}")

    def update(self, correctness: str, error: bool = False) -> None:
        self.done += 1
        self.correct += correctness == "correct"
        self.errors += error
        now = time.monotonic()
        if self.enabled and (now - self._shown >= self.interval or self.done >= self.total):
            self._show()
            self._shown = now

    def _show(self, final: bool = False) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K" + self.line() + ("\n" if final else ""))
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def start(self) -> None:
        if self.enabled:
            self._show()
            self._shown = time.monotonic()

    def close(self) -> None:
        if self.enabled:
            self._show(final=True)


# ---------------------------------------------------------------------------------- images
class FileFrame(Frame):
    """A dataset image as a :class:`~tools.frame.Frame` that keeps the file's bytes and decodes lazily.

    Only the header is read up front (the size). ``png()`` of an RGB/RGBA PNG file returns the file's
    own bytes, so a native-resolution profile (Kimi-VL) sends the benchmark's original image without
    decoding and re-encoding it — the same pixels, none of the cost. Pixels (``bgra``, ``image()``)
    are decoded on first use, for resizing profiles and the OCR grounder.
    """

    def __init__(self, data: bytes, captured_at: float = 0.0) -> None:  # noqa: D107 - see the class
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            fmt, mode = img.format, img.mode
        for name, value in (("width", width), ("height", height), ("captured_at", captured_at), ("cursor", None),
                            ("_data", data), ("_png", fmt == "PNG" and mode in ("RGB", "RGBA")),
                            ("_pixels", None), ("_lock", threading.Lock())):
            object.__setattr__(self, name, value)

    @classmethod
    def read(cls, path: str | Path) -> "FileFrame":
        """The image file at ``path``."""
        path = Path(path)
        return cls(path.read_bytes(), captured_at=path.stat().st_mtime)

    @property
    def bgra(self) -> bytes:  # type: ignore[override]
        with self._lock:  # type: ignore[attr-defined]
            if self._pixels is None:  # type: ignore[attr-defined]
                object.__setattr__(self, "_pixels", self.image().convert("RGBA").tobytes("raw", "BGRA"))
            return self._pixels  # type: ignore[attr-defined]

    def image(self) -> Any:
        """The image as an RGB pillow image (decoded from the file, a fresh copy)."""
        from PIL import Image

        with Image.open(io.BytesIO(self._data)) as img:  # type: ignore[attr-defined]
            return img.convert("RGB")

    @property
    def is_png(self) -> bool:
        """Whether the file is an 8-bit RGB or RGBA PNG (then ``encoded`` can be sent as the image)."""
        return self._png  # type: ignore[attr-defined]

    @property
    def encoded(self) -> bytes:
        """The file's bytes."""
        return self._data  # type: ignore[attr-defined]

    def png(self, compress_level: int = 1) -> bytes:
        """The file itself when it is an RGB(A) PNG; otherwise the pixels encoded as PNG."""
        if self._png:  # type: ignore[attr-defined]
            return self._data  # type: ignore[attr-defined]
        return super().png(compress_level)


class DatasetProfile(Profile):
    """A profile that sends a dataset's PNG file as it is when the model gets native pixels.

    ``Profile.prepare`` encodes the frame's pixels; for a :class:`FileFrame` of an RGB(A) PNG whose
    size the profile's image rule keeps (Kimi-VL: MoonViT takes native resolution), the file already
    *is* that image — the same pixels, as the benchmark ships them — so it is sent without decoding
    or encoding anything (a 3840×2160 screenshot: ~0 ms instead of hundreds). Anything else goes
    through ``Profile.prepare`` unchanged.
    """

    def prepare(self, frame: Any) -> ModelImage:
        if isinstance(frame, FileFrame) and frame.is_png and self.encoding == "png":
            sw, sh = frame.width, frame.height
            if self.image_rule.sent_size(sw, sh) == (sw, sh):
                from tools.coords import Transform

                return ModelImage(data=frame.encoded, mime="image/png", width=sw, height=sh, screen_width=sw,
                                  screen_height=sh, transform=Transform.for_image(self.space, sw, sh, sw, sh),
                                  image_tokens=self.image_rule.tokens(sw, sh), encode_s=0.0)
        return super().prepare(frame)

    @classmethod
    def of(cls, profile: Profile) -> "DatasetProfile":
        """The same profile, sending dataset files as they are."""
        return cls(**{f.name: getattr(profile, f.name) for f in dataclasses.fields(profile)})


class FrameCache:
    """Frames of image files, the last ``size`` kept: samples of one screenshot share one read (and one
    decode, when a grounder needs pixels). Files over ``inline_bytes`` are read in a worker thread."""

    def __init__(self, size: int = 4, inline_bytes: int = 1 << 20) -> None:
        self.size = size
        self.inline_bytes = inline_bytes
        self._items: OrderedDict[Path, asyncio.Future[Frame]] = OrderedDict()

    async def get(self, path: Path) -> Frame:
        fut = self._items.get(path)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            try:
                small = path.stat().st_size <= self.inline_bytes
            except OSError:
                small = True  # let the read below raise the error
            if small:  # a hop to a worker thread costs more than reading a small file (GIL hand-offs)
                try:
                    fut.set_result(FileFrame.read(path))
                except Exception as exc:  # noqa: BLE001 - handed to every waiter
                    fut.set_exception(exc)
            else:
                fut = asyncio.ensure_future(asyncio.to_thread(FileFrame.read, path))
            self._items[path] = fut
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        else:
            self._items.move_to_end(path)
        try:
            return await asyncio.shield(fut)
        except BaseException:
            if self._items.get(path) is fut and fut.done():
                del self._items[path]  # a failed decode is not cached
            raise


# ---------------------------------------------------------------------------------- before the run
class WontFit(ValueError):
    """The dataset's largest screenshot cannot fit the context length with this profile (message says why)."""


def check_fits(profile: Profile, samples: Sequence[Sample], context_len: int, safety_margin: int = 16) -> None:
    """Refuse before any request when even the largest screenshot of ``samples`` plus the profile's
    smallest grounding answer exceed ``context_len`` (a lower bound: the prompt's text comes on top).

    Sizes come from the annotations (``img_size``), else from the image files' headers.
    """
    from PIL import Image

    sizes: set[tuple[int, int]] = set()
    unread: set[Path] = set()
    for sample in samples:
        if sample.img_size:
            sizes.add(tuple(sample.img_size))  # type: ignore[arg-type]
        else:
            unread.add(sample.image_path)
    for path in unread:
        try:
            with Image.open(path) as img:
                sizes.add(img.size)
        except OSError:
            continue  # an unreadable image is that sample's failure, found when it is asked
    if not sizes:
        return
    size = max(sizes, key=lambda wh: profile.image_tokens(*wh))
    image = profile.image_tokens(*size)
    floor = profile.sampling("grounding").max_tokens_floor
    if image + floor + safety_margin > context_len:
        raise WontFit(
            f"profile {profile.name} needs at least {image + floor + safety_margin} tokens for a {size[0]}x{size[1]} "
            f"screenshot of this dataset ({image} for the image, {floor} for the answer), but the server's context "
            f"length is {context_len}: serve it with --max-model-len {profile.recommended_max_model_len} or more "
            f"(`screenact serve --profile {profile.name}` does)")


# ---------------------------------------------------------------------------------- the run
@dataclass
class GroundRunResult:
    """What a run produced: the details in sample order, the metrics, the run header and counts."""

    details: list[dict[str, Any]]
    metrics: dict[str, Any]
    run: dict[str, Any]
    asked: int
    resumed: int
    errors: int
    aborted: str | None = None
    fatal: BaseException | None = None
    out: Path | None = None
    elapsed_s: float = 0.0
    rows_by_key: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    @property
    def complete(self) -> bool:
        return self.aborted is None and len(self.details) == self.run.get("total", len(self.details))


def _fatal(exc: BaseException) -> bool:
    from agent.models.base import ServerUnreachable, UnknownModel

    return isinstance(exc, (ServerUnreachable, UnknownModel))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def unreadable_image(exc: BaseException) -> str:
    """The error of a sample whose image cannot be read."""
    return f"cannot read the image: {_describe(exc)}"


@dataclass(frozen=True)
class Answer:
    """One sample's answer from a :class:`BatchGrounder`: the grounding, or the error in its place, and the
    image's size (None when it could not be read)."""

    grounding: Grounding | None = None
    error: str | None = None
    size: tuple[int, int] | None = None
    latency_s: float = 0.0


@runtime_checkable
class BatchGrounder(Protocol):
    """A grounder that answers a whole list of samples elsewhere (``--ray``: on a cluster), instead of one
    ``locate`` at a time here. ``name`` is recorded like a grounder's; ``ground_many(asks, stopped)`` takes
    (image path, instruction) pairs and yields (index, :class:`Answer`) as each comes back, and stops
    submitting once ``stopped()`` is true."""

    name: str

    def ground_many(self, asks: Sequence[tuple[Path, str]],
                    stopped: Callable[[], bool]) -> Iterator[tuple[int, Answer]]: ...


def _resumed_rows(out: Path, header: dict[str, Any], samples: Sequence[Sample]) -> dict[str, dict[str, Any]]:
    """The rows an earlier run finished without error, for the samples asked now; ResumeMismatch when the
    earlier run used another grounder, language, dataset format or grounding prompt."""
    saved_header, saved = load_saved(out)
    if saved_header is not None:
        for k in ("grounder", "lang"):
            if saved_header.get(k) != header[k]:
                raise ResumeMismatch(f"{out} was made with {k} {saved_header.get(k)!r}, this run uses {header[k]!r}; "
                                     "use another --out, or start again with --overwrite")
        old_fmt = (saved_header.get("dataset") or {}).get("format")
        new_fmt = header["dataset"].get("format")
        if old_fmt and new_fmt and old_fmt != new_fmt:
            raise ResumeMismatch(f"{out} was made for a {old_fmt} dataset, this one is {new_fmt}")
        old_prompt, new_prompt = saved_header.get("prompt") or {}, header.get("prompt") or {}
        if old_prompt.get("sha256") and new_prompt.get("sha256") and old_prompt["sha256"] != new_prompt["sha256"]:
            raise ResumeMismatch(f"{out} was made with another grounding prompt ({old_prompt.get('source')}) than "
                                 f"this run's ({new_prompt.get('source')}); use another --out, or --overwrite")
    wanted = {s.key for s in samples}
    return {k: r for k, r in saved.items() if k in wanted and not r.get("error")}


def _progress_bar(progress: Progress | bool, total: int, finished: dict[str, dict[str, Any]]) -> Progress:
    """The progress line, counting what an earlier run finished."""
    correct_before = sum(r.get("correctness") == "correct" for r in finished.values())
    if isinstance(progress, Progress):
        progress.total, progress.done, progress.resumed, progress.correct = (total, len(finished), len(finished),
                                                                             correct_before)
        return progress
    return Progress(total, len(finished), correct_before, enabled=progress)


def _open_log(out: Path, header: dict[str, Any], resume: bool, finished: dict[str, dict[str, Any]]) -> DetailsLog:
    """The details log, holding every finished row (also those only the old results file had)."""
    log = DetailsLog(details_log_path(out), header, append=resume)
    if resume and finished:
        logged = load_saved_log_keys(details_log_path(out))
        for k, row in finished.items():
            if k not in logged:
                log.append(row)
    return log


@dataclass
class _Batch:
    """The samples being asked: each answered row is logged and counted; ``stop`` ends the run early."""

    grounder: "Grounder | BatchGrounder"
    lang: Literal["en", "cn"]
    frames: FrameCache
    log: DetailsLog
    bar: Progress
    rows: dict[str, dict[str, Any]]
    max_consecutive_errors: int
    stop: list[str] = field(default_factory=list)
    fatal: list[BaseException] = field(default_factory=list)
    consecutive: int = 0

    async def ask(self, sample: Sample) -> dict[str, Any]:
        """The sample's row: the grounder's answer, or the error that took its place."""
        t0 = time.perf_counter()
        try:
            frame = await self.frames.get(sample.image_path)
        except Exception as exc:  # an unreadable image: a failed sample, not a crash
            return detail_row(sample, self.lang, error=unreadable_image(exc), latency_s=time.perf_counter() - t0)
        try:
            g = await self.grounder.locate(frame, sample.prompt(self.lang))
            return detail_row(sample, self.lang, grounding=g, img_size=frame.size)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded per sample; fatal kinds stop the run
            if _fatal(exc) and not self.stop:
                self.stop.append(_describe(exc))
                self.fatal.append(exc)
            return detail_row(sample, self.lang, error=_describe(exc), img_size=frame.size,
                              latency_s=time.perf_counter() - t0)

    async def one(self, sample: Sample) -> None:
        """Ask, then record the row."""
        self.record(sample, await self.ask(sample))

    def record(self, sample: Sample, row: dict[str, Any]) -> None:
        """Log and count the sample's row; too many failures in a row stop the run."""
        if row.get("error"):
            self.consecutive += 1
            if self.consecutive >= self.max_consecutive_errors and not self.stop:
                self.stop.append(f"{self.consecutive} samples in a row failed; the last: {row['error']}")
        else:
            self.consecutive = 0
        self.rows[sample.key] = row
        self.log.append(row)
        self.bar.update(row["correctness"], error=bool(row.get("error")))

    def run_elsewhere(self, todo: Sequence[Sample], grounder: "BatchGrounder") -> None:
        """Every sample through a :class:`BatchGrounder`, each row recorded as its answer comes back."""
        asks = [(s.image_path, s.prompt(self.lang)) for s in todo]
        for i, answer in grounder.ground_many(asks, lambda: bool(self.stop)):
            self.record(todo[i], detail_row(todo[i], self.lang, grounding=answer.grounding, error=answer.error,
                                            img_size=answer.size, latency_s=answer.latency_s))

    async def run(self, todo: Sequence[Sample], concurrency: int) -> None:
        """``concurrency`` workers, each taking the next sample as soon as it is done with one."""
        queue = iter(todo)

        async def worker() -> None:
            for sample in queue:
                if self.stop:
                    return
                await self.one(sample)

        tasks = [asyncio.create_task(worker()) for _ in range(min(concurrency, len(todo)))]
        try:
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)


async def run_grounding(
    samples: Sequence[Sample],
    grounder: "Grounder | BatchGrounder",
    *,
    out: Path,
    concurrency: int = 8,
    resume: bool = False,
    lang: Literal["en", "cn"] = "en",
    dataset: dict[str, Any] | None = None,
    progress: Progress | bool = True,
    max_consecutive_errors: int = 10,
    cache_images: int = 4,
    prompt: dict[str, str] | None = None,
) -> GroundRunResult:
    """Ground every sample (see the module docstring) and write ``out``; returns the outcome.

    ``dataset`` (e.g. ``{"root", "format"}``) is recorded in the run header and checked on resume,
    together with the grounder's name and ``lang``; so is ``prompt`` (``{"source", "sha256"}`` of the
    grounding prompt: results of different prompts are not one run). A mismatch raises :class:`ResumeMismatch`.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    out = Path(out)
    header = {"version": RESULTS_VERSION, "grounder": getattr(grounder, "name", type(grounder).__name__),
              "lang": lang, "dataset": dataset or {}}
    if prompt is not None:
        header["prompt"] = dict(prompt)
    finished = _resumed_rows(out, header, samples) if resume else {}
    todo = [s for s in samples if s.key not in finished]
    bar = _progress_bar(progress, len(samples), finished)
    batch = _Batch(grounder, lang, FrameCache(cache_images), _open_log(out, header, resume, finished), bar,
                   dict(finished), max_consecutive_errors)
    started = time.monotonic()
    bar.start()
    try:
        if isinstance(grounder, BatchGrounder):
            batch.run_elsewhere(todo, grounder)
        else:
            await batch.run(todo, concurrency)
    finally:
        batch.log.close()
        bar.close()
        result = _finish(out, header, samples, batch, len(finished), concurrency, time.monotonic() - started)
    return result


def _finish(out: Path, header: dict[str, Any], samples: Sequence[Sample], batch: _Batch, resumed: int,
            concurrency: int, elapsed: float) -> GroundRunResult:
    """Write ``out`` from every row so far (the details log goes once the run is complete); the outcome."""
    details = [batch.rows[s.key] for s in samples if s.key in batch.rows]
    run = {**header, "total": len(samples), "finished": len(details),
           "complete": len(details) == len(samples) and not batch.stop,
           "errors": sum(bool(r.get("error")) for r in details),
           "asked": len(details) - resumed, "resumed": resumed,
           "elapsed_s": round(elapsed, 3), "concurrency": concurrency,
           "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    metrics = write_results(out, details, run)
    if run["complete"]:
        details_log_path(out).unlink(missing_ok=True)  # everything is in ``out`` now
    return GroundRunResult(details, metrics, run, asked=run["asked"], resumed=resumed, errors=run["errors"],
                           aborted=batch.stop[0] if batch.stop else None, out=out, elapsed_s=elapsed,
                           rows_by_key=batch.rows, fatal=batch.fatal[0] if batch.fatal else None)


def load_saved_log_keys(log: Path) -> set[str]:
    """Keys of the sample rows already in a details log."""
    keys: set[str] = set()
    if log.is_file():
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and isinstance(obj.get("key"), str):
                keys.add(obj["key"])
    return keys
