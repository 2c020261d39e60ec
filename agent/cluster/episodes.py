"""An episode folder's files, carried from the node that ran the task to the run folder that launched it.

On the node, :func:`pack` takes the regular files of the folder as bytes (frames exactly as written;
links and anything else are left out). On the launching machine the answer is hostile, like any
foreign folder: :func:`unpack` writes only regular files at plain relative names (no ``..``, no
absolute path, no empty or odd part), each through :func:`tools.safe_files.atomic_write`, into a
folder it made itself, within a count and size bound. A name it refuses is reported, not written.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from tools.safe_files import UnsafeFile, atomic_write, plain_parts, safe_read

MAX_FILES = 20_000
MAX_BYTES = 4 << 30  # a long episode of 4K frames stays far below this


def pack(folder: Path) -> dict[str, bytes]:
    """Relative name → bytes of every regular file under ``folder`` (links are not followed)."""
    files: dict[str, bytes] = {}
    for root, dirs, names in os.walk(folder, followlinks=False):
        base = Path(root)
        for name in sorted(names):
            rel = (base / name).relative_to(folder).as_posix()
            if stat.S_ISREG(os.lstat(base / name).st_mode):
                files[rel] = safe_read(folder, rel, MAX_BYTES)
    return files


def unpack(files: object, folder: Path) -> list[str]:
    """Write ``files`` (name → bytes, from a node) as the episode folder ``folder``, replacing what was there.

    Returns one line per entry not written, saying why; raises :class:`UnsafeFile` when ``files`` is not a
    mapping or is over the count or size bound (then nothing is written).
    """
    if not isinstance(files, dict):
        raise UnsafeFile(f"the episode came back as {type(files).__name__}, not a mapping of files")
    if len(files) > MAX_FILES:
        raise UnsafeFile(f"the episode came back with {len(files)} files; the limit is {MAX_FILES}")
    total = sum(len(v) for v in files.values() if isinstance(v, (bytes, bytearray)))
    if total > MAX_BYTES:
        raise UnsafeFile(f"the episode came back with {total} bytes; the limit is {MAX_BYTES}")
    _fresh(folder)
    refused = []
    for name, data in files.items():
        try:
            if not isinstance(name, str):
                raise UnsafeFile(f"{str(name)[:200]!r} is not a file name")
            parts = plain_parts(name)
            if not isinstance(data, (bytes, bytearray)):
                raise UnsafeFile(f"{name!r} is {type(data).__name__}, not file bytes")
            atomic_write(_parent(folder, parts) / parts[-1], bytes(data))
        except (UnsafeFile, OSError) as exc:
            refused.append(f"{str(name)[:200]!r} not written: {exc}")
    return refused


def _fresh(folder: Path) -> None:
    """An empty folder at ``folder`` (a link or file planted there is removed, never followed)."""
    if folder.is_symlink() or folder.exists() and not folder.is_dir():
        folder.unlink()
    elif folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def _parent(folder: Path, parts: tuple[str, ...]) -> Path:
    """The folder for a file at ``parts`` under ``folder``, made as plain folders (never through a link)."""
    here = folder
    for part in parts[:-1]:
        here = here / part
        if here.is_symlink() or here.exists() and not here.is_dir():
            raise UnsafeFile(f"{'/'.join(parts)!r} leads through {part!r}, which is not a folder")
        here.mkdir(exist_ok=True)
    target = here / parts[-1]
    if target.is_dir() and not target.is_symlink():
        raise UnsafeFile(f"{'/'.join(parts)!r} is already a folder")
    return here
