"""Running screenact's work on a Ray cluster: the one place that imports Ray.

Nothing here imports Ray until it is used, so a run without ``--ray`` never loads it. The API:

- :func:`connect` (``"auto"``, ``"local"`` or ``"host:port"``) → a :class:`Cluster`, as a context manager;
- :meth:`Cluster.capacity` (how many units of a resource the live nodes offer), :meth:`Cluster.nodes`;
- :meth:`Cluster.map` → a :class:`Submission`: a module-level function applied to items on the nodes, at most
  ``in_flight`` at once, each answer a :class:`Done` as soon as it is there; :meth:`Submission.cancel`
  stops what runs and what waits. A worker or node lost mid-call is retried (``retries`` times, recorded).
- :data:`RESOURCE`, the custom resource of nodes that can host a sandbox (``ray start --resources``).

``ClusterError`` is a bad address, a cluster that is not there, or Ray missing; its text says what to do.
See docs/ray.md.
"""

from __future__ import annotations

RESOURCE = "screenact_sandbox"
"""The custom resource a node offers once per sandbox it can host at a time."""

from agent.cluster.connect import Cluster, ClusterError, NodeInfo, check_address, connect  # noqa: E402
from agent.cluster.work import Done, Submission  # noqa: E402

__all__ = ["RESOURCE", "Cluster", "ClusterError", "Done", "NodeInfo", "Submission", "check_address", "connect"]
