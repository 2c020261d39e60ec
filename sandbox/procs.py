"""Find the host processes that belong to a sandbox (every one carries its id in the environment)."""

from __future__ import annotations

import os

ENV_TAG = "SCREENACT_SANDBOX"


def sandbox_processes(sandbox_id: str | None = None) -> dict[int, str]:
    """PID → command name of live processes tagged with ``sandbox_id`` (any sandbox when None)."""
    want = f"{ENV_TAG}={sandbox_id}".encode() if sandbox_id else f"{ENV_TAG}=".encode()
    found: dict[int, str] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                environ = f.read().split(b"\0")
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        if stat.rsplit(b")", 1)[-1].split()[0] == b"Z":  # zombies are gone, only not yet reaped
            continue
        if any(item == want if sandbox_id else item.startswith(want) for item in environ):
            found[int(entry.name)] = stat[stat.index(b"(") + 1 : stat.rindex(b")")].decode(errors="replace")
    return found
