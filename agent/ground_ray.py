"""``screenact ground … --grounder ocr --ray ADDRESS``: the OCR grounder's CPU work spread over a Ray cluster.

The dataset stays on this machine. Its samples are grouped by screenshot, and each screenshot travels
once, with every instruction asked on it, to one Ray task (one CPU, through ``agent.cluster``'s
``Cluster.map``: the in-flight cap, answers as they come, a lost worker or node retried). On the node,
:func:`ground_image` reads the screenshot whole with the node's own :class:`OCRGrounder` (one per worker
process, its engine loaded once) and answers each instruction. The answers come back here, where the run
logs, scores and resumes them as it does a local run's.

A local ``ground --grounder ocr`` uses the same :func:`dataset_grounder` (every screenshot read whole, never
from a neighbour's read), so the cluster's results match a local run's sample for sample.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.ground_run import Answer, FileFrame, unreadable_image

if TYPE_CHECKING:
    from agent.cluster import Cluster
    from agent.grounders.ocr import OCRGrounder


def dataset_grounder() -> "OCRGrounder":
    """The OCR grounder for a dataset: each screenshot read whole, so an answer depends on that sample alone
    (not on which screenshots the same grounder read before), here and on every node."""
    from agent.grounders.ocr import OCRGrounder

    return OCRGrounder(incremental=False)


@dataclass(frozen=True)
class ImageJob:
    """One screenshot (its path here, its bytes) and the instructions asked on it (with their index in the run's
    list)."""

    path: str
    image: bytes
    asks: tuple[tuple[int, str], ...]


_NODE_GROUNDER: list[Any] = []  # the worker process's grounder, made on its first job


def ground_image(job: ImageJob) -> list[tuple[int, Any, str | None, float]]:
    """On a node: (index, Grounding or None, error or None, seconds) for each instruction of the job."""
    if not _NODE_GROUNDER:
        _NODE_GROUNDER.append(dataset_grounder())
    grounder = _NODE_GROUNDER[0]
    frame = FileFrame(job.image)

    async def each() -> list[tuple[int, Any, str | None, float]]:
        out = []
        for index, instruction in job.asks:
            t0 = time.perf_counter()
            try:
                out.append((index, await grounder.locate(frame, instruction), None, 0.0))
            except Exception as exc:  # noqa: BLE001 - that sample's failure, as a local run records it
                out.append((index, None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
                            time.perf_counter() - t0))
        return out

    return asyncio.run(each())


class ClusterOCR:
    """A :class:`agent.ground_run.BatchGrounder`: OCR grounding on the cluster's CPUs, ``in_flight`` screenshots
    at once."""

    name = "ocr"

    def __init__(self, cluster: "Cluster", in_flight: int, retries: int = 1) -> None:
        self.cluster = cluster
        self.in_flight = in_flight
        self.retries = retries

    def ground_many(self, asks: Sequence[tuple[Path, str]],
                    stopped: Callable[[], bool]) -> Iterator[tuple[int, Answer]]:
        jobs, sizes = [], {}
        for path, indices in _by_image(asks).items():
            try:
                frame = FileFrame.read(path)
            except Exception as exc:  # noqa: BLE001 - an unreadable image fails its samples, as locally
                for i in indices:
                    yield i, Answer(error=unreadable_image(exc))
                continue
            sizes[str(path)] = frame.size
            jobs.append(ImageJob(str(path), frame.encoded, tuple((i, asks[i][1]) for i in indices)))
        with self.cluster.map(ground_image, jobs, in_flight=self.in_flight, num_cpus=1,
                              retries=self.retries) as submission:
            for done in submission:
                size = sizes[done.item.path]
                if done.ok:
                    for i, grounding, error, seconds in done.value:
                        yield i, Answer(grounding=grounding, error=error, size=size, latency_s=seconds)
                else:  # the node's or Ray's message, for every sample of that screenshot
                    for i, _ in done.item.asks:
                        yield i, Answer(error=f"on the cluster: {done.error}", size=size)
                if stopped():
                    return


def _by_image(asks: Sequence[tuple[Path, str]]) -> dict[Path, list[int]]:
    """The indices of ``asks`` per screenshot, screenshots in the order they first appear."""
    groups: dict[Path, list[int]] = {}
    for i, (path, _) in enumerate(asks):
        groups.setdefault(Path(path), []).append(i)
    return groups
