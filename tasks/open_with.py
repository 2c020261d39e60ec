"""OSWorld's ``open`` set-up step: a file opened with its default application, the way ``xdg-open`` does on
OSWorld's Ubuntu — here by the file's extension, among an allow-list of applications, and only when one
of them is installed where the sandbox sees it (``/usr``, ``/bin``, ``/sbin``). It starts as an argv
(never a shell) with the file as its one argument. Text files fall back to the bundled text editor
(``tasks/apps/editor.py``), which is always there. When no application fits, the task is skipped with
the reason.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

TEXT = (".txt", ".md", ".log", ".py", ".sh", ".c", ".h", ".cpp", ".js", ".json", ".xml", ".yaml", ".yml",
        ".ini", ".conf", ".cfg", ".tex", ".bib")
DEFAULT_APPS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (TEXT, ("gedit", "gnome-text-editor", "mousepad", "xed", "pluma")),
    ((".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".svg", ".tif", ".tiff"), ("eog", "ristretto", "gpicview", "feh")),
    ((".pdf",), ("evince", "okular", "atril", "xpdf", "mupdf")),
    ((".docx", ".doc", ".odt", ".rtf", ".xlsx", ".xls", ".ods", ".csv", ".pptx", ".ppt", ".odp"), ("libreoffice",)),
    ((".mp4", ".mkv", ".avi", ".webm", ".mov", ".mp3", ".wav", ".ogg", ".flac"), ("vlc", "totem")),
    ((".xcf",), ("gimp",)),
)
"""Extensions → the applications that may open them, Ubuntu's default first."""
VISIBLE = ("/usr/", "/bin/", "/sbin/")
"""Where an application must live for the sandbox to see it (its read-only view of the host)."""


class NoApp(ValueError):
    """No allow-listed application for this file is installed here."""


def installed(name: str) -> str | None:
    """The path of ``name`` on ``PATH`` when the sandbox sees it too, else None."""
    found = shutil.which(name)
    if found is None:
        return None
    real = os.path.realpath(found)
    return found if real.startswith(VISIBLE) and found.startswith(VISIBLE) else None


def open_step(path: str, home: str) -> dict[str, Any]:
    """The launch step that opens ``path`` (``~`` and relative paths are in ``home``) with its default app;
    NoApp naming the extension and the applications tried."""
    if not isinstance(path, str) or not path.strip() or "\0" in path:
        raise NoApp(f"open needs a file 'path', got {path!r}")
    path = home + path[1:] if path.startswith("~/") else path if path.startswith("/") else f"{home}/{path}"
    ext = os.path.splitext(path)[1].lower()
    for extensions, apps in DEFAULT_APPS:
        if ext in extensions:
            for app in apps:
                found = installed(app)
                if found is not None:
                    return {"kind": "launch", "argv": [found, path], "cwd": home}
            if extensions is TEXT:
                return {"kind": "launch", "app": "editor", "args": ["--file", path, "--dir", home]}
            raise NoApp(f"open: no application for {ext} files is installed here (tried {', '.join(apps)})")
    raise NoApp(f"open: no default application for {ext or 'extension-less'} files here")


__all__ = ["DEFAULT_APPS", "NoApp", "installed", "open_step"]
