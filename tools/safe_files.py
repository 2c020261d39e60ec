"""Writing our files and reading foreign folders without following a planted link (issue 11, item 10).

The one definition every writer of reports and episode files, and every reader of an episode or
dataset folder, goes through:

- :func:`atomic_write` (:func:`atomic_copy` from a descriptor, size-capped) writes through a fresh
  ``tempfile.mkstemp`` name in the target folder, then ``os.replace``: a symbolic link planted at a
  temporary name or at the target itself is replaced, never followed, so a report
  of someone else's folder cannot overwrite a file elsewhere.
- :func:`safe_read` reads ``name`` under ``root`` through a descriptor of ``root`` with ``O_NOFOLLOW`` at
  every step: a name that climbs out, a symbolic link, anything but a regular file and anything over
  ``max_bytes`` is refused with :class:`UnsafeFile`.
- :func:`is_plain_file` says whether ``safe_read`` would open a name (for listings and checks).
- :func:`plain_parts` checks a relative name a foreign file gives (no ``..``, not absolute).
- :func:`inside` is the check for a path a foreign file names: relative, no ``..`` out, and resolving
  (links followed) to a place under ``root``.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path, PurePosixPath


class UnsafeFile(OSError):
    """A file that is not read: it leaves its folder, is a link, is not a regular file or is too big."""


def atomic_write(path: str | Path, data: bytes | str, *, durable: bool = False) -> Path:
    """Write ``data`` (str as UTF-8, lone surrogates replaced) to ``path`` atomically; returns ``path``.

    ``durable`` fsyncs the data before the rename (episode files a crash must not lose).
    """
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
    return _atomic(Path(path), lambda f: f.write(raw), durable)


def atomic_copy(path: str | Path, source_fd: int, max_bytes: int, *, durable: bool = False) -> int:
    """Copy the bytes of the descriptor ``source_fd`` (from offset 0) to ``path`` atomically, as
    :func:`atomic_write` does; returns the number of bytes. A source over ``max_bytes`` raises
    :class:`UnsafeFile` and leaves nothing behind (the source may be hostile and still growing)."""
    copied = 0

    def fill(f) -> None:
        nonlocal copied
        while chunk := os.pread(source_fd, min(1 << 20, max_bytes + 1 - copied), copied):
            copied += len(chunk)
            if copied > max_bytes:
                raise UnsafeFile(f"{Path(path).name} would be over {max_bytes} bytes; it was not written")
            f.write(chunk)

    _atomic(Path(path), fill, durable)
    return copied


def _atomic(path: Path, fill, durable: bool) -> Path:
    """mkstemp beside ``path`` (O_EXCL: a planted name is never followed), ``fill(file)``, os.replace."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            fill(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; our files are as readable as a plain open() makes them
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def plain_parts(name: str | Path) -> tuple[str, ...]:
    """The parts of ``name`` when it is a plain relative name inside its folder (no ``..``, not absolute, no
    NUL); else :class:`UnsafeFile`."""
    if "\x00" in str(name):
        raise UnsafeFile(f"{str(name)[:200]!r} holds a NUL byte")
    parts = PurePosixPath(str(name)).parts
    if not parts or PurePosixPath(str(name)).is_absolute() or any(p in ("..", ".") for p in parts):
        raise UnsafeFile(f"{str(name)[:200]!r} is not a plain relative name inside its folder")
    return parts


def _open(root: str | Path, name: str | Path) -> int:
    """A descriptor of ``name`` under ``root``, no link followed on the way (the caller closes it)."""
    parts = plain_parts(name)
    dir_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            try:
                inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # a link (or a file) where a folder should be
                    raise UnsafeFile(f"{name} does not lead through plain folders; links are not followed") from None
                raise
            os.close(dir_fd)
            dir_fd = inner
        try:
            return os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # the name is a symbolic link
                raise UnsafeFile(f"{name} is a symbolic link; links are not followed") from None
            raise
    finally:
        os.close(dir_fd)


def safe_read(root: str | Path, name: str | Path, max_bytes: int) -> bytes:
    """The bytes of the regular file ``name`` under ``root`` (see the module docstring).

    Raises :class:`UnsafeFile` for a link, a name leaving ``root``, a non-regular file or one over
    ``max_bytes``; FileNotFoundError and other OSErrors as ``open`` does.
    """
    fd = _open(root, name)
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(f"{name} is not a regular file")
        if info.st_size > max_bytes:
            raise UnsafeFile(f"{name} is {info.st_size} bytes; the limit is {max_bytes}")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnsafeFile(f"{name} is over {max_bytes} bytes")
    return data


def is_plain_file(root: str | Path, name: str | Path) -> bool:
    """True when ``name`` under ``root`` is a regular file reached without a link (what safe_read opens)."""
    try:
        fd = _open(root, name)
    except OSError:
        return False
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    finally:
        os.close(fd)


def inside(root: str | Path, name: str) -> Path:
    """``root / name`` when ``name`` is relative, has no ``..`` and resolves (links followed) under
    ``root``; else :class:`UnsafeFile` saying how it leaves."""
    pure = PurePosixPath(name)
    if pure.is_absolute() or Path(name).is_absolute():
        raise UnsafeFile(f"{name!r} is an absolute path; it must be relative to {root}")
    if ".." in pure.parts:
        raise UnsafeFile(f"{name!r} climbs out with '..'; it must stay inside {root}")
    path = Path(root) / name
    base = os.path.realpath(root)
    if os.path.commonpath([base, os.path.realpath(path)]) != base:
        raise UnsafeFile(f"{name!r} leads through a link to {os.path.realpath(path)}, outside {root}")
    return path
