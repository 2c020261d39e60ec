"""The images attached to (or pasted into) a chat message."""

from __future__ import annotations

import chainlit as cl

from agent.ui.chat import ImageUpload, UploadError, load_image_upload


def uploads(message: cl.Message) -> tuple[list[ImageUpload], list[str]]:
    """The images attached to a message, and a sentence per attachment that could not be used."""
    images, problems = [], []
    for el in message.elements or []:
        path = getattr(el, "path", None)
        name = getattr(el, "name", None) or "upload"
        if not path:
            problems.append(f"{name!r} arrived without its file")
            continue
        try:
            images.append(load_image_upload(path, name))
        except UploadError as exc:
            problems.append(str(exc))
    return images, problems
