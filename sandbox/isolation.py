"""bubblewrap: the namespaces a sandboxed desktop runs in, and whether they are available here."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

# Host folders the desktop never sees: private empty ones replace them inside.
HIDDEN = ("/tmp", "/var/tmp", "/home", "/root", "/run")
IO_DIR_INSIDE = "/tmp/.screenact-io"


@functools.lru_cache(maxsize=1)
def bwrap_problem() -> str | None:
    """None when bubblewrap can create the namespaces a sandbox needs, else why not."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (bwrap) is not installed (Debian: apt-get install bubblewrap)"
    try:
        done = subprocess.run(
            [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
             "--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent", "true"],
            capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap failed to run: {exc}"
    if done.returncode != 0:
        return f"bwrap cannot create namespaces here: {done.stderr.strip() or done.returncode}"
    return None


def _under(path: str, parents: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in parents)


def python_paths(project_root: Path) -> list[str]:
    """Folders the worker's Python needs that would otherwise be hidden inside the sandbox."""
    candidates = {str(project_root), sys.prefix, sys.base_prefix, sys.exec_prefix,
                  os.path.dirname(os.path.realpath(sys.executable))}
    # site-packages only: a script's own folder on sys.path (say /tmp) must stay hidden
    candidates |= {p for p in sys.path if p and ("site-packages" in p or "dist-packages" in p) and os.path.isdir(p)}
    real = {os.path.realpath(p) for p in candidates} | candidates
    needed = sorted(p for p in real if _under(p, HIDDEN) and p not in HIDDEN and os.path.exists(p))
    kept: list[str] = []
    for p in needed:  # drop folders already inside a kept one
        if not any(_under(p, (k,)) for k in kept):
            kept.append(p)
    return kept


def bwrap_argv(io_dir: str, project_root: Path) -> list[str]:
    """The bwrap prefix: read-only host, private /tmp, home and /run, no network, own PID and IPC namespaces."""
    argv = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for hidden in HIDDEN:
        if os.path.isdir(hidden):
            argv += ["--tmpfs", hidden]
    for path in python_paths(project_root):
        argv += ["--ro-bind", path, path]
    argv += [
        "--bind", io_dir, IO_DIR_INSIDE,
        "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", "sandbox",
        "--die-with-parent", "--new-session", "--",
    ]
    return argv
