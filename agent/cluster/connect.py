"""Joining a Ray cluster as its driver: the address forms, the nodes, the capacity."""

from __future__ import annotations

import logging
import os
import re
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from agent.cluster import RESOURCE
from agent.errors import UsageError

ADDRESS_HELP = ("'auto' (RAY_ADDRESS, or the cluster started on this machine), 'local' (a cluster inside this "
                "process, on this machine only) or HOST:PORT of a head node started with `ray start --head`")
_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(?P<port>\d{1,5})$")


class ClusterError(UsageError):
    """The cluster cannot be used: a bad address, no cluster there, Ray not installed (exit 2)."""


@dataclass(frozen=True)
class NodeInfo:
    """A live node of the cluster: Ray's node id, its address and what it offers."""

    id: str
    address: str
    resources: dict[str, float]

    @property
    def name(self) -> str:
        """How results name the node: ``address/first 12 hex digits of the id``."""
        return node_name(self.address, self.id)

    @property
    def sandboxes(self) -> int:
        """Sandboxes it hosts at once (its :data:`RESOURCE`)."""
        return int(self.resources.get(RESOURCE, 0))


def node_name(address: str, node_id: str) -> str:
    """The name results give a node (two nodes of one machine share the address, never the id)."""
    return f"{address}/{node_id[:12]}"


def check_address(address: str) -> str:
    """``address`` when it is one of the forms :data:`ADDRESS_HELP` names; else ClusterError saying which."""
    text = address.strip()
    if text in ("auto", "local") or _HOST_PORT.match(text) and 0 < int(_HOST_PORT.match(text)["port"]) < 65536:
        return text
    if text.startswith("ray://"):
        raise ClusterError(f"--ray {address}: Ray Client addresses (ray://) are not supported; give the head "
                           "node's HOST:PORT (the GCS port `ray start --head` printed)")
    raise ClusterError(f"--ray {address!r}: not a cluster address; use {ADDRESS_HELP}")


class Cluster:
    """The cluster this process is connected to (from :func:`connect`)."""

    def __init__(self, address: str) -> None:
        self.address = address

    def nodes(self) -> list[NodeInfo]:
        """The live nodes, head first as Ray lists them."""
        import ray

        return [NodeInfo(n["NodeID"], n["NodeManagerAddress"], dict(n.get("Resources") or {}))
                for n in ray.nodes() if n.get("Alive")]

    def capacity(self, resource: str = RESOURCE) -> int:
        """Units of ``resource`` the live nodes offer in all (``"CPU"`` for plain work)."""
        return int(sum(n.resources.get(resource, 0) for n in self.nodes()))

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], *, in_flight: int,
            resources: dict[str, float] | None = None, num_cpus: float = 0, retries: int = 1,
            node: str | None = None) -> Any:
        """``fn(item)`` on the cluster for every item (see :class:`agent.cluster.work.Submission`)."""
        from agent.cluster.work import Submission

        return Submission(fn, items, in_flight=in_flight, resources=resources, num_cpus=num_cpus, retries=retries,
                          node=node)


@contextmanager
def connect(address: str = "auto", *, sandboxes: int | None = None,
            env: dict[str, str] | None = None) -> Iterator[Cluster]:
    """Join the cluster at ``address`` (see :data:`ADDRESS_HELP`) for the ``with`` block, then leave it.

    ``local`` starts a cluster inside this process offering ``sandboxes`` sandboxes (default: what
    :func:`local_sandboxes` says this machine holds). ``env`` is set in the environment of every task
    of this job (Ray's ``runtime_env``). Raises :class:`ClusterError` with what to do.
    """
    from agent.cluster.work import first_line

    address = check_address(address)
    try:
        import ray
    except ImportError:
        raise ClusterError("--ray needs Ray on this machine and on every node: pip install 'screenact[ray]'") from None
    if ray.is_initialized():
        raise ClusterError("this process is already connected to a Ray cluster")
    options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False, "include_dashboard": False}
    if env:
        options["runtime_env"] = {"env_vars": dict(env)}
    if address == "local":
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        slots = sandboxes if sandboxes is not None else local_sandboxes()
        options |= {"num_cpus": os.cpu_count() or 1, "resources": {RESOURCE: slots}}
    else:
        _reachable(address)
        options.pop("include_dashboard")  # only for a cluster this call starts
    try:
        ray.init(address=address, **options)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise ClusterError(f"--ray {address}: {first_line(exc)} (start one with `ray start --head`, see "
                           "`screenact doctor --ray-resources`; or use --ray local)") from None
    try:
        yield Cluster(address)
    finally:
        ray.shutdown()


def local_sandboxes() -> int:
    """Sandboxes one machine hosts at once: one per core, at most one per free GiB of memory (each holds a
    desktop and its OCR engine, ~0.5 GiB)."""
    cores = os.cpu_count() or 1
    try:
        free_gib = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / (1 << 30)
    except (ValueError, OSError):
        free_gib = cores
    return max(1, min(cores, int(free_gib)))


def _reachable(address: str) -> None:
    """Refuse at once when nothing listens at HOST:PORT (Ray itself would retry for a minute)."""
    if address == "auto":
        return
    m = _HOST_PORT.match(address)
    assert m is not None
    try:
        socket.create_connection((m["host"].strip("[]"), int(m["port"])), timeout=5).close()
    except OSError as exc:
        raise ClusterError(f"--ray {address}: nothing answers there ({exc.strerror or exc}); is the head node "
                           "started (`ray start --head --port PORT`)?") from None
