"""The wire between the host and the worker inside the sandbox: one JSON object per line.

A request is ``{"op": NAME, **args}``; a reply is ``{"ok": true, "result": ...}`` or
``{"ok": false, "error": MESSAGE, "fatal": BOOL}``. Frame pixels never go through the pipe:
the worker writes them into a shared memory file and the reply carries only their metadata.
"""

from __future__ import annotations

import json
import os
import select
import time
from dataclasses import dataclass, field
from typing import Any

MAX_LINE = 64 * 1024 * 1024


class ChannelClosed(EOFError):
    """The other end of the channel went away."""


class ChannelTimeout(TimeoutError):
    """No complete message arrived within the timeout."""


@dataclass
class Channel:
    """Line-delimited JSON over a pair of file descriptors, with per-message timeouts."""

    read_fd: int
    write_fd: int
    _buf: bytearray = field(default_factory=bytearray)

    def send(self, message: dict[str, Any]) -> None:
        """Write one message; raises ChannelClosed when the reader is gone."""
        data = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        view = memoryview(data)
        try:
            while view:
                n = os.write(self.write_fd, view)
                view = view[n:]
        except (BrokenPipeError, OSError) as exc:
            raise ChannelClosed(str(exc)) from exc

    def receive(self, timeout: float | None = None) -> dict[str, Any]:
        """Read one message, waiting at most ``timeout`` seconds (None: forever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line = bytes(self._buf[:nl])
                del self._buf[: nl + 1]
                return json.loads(line)
            if len(self._buf) > MAX_LINE:
                raise ChannelClosed("message too long")
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.read_fd], [], [], wait)
            if not ready:
                raise ChannelTimeout(f"no reply within {timeout:.1f} s")
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                raise ChannelClosed("end of stream")
            self._buf += chunk
