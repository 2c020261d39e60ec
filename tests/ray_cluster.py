"""A real Ray cluster on this machine for tests: a head and more nodes, each started with Ray's own ``ray start``.

Every node runs in its own temp folder with its own ports, in a process group of its own, so stopping
it ends exactly its processes (``ray stop`` would end every Ray of the machine, other people's too).
Node death is noticed in seconds (short health checks), so a test can kill a raylet and see the retry.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from agent.cluster import RESOURCE

RAY = Path(sys.executable).with_name("ray")
FAST_DEATH = {"RAY_health_check_period_ms": "500", "RAY_health_check_timeout_ms": "1000",
              "RAY_health_check_failure_threshold": "3", "RAY_USAGE_STATS_ENABLED": "0",
              "RAY_AUTH_MODE": "disabled"}

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

@dataclass
class Node:
    """One ``ray start``: its process group, its temp folder."""

    pgid: int
    temp: Path
    head: bool

    def processes(self) -> dict[int, str]:
        """pid → command line of every live process of this node: its process group, the workers (sessions of
        their own, but children of its raylet or naming its temp folder) and what they started."""
        table = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            except (OSError, IndexError, ValueError):
                continue
            if stat[0] != "Z":
                table[int(entry.name)] = (int(stat[1]), int(stat[2]), cmd)
        mine = {pid for pid, (_, pgid, cmd) in table.items() if pgid == self.pgid or f"={self.temp}" in cmd}
        grew = True
        while grew:
            more = {pid for pid, (ppid, _, _) in table.items() if ppid in mine} - mine
            mine |= more
            grew = bool(more)
        return {pid: table[pid][2] for pid in mine}

    def raylet(self) -> int:
        return next(pid for pid, cmd in self.processes().items() if cmd.split(" ")[0].endswith("/raylet"))

    def busy(self, title: str = "ray::_call") -> bool:
        """True while one of its workers runs a task (Ray names the process after the function)."""
        return any(cmd.startswith(title) for cmd in self.processes().values())

    def sandboxes(self) -> set[str]:
        """Ids of the sandboxes its workers run now (their processes carry SCREENACT_SANDBOX=<id>)."""
        from sandbox.procs import ENV_TAG

        found = set()
        for pid in self.processes():
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            found |= {item.split(b"=", 1)[1].decode() for item in environ if item.startswith(f"{ENV_TAG}=".encode())}
        return found

    def stop(self, timeout: float = 10.0) -> None:
        """End every process of this node at once (SIGKILL: a test node keeps nothing worth a clean stop)."""
        deadline = time.monotonic() + timeout
        while self.processes():
            for pid in self.processes():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                raise AssertionError(f"ray node {self.temp} left processes: {self.processes()}")
            time.sleep(0.05)


class LocalCluster:
    """A head (:meth:`start`) and nodes joined to it (:meth:`add_node`), each with ``cpus`` CPUs and ``sandboxes``
    units of the sandbox resource; :meth:`stop` ends them all and removes their folders."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="sa-ray-", dir="/tmp"))  # unix socket paths must stay short
        self.nodes: list[Node] = []
        self.address = ""

    def _launch(self, extra: list[str], cpus: int, sandboxes: int) -> tuple[subprocess.Popen, Node]:
        temp = self.root / f"n{len(self.nodes)}"
        ports = ["--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
                 "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port"]
        argv = [str(RAY), "start", *extra, "--num-cpus", str(cpus), "--resources", json.dumps({RESOURCE: sandboxes}),
                "--temp-dir", str(temp), "--disable-usage-stats", "--log-style", "record",
                "--include-log-monitor", "false", "--node-ip-address", "127.0.0.1"]
        for flag in ports:
            argv += [flag, str(free_port())]
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | FAST_DEATH
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        node = Node(proc.pid, temp, head=not self.nodes)
        self.nodes.append(node)
        return proc, node

    @staticmethod
    def _started(proc: subprocess.Popen) -> None:
        out, _ = proc.communicate(timeout=180)
        if proc.returncode != 0:
            raise AssertionError(f"ray start failed ({proc.returncode}):\n{out[-3000:]}")

    def start(self, cpus: int = 1, sandboxes: int = 1, nodes: int = 0) -> "LocalCluster":
        """The head, and ``nodes`` more nodes started at the same time (they wait for the head)."""
        port = free_port()
        self.address = f"127.0.0.1:{port}"
        launched = [self._launch(["--head", "--port", str(port), "--include-dashboard", "false", "--dashboard-port",
                                  str(free_port()), "--ray-client-server-port", str(free_port())], cpus, sandboxes)]
        launched += [self._launch(["--address", self.address], cpus, sandboxes) for _ in range(nodes)]
        for proc, _ in launched:
            self._started(proc)
        return self

    def add_node(self, cpus: int = 1, sandboxes: int = 1) -> Node:
        proc, node = self._launch(["--address", self.address], cpus, sandboxes)
        self._started(proc)
        return node

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

def driver_env() -> dict[str, str]:
    """The environment of a CLI process that drives the cluster (no RAY_ADDRESS from outside)."""
    return {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"RAY_USAGE_STATS_ENABLED": "0"}

