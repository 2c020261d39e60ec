"""``screenact doctor``'s Ray checks: ``--ray-resources`` (the ``ray start`` flags for this machine) and
``--ray ADDRESS`` (one check task on every node: it runs the doctor's own checks there and starts a sandbox).

The public functions are :func:`ray_start_flags` and :func:`check_nodes`; the doctor command picks up
``add_flags`` and the registered checks through ``agent.doctor.CHECK_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agent.cluster import RESOURCE
from agent.doctor import Finding, check, pip_extra

CHECK_SCREEN = (320, 240)


def add_flags(p: argparse.ArgumentParser) -> None:
    """The doctor's Ray flags."""
    p.add_argument("--ray", metavar="ADDRESS", type=_address,
                   help="also check every node of this Ray cluster can host a sandbox (a check task on each node): "
                   "'auto', or HOST:PORT of the head")
    p.add_argument("--ray-resources", action="store_true",
                   help="print the `ray start` flags that make this machine a node for screenact run --ray")


def _address(text: str) -> str:
    from agent.cluster.connect import ClusterError, check_address

    try:
        return check_address(text)
    except ClusterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def ray_start_flags(sandboxes: int | None = None) -> tuple[list[str], list[str]]:
    """(argv of the head's ``ray start``, argv of another node's) for a machine like this one: its cores, and
    ``sandboxes`` (default :func:`agent.cluster.connect.local_sandboxes`) units of :data:`RESOURCE`."""
    import os

    from agent.cluster.connect import local_sandboxes

    ray = str(Path(sys.executable).with_name("ray"))  # the project's environment: its workers run screenact
    common = ["--num-cpus", str(os.cpu_count() or 1), "--resources",
              json.dumps({RESOURCE: sandboxes or local_sandboxes()})]
    return [ray, "start", "--head", "--port", "6379", *common], [ray, "start", "--address", "HEAD:6379", *common]


@check("ray start", applies=lambda args: bool(getattr(args, "ray_resources", False)))
def _flags(_args: argparse.Namespace) -> Iterator[Finding]:
    if importlib.util.find_spec("ray") is None:
        yield Finding("ray start", "missing", "Ray is not installed here", pip_extra("ray"))
        return
    head, node = ray_start_flags()
    yield Finding("ray start (head)", "ok", shlex.join(head))
    yield Finding("ray start (node)", "ok", shlex.join(node) + "   (HEAD: the head's address)")


def node_report(_: object = None) -> dict[str, Any]:
    """Runs on a node: the doctor's local checks that fail there, a sandbox started and closed, its code version."""
    import argparse as _argparse

    from agent.cluster.tasks import code_version
    from agent.doctor import run_checks

    quiet = _argparse.Namespace(base_url=None, model=None, ray=None, ray_resources=False)
    missing = [[f.name, f.detail, f.fix] for f in run_checks(quiet) if f.status == "missing"]
    started, problem = None, None
    t0 = time.monotonic()
    try:
        from sandbox import Sandbox

        with Sandbox(*CHECK_SCREEN) as sb:
            sb.screenshot()
        started = round(time.monotonic() - t0, 2)
    except Exception as exc:  # what keeps a sandbox from starting there is the finding
        problem = f"{type(exc).__name__}: {str(exc).strip()}"[:500]
    return {"missing": missing, "sandbox_s": started, "sandbox_error": problem, "code": code_version()}


def check_nodes(address: str) -> list[Finding]:
    """One finding per node of the cluster at ``address``: can it host sandboxes for screenact run --ray?
    The nodes are checked at the same time, each by a task pinned to it."""
    from concurrent.futures import ThreadPoolExecutor

    from agent.cluster.connect import connect
    from agent.cluster.tasks import code_version

    with connect(address) as cluster:
        nodes = cluster.nodes()
        if not nodes:
            return [Finding("ray cluster", "missing", f"no live node at {address}")]

        def one(node: Any) -> Finding:
            name = f"ray node {node.name}"
            if node.sandboxes < 1:
                return Finding(name, "missing", f"offers no {RESOURCE}: no task of screenact run --ray goes there",
                               "restart it with the flags `screenact doctor --ray-resources` prints")
            done = next(iter(cluster.map(node_report, [None], in_flight=1, node=node.id, retries=0)))
            return _node_finding(name, node.sandboxes, done, code_version())

        with ThreadPoolExecutor(max_workers=min(32, len(nodes))) as pool:
            return list(pool.map(one, nodes))


def _node_finding(name: str, slots: int, done: Any, here: str) -> Finding:
    if not done.ok:
        return Finding(name, "missing", f"the check task failed: {done.error}",
                       "install the project on that node (make venv) and start Ray from its .venv")
    report = done.value
    if report["code"] != here:
        return Finding(name, "missing", f"runs other screenact code ({report['code']}) than this machine ({here})",
                       "install the same version of the project on every node, then restart Ray there")
    if report["missing"]:
        detail = "; ".join(f"{n}: {d}" for n, d, _ in report["missing"])
        fixes = " && ".join(dict.fromkeys(f for _, _, f in report["missing"] if f))
        return Finding(name, "missing", detail, fixes or None)
    if report["sandbox_error"]:
        return Finding(name, "missing", f"a sandbox does not start there: {report['sandbox_error']}")
    return Finding(name, "ok", f"{slots} sandbox(es) at once; one started in {report['sandbox_s']} s; same code")


@check("ray nodes", applies=lambda args: bool(getattr(args, "ray", None)))
def _nodes(args: argparse.Namespace) -> Iterator[Finding]:
    if importlib.util.find_spec("ray") is None:
        yield Finding("ray", "missing", "Ray is not installed here", pip_extra("ray"))
        return
    from agent.cluster.connect import ClusterError

    try:
        yield from check_nodes(args.ray)
    except ClusterError as exc:
        yield Finding("ray cluster", "missing", str(exc))
