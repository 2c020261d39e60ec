"""Mapping a function over items on the cluster: an in-flight cap, answers as they come, retries, cancel.

Each item is one Ray task. The function runs inside :func:`_call` on a node, which catches what it
raises there: that comes back as an error with the node's own message, and is never retried (running
the same thing again gives the same answer). What Ray raises instead (the worker process or the whole
node died, the object was lost) means the call never finished: it is sent again, ``retries`` times,
and each loss is recorded in :attr:`Done.retries`. Ray's own task retries are off, so we know.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

WAIT_S = 0.5  # how long one ray.wait blocks: Ctrl-C is seen between two waits


@dataclass
class Done:
    """One item's answer: ``value`` (what ``fn`` returned) or ``error`` (one line), the node it ran on, and
    why earlier attempts were lost, if any."""

    item: Any
    value: Any = None
    error: str | None = None
    node: str | None = None
    retries: list[str] = field(default_factory=list)
    seconds: float = 0.0  # from the first submission to the answer

    @property
    def ok(self) -> bool:
        return self.error is None


def _call(fn: Callable[[Any], Any], item: Any) -> tuple[str, str, Any]:
    """Run on a node: (``"ok"``, node, value) or (``"error"``, node, message)."""
    node = here()
    try:
        return "ok", node, fn(item)
    except Exception as exc:
        return "error", node, f"{type(exc).__name__}: {str(exc).strip()}"[:2000]


def here() -> str:
    """The name of the node this code runs on (:func:`agent.cluster.connect.node_name`)."""
    import ray

    from agent.cluster.connect import node_name

    return node_name(ray.util.get_node_ip_address(), ray.get_runtime_context().get_node_id())


@dataclass
class _Flight:
    item: Any
    started: float
    lost: list[str] = field(default_factory=list)


class Submission:
    """``fn(item)`` for each item on the cluster, at most ``in_flight`` at once; iterate for :class:`Done` answers
    in the order they finish. Use it as a context manager: leaving the block early cancels the rest.

    ``fn`` must be importable on the nodes (a module-level function of an installed package). Each call
    needs ``resources`` (e.g. ``{RESOURCE: 1}``) and ``num_cpus``; ``node`` pins every call to one node id.
    """

    def __init__(self, fn: Callable[[Any], Any], items: Iterable[Any], *, in_flight: int,
                 resources: dict[str, float] | None = None, num_cpus: float = 0, retries: int = 1,
                 node: str | None = None) -> None:
        import ray

        options: dict[str, Any] = {"num_cpus": num_cpus, "resources": dict(resources or {}), "max_retries": 0}
        if node is not None:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=False)
        self._remote = ray.remote(_call).options(**options)
        self._fn = fn
        self._queue: deque[_Flight] = deque(_Flight(item, 0.0) for item in items)
        self._running: dict[Any, _Flight] = {}
        self.in_flight = max(1, in_flight)
        self.retries = max(0, retries)
        self.cancelled = False

    def running(self) -> list[Any]:
        """Items being worked on now."""
        return [f.item for f in self._running.values()]

    def __iter__(self) -> Iterator[Done]:
        import ray

        while not self.cancelled and (self._queue or self._running):
            while self._queue and len(self._running) < self.in_flight:
                self._submit(self._queue.popleft())
            ready, _ = ray.wait(list(self._running), num_returns=1, timeout=WAIT_S)
            for ref in ready:
                done = self._answer(ref, self._running.pop(ref))
                if done is not None:
                    yield done

    def cancel(self) -> tuple[list[Any], list[Any]]:
        """Stop: (items that were running, killed with their worker; items never started)."""
        import ray

        self.cancelled = True
        running, self._running = self._running, {}
        for ref in running:
            ray.cancel(ref, force=True)
        waiting = [f.item for f in self._queue]
        self._queue.clear()
        return [f.item for f in running.values()], waiting

    def __enter__(self) -> "Submission":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._queue or self._running:
            self.cancel()

    def _submit(self, flight: _Flight) -> None:
        flight.started = flight.started or time.monotonic()
        self._running[self._remote.remote(self._fn, flight.item)] = flight

    def _answer(self, ref: Any, flight: _Flight) -> Done | None:
        """The Done for a finished call, or None when it was lost and sent again."""
        import ray

        took = lambda: round(time.monotonic() - flight.started, 3)  # noqa: E731
        try:
            status, node, payload = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the answer could not be read here (not what fn raised)
            return Done(flight.item, error=first_line(exc), retries=flight.lost, seconds=took())
        except _lost() as exc:
            flight.lost.append(first_line(exc))
            if len(flight.lost) <= self.retries:
                self._submit(flight)
                return None
            return Done(flight.item, error=f"lost {len(flight.lost)} times, last: {flight.lost[-1]}",
                        retries=flight.lost, seconds=took())
        except ray.exceptions.RayError as exc:  # cannot be scheduled, runtime env failed, …: not retried
            return Done(flight.item, error=first_line(exc), retries=flight.lost, seconds=took())
        if status == "ok":
            return Done(flight.item, value=payload, node=node, retries=flight.lost, seconds=took())
        return Done(flight.item, error=f"on node {node}: {payload}", node=node, retries=flight.lost, seconds=took())


def _lost() -> tuple[type[BaseException], ...]:
    """Ray's errors for a call that never finished: its worker or node died, or its answer was lost."""
    from ray import exceptions as e

    return (e.WorkerCrashedError, e.NodeDiedError, e.LocalRayletDiedError, e.ObjectLostError, e.OutOfMemoryError,
            e.RaySystemError)


def first_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (Ray's messages run to whole tracebacks)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:500]
