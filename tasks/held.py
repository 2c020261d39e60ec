"""Files a task's setup takes out of its sandbox before the agent starts, kept on the host.

A checker's expected file (OSWorld's ``compare_text_file`` against a file its set-up wrote) must not be
readable by the agent: everything inside the sandbox is. The ``hold_file`` setup step reads such a file
out (a regular file only, size-capped), keeps its bytes here, per sandbox, and deletes it inside; the
checker compares against the bytes held here. They go away with the sandbox object.
"""

from __future__ import annotations

import weakref
from typing import Any

_HELD: "weakref.WeakKeyDictionary[Any, dict[str, bytes]]" = weakref.WeakKeyDictionary()


def hold(sandbox: Any, path: str, data: bytes) -> None:
    """Keep ``data``, the content ``path`` had inside ``sandbox``, on the host."""
    _HELD.setdefault(sandbox, {})[path] = data


def held(sandbox: Any, path: str) -> bytes | None:
    """The bytes held for ``path`` of ``sandbox``, or None when its setup held none."""
    return _HELD.get(sandbox, {}).get(path)


__all__ = ["hold", "held"]
