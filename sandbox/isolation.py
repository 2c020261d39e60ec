"""bubblewrap: the namespaces and privileges a sandboxed desktop runs with, and whether they are available here.

Every process inside runs as uid/gid 1000 in a new user namespace with no capabilities at all (none
effective, permitted, inheritable or in the bounding set), may not create further user namespaces,
and has ``no_new_privs`` set by bubblewrap, so setuid programs gain nothing. As host root this is what
stops a process inside from undoing the read-only mounts or creating devices; as a normal user it is
what bubblewrap does anyway.
"""

from __future__ import annotations

import functools
import os
import shutil
import stat
import subprocess

from sandbox.seccomp import keyring_filter
from sandbox.view import SANDBOX_GID, SANDBOX_HOME, SANDBOX_UID, View, build_view

PRIVILEGES = ["--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID), "--disable-userns",
              "--cap-drop", "ALL"]
NAMESPACES = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
              "--hostname", "sandbox"]


# A setuid bwrap on a kernel without unprivileged user namespaces cannot take the flags above; for a
# normal user it still runs everything as that user with no capabilities, which is the same guarantee.
# Root never falls back: without a user namespace, root inside keeps its capabilities.
SETUID_PRIVILEGES = ["--cap-drop", "ALL"]


def _try(exe: str, privileges: list[str]) -> str | None:
    try:
        done = subprocess.run(
            [exe, *privileges, *NAMESPACES, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
             "--tmpfs", "/tmp", "--die-with-parent", "true"],
            capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap failed to run: {exc}"
    if done.returncode != 0:
        return f"bwrap cannot create namespaces here: {done.stderr.strip() or done.returncode}"
    return None


_chosen: list[list[str]] = [PRIVILEGES]  # what bwrap_problem() found to work


@functools.lru_cache(maxsize=1)
def bwrap_problem() -> str | None:
    """None when bubblewrap can create the namespaces and the unprivileged user a sandbox needs, else why not."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (bwrap) is not installed (Debian: apt-get install bubblewrap)"
    _chosen[0] = PRIVILEGES
    problem = _try(exe, PRIVILEGES)
    if problem is not None and os.geteuid() != 0 and os.stat(exe).st_mode & stat.S_ISUID:
        if _try(exe, SETUID_PRIVILEGES) is None:
            _chosen[0] = SETUID_PRIVILEGES
            return None
    return problem


def bwrap_argv(tmpfs_bytes: int, shares: tuple[str, ...] = (), home: str = SANDBOX_HOME) -> tuple[list[str], View]:
    """The bwrap prefix of the worker's command line, and the view whose descriptors bwrap must inherit."""
    view = build_view(tmpfs_bytes, shares, home)
    seccomp = view.memfd(keyring_filter())
    argv = ["bwrap", *_chosen[0], *NAMESPACES, *view.argv, "--seccomp", str(seccomp),
            "--die-with-parent", "--new-session", "--"]
    return argv, view
