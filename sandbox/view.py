"""What a sandbox sees of the host: an allow-list, and nothing else.

The sandbox's root is an empty read-only tmpfs. Into it go, read-only: the system folders apps need,
``/etc`` without its secrets, the Python runtime, and the few project folders the worker and the bundled
apps run from. Private, size-capped tmpfs mounts stand in for the folders apps write. Task files
(checkers, reference solutions), run folders, tests, homes, ``/srv``, ``/opt``, ``/mnt`` and every
other host path are simply absent. docs/sandbox.md and the README list the view.
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The sandbox's own user: uid/gid 1000 inside a user namespace, without capabilities.
SANDBOX_UID = SANDBOX_GID = 1000
SANDBOX_USER = "user"
SANDBOX_HOME = "/tmp/home"

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/var/cache/fontconfig")
# Secrets in /etc, hidden by name; anything in /etc that is not world-readable is hidden as well.
ETC_SECRETS = ("shadow", "shadow-", "gshadow", "gshadow-", "sudoers", "sudoers.d", "ssh", "ssl/private",
               "security/opasswd", "subuid", "subuid-", "subgid", "subgid-", "krb5.keytab")
# Project code the worker (sandbox/, tools' action and frame types) and the bundled apps need.
PROJECT_CODE = ("sandbox", "tools/__init__.py", "tools/actions.py", "tools/frame.py", "tasks/__init__.py",
                "tasks/apps", "tasks/grounding/__init__.py", "tasks/grounding/datasets.py",
                "tasks/grounding/metrics.py", "tasks/grounding/xterm_scene.py")
# Private writable folders; each is a tmpfs of at most the sandbox's tmpfs size.
PRIVATE_DIRS = ("/tmp", "/var/tmp", "/home", "/root", "/run", "/dev/shm")
SHIMS_DIR = str(PROJECT_ROOT / "sandbox" / "data" / "bin")  # `sudo` and friends, first on PATH inside

HOME_PATTERN = re.compile(r"/[A-Za-z0-9_./-]+")
"""A home the sandbox may be given: an absolute path that cannot break a line of ``/etc/passwd``."""


def passwd(home: str = SANDBOX_HOME) -> str:
    """The sandbox's ``/etc/passwd``: root, the sandbox user (whose home is ``home``, the ``HOME`` its
    processes get, so that ``~user`` and ``getpwuid`` agree with ``$HOME``) and nobody."""
    if not HOME_PATTERN.fullmatch(home):
        raise ValueError(f"HOME {home!r} is not an absolute path of letters, digits, '_', '.', '-' and '/'")
    return (f"root:x:0:0:root:/root:/bin/sh\n{SANDBOX_USER}:x:{SANDBOX_UID}:{SANDBOX_GID}:sandbox user:"
            f"{home}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")


GROUP = f"root:x:0:\n{SANDBOX_USER}:x:{SANDBOX_GID}:\nnogroup:x:65534:\n"


@dataclass
class View:
    """bwrap arguments for the view, and the descriptors they read (to pass to bwrap, then close)."""

    argv: list[str] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)

    def memfd(self, content: bytes) -> int:
        """A descriptor bwrap will read ``content`` from (kept until close())."""
        fd = os.memfd_create("screenact-view")
        os.write(fd, content)
        os.lseek(fd, 0, os.SEEK_SET)
        self.fds.append(fd)
        return fd

    def data(self, dest: str, content: bytes, perms: int) -> None:
        """A read-only file at ``dest`` with ``content``, copied in by bwrap from a memfd."""
        self.argv += ["--perms", f"{perms:04o}", "--ro-bind-data", str(self.memfd(content)), dest]

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds.clear()


def _bind_or_link(path: str) -> list[str]:
    if os.path.islink(path):  # merged /usr: /bin -> usr/bin stays a symlink inside
        return ["--symlink", os.readlink(path), path]
    return ["--ro-bind", path, path]


def _world_readable(mode: int) -> bool:
    need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
    return mode & need == need


@functools.lru_cache(maxsize=1)
def etc_hidden() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(files, folders) of /etc the sandbox must not read: the named secrets and whatever is not world-readable."""
    files, dirs = [], []
    named = {os.path.join("/etc", name) for name in ETC_SECRETS}
    for top, subdirs, names in os.walk("/etc", onerror=lambda _: None):
        for name in list(subdirs):
            path = os.path.join(top, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if path in named or not _world_readable(st.st_mode):
                dirs.append(path)
                subdirs.remove(name)  # nothing below a hidden folder needs hiding on its own
        for name in names:
            path = os.path.join(top, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if path in named or (stat.S_ISREG(st.st_mode) and not _world_readable(st.st_mode)):
                files.append(path)
    return tuple(sorted(files)), tuple(sorted(dirs))


def _under(path: str, parents: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in parents)


def python_paths() -> list[str]:
    """Folders of the Python runtime (venv and base installation) that the system folders do not already hold."""
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    # site-packages only: a script's own folder on sys.path (say the tests' folder) must stay out
    candidates |= {p for p in sys.path if p and ("site-packages" in p or "dist-packages" in p)}
    real = {os.path.realpath(p) for p in candidates} | candidates
    needed = sorted(p for p in real if os.path.isdir(p) and not _under(p, SYSTEM_DIRS))
    kept: list[str] = []
    for p in needed:  # drop folders already inside a kept one
        if not any(_under(p, (k,)) for k in kept):
            kept.append(p)
    return kept


def build_view(tmpfs_bytes: int, shares: tuple[str, ...] = (), home: str = SANDBOX_HOME) -> View:
    """The bwrap arguments of the whole view; ``shares`` are extra host paths the caller exposes read-only,
    ``home`` the sandbox user's home as ``/etc/passwd`` names it."""
    view = View()
    for path in PRIVATE_DIRS:
        if path == "/dev/shm":
            continue  # after --dev, which would cover it
        view.argv += ["--size", str(tmpfs_bytes), "--tmpfs", path]
    view.argv += ["--dev", "/dev", "--size", str(tmpfs_bytes), "--tmpfs", "/dev/shm", "--proc", "/proc",
                  "--symlink", "../run", "/var/run"]
    for path in ("/proc/keys", "/proc/key-users"):  # the host's key names and counts (keyrings: sandbox/seccomp.py)
        view.argv += ["--ro-bind", "/dev/null", path]
    for path in SYSTEM_DIRS:
        if os.path.lexists(path):
            view.argv += _bind_or_link(path)
    files, dirs = etc_hidden()
    for path in dirs:
        view.argv += ["--perms", "0000", "--tmpfs", path, "--remount-ro", path]
    for path in files:
        view.data(path, b"", 0)
    view.data("/etc/passwd", passwd(home).encode(), 0o644)
    view.data("/etc/group", GROUP.encode(), 0o644)
    if os.path.exists("/etc/machine-id"):  # apps (D-Bus, browsers) want one; the host's identifies the host
        view.data("/etc/machine-id", secrets.token_hex(16).encode() + b"\n", 0o444)
    for path in python_paths():
        view.argv += ["--ro-bind", path, path]
    for rel in PROJECT_CODE:
        path = PROJECT_ROOT / rel
        if path.exists():
            view.argv += ["--ro-bind", str(path), str(path)]
    for share in shares:
        path = os.path.abspath(share)
        view.argv += ["--ro-bind", path, path]
    view.argv += ["--remount-ro", "/"]
    return view
