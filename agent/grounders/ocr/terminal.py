"""Terminal text by its line structure: rows of monospaced words on one background, prompts and outputs.

A text detector reads a terminal badly: its rows sit so close that neighbouring lines merge into one
box, and the wide gaps of ``ls`` columns go missing ("buildbuild.sh"). A terminal has a simpler
structure than a text detector assumes, and it is used here instead:

1. **Where.** A shell prompt OCR read (``user@host:~/dir$``, ``host:~/dir``, a line starting ``$ ``) anchors a
   terminal; the block around it is grown while its border rows and columns are mostly the prompt's
   background colour (a window border or title bar stops it).
2. **Rows and words.** Inside the block, ink is what differs from the background; rows are runs of
   inked pixel rows, words are runs of inked columns split by a gap wider than a letter's spacing
   (a space is a whole cell in a monospaced font).
3. **Read.** Each word is recognised alone (cached by its pixels like every other crop).
4. **Structure.** A row whose first word ends in ``$``, ``#`` or ``>`` (or holds ``user@host:``) is a
   prompt: its next word is the command, the rest are arguments, and the rows up to the next prompt
   are that command's output. "the file X in the ls output" looks in the output of ``ls``, "the
   command X" right after a prompt, "the argument X" after a command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from agent.grounders.ocr.lines import Box, TextBox
from agent.grounders.ocr.text import match_score

if TYPE_CHECKING:
    import numpy as np

# user@host:dir$ — or what OCR makes of it ("bobtsandbox:-/dir"): a name, a colon, a path; or a bare $ / #
_PROMPT_LINE = re.compile(r"[\w.-]+@[\w.-]+:|^\s*[\w.@-]+:[~/-]|^\s*[$#]\s|[$#]\s*$")
_PROMPT_WORD = re.compile(r"(?:[\w.-]+@[\w.-]+:\S*|^)[$#%>]$|^[\w.@-]+:[~/-]\S*$")
# context words that only say "terminal"; the rest name the command whose output is meant
_GENERIC = {"terminal", "shell", "console", "xterm", "output", "window", "prompt", "history", "the", "of", "终端",
            "listing", "command", "commands"}


@dataclass(frozen=True)
class Row:
    """One terminal row: its words (text boxes, left to right) and whether it starts with a prompt."""

    words: tuple[TextBox, ...]
    prompt: bool


@dataclass(frozen=True)
class Terminal:
    """A terminal's text block and its rows, top to bottom."""

    box: Box
    rows: tuple[Row, ...]

    def words(self, kind: str | None = None, command: Sequence[str] = ()) -> list[TextBox]:
        """Its words of one kind: ``command`` (after a prompt), ``argument`` (after a command), ``file``
        (in a command's output; only the output of ``command`` — its leading words — when given), or all."""
        out: list[TextBox] = []
        current: list[str] = []
        for row in self.rows:
            if row.prompt:
                current = [w.text.casefold() for w in row.words[1:]]
                if kind == "command":
                    out += row.words[1:2]
                elif kind == "argument":
                    out += row.words[2:]
                elif kind is None:
                    out += row.words[1:]
            elif kind in (None, "file") and (not command or current[:len(command)] == list(command)):
                out += row.words
        return out


def prompt_lines(lines: Sequence[TextBox]) -> list[TextBox]:
    """The OCR lines that look like a shell prompt (the anchors of terminals)."""
    return [b for b in lines if _PROMPT_LINE.search(b.text)]


def _grow(gray: "np.ndarray", anchor: Box, bg: int, tol: int = 12) -> Box:
    """The block around ``anchor`` whose outer rows and columns are mostly background."""
    import numpy as np

    height, width = gray.shape
    is_bg = np.abs(gray - bg) <= tol
    x1, y1, x2, y2 = max(0, anchor[0]), max(0, anchor[1]), min(width, anchor[2]), min(height, anchor[3])
    while x1 > 0 and is_bg[y1:y2, x1 - 1].mean() >= 0.15:
        x1 -= 1
    while x2 < width and is_bg[y1:y2, x2].mean() >= 0.15:
        x2 += 1
    while y1 > 0 and is_bg[y1 - 1, x1:x2].mean() >= 0.5:
        y1 -= 1
    while y2 < height and is_bg[y2, x1:x2].mean() >= 0.5:
        y2 += 1
    # the anchor's padded box may reach over the window's border: trim edges that are not background
    while x2 - x1 > 2 and is_bg[y1:y2, x1].mean() < 0.5:
        x1 += 1
    while x2 - x1 > 2 and is_bg[y1:y2, x2 - 1].mean() < 0.5:
        x2 -= 1
    while y2 - y1 > 2 and is_bg[y1, x1:x2].mean() < 0.5:
        y1 += 1
    while y2 - y1 > 2 and is_bg[y2 - 1, x1:x2].mean() < 0.5:
        y2 -= 1
    return (x1, y1, x2, y2)


def _runs(mask: "np.ndarray", min_gap: int = 1) -> list[tuple[int, int]]:
    """[start, end) runs of True in a 1-D mask, runs closer than ``min_gap`` joined."""
    import numpy as np

    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > min_gap)
    starts = np.r_[idx[0], idx[breaks + 1]]
    ends = np.r_[idx[breaks], idx[-1]] + 1
    return [(int(s), int(e)) for s, e in zip(starts, ends)]


def word_boxes(gray: "np.ndarray", block: Box, bg: int, contrast: int = 48) -> list[list[Box]]:
    """The word boxes of each text row inside ``block`` (screen pixels), top to bottom."""
    import numpy as np

    x1, y1, x2, y2 = block
    ink = np.abs(gray[y1:y2, x1:x2] - bg) >= contrast
    rows = [(a, b) for a, b in _runs(ink.any(axis=1)) if b - a >= 4]
    out = []
    for a, b in rows:
        h = b - a
        words = _runs(ink[a:b].any(axis=0), min_gap=max(3, round(0.45 * h)))
        out.append([(x1 + s, y1 + a, x1 + e, y1 + b) for s, e in words if e - s >= 2])
    return out


def read_terminals(gray: "np.ndarray", lines: Sequence[TextBox],
                   recognise: Callable[[list[Box]], list[tuple[str, float]]], min_confidence: float = 0.5) -> list[Terminal]:
    """Every terminal anchored by a prompt among the OCR ``lines``; ``recognise`` reads word boxes."""
    import numpy as np

    blocks: list[tuple[Box, int]] = []
    for anchor in prompt_lines(lines):
        x1, y1, x2, y2 = anchor.box
        if any(b[0] <= (x1 + x2) // 2 < b[2] and b[1] <= (y1 + y2) // 2 < b[3] for b, _ in blocks):
            continue
        bg = int(np.median(gray[max(0, y1):y2, max(0, x1):x2]))
        block = _grow(gray, anchor.box, bg)
        if block[2] - block[0] >= 4 * (y2 - y1) and block[3] - block[1] >= (y2 - y1):
            blocks.append((block, bg))
    terminals = []
    for block, bg in blocks:
        rows = word_boxes(gray, block, bg)
        flat = [w for r in rows for w in r]
        reads = iter(recognise(flat)) if flat else iter(())
        parsed = []
        for r in rows:
            words = tuple(TextBox(t.strip(), c, box) for box, (t, c) in zip(r, reads))
            words = tuple(w for w in words if w.text and w.confidence >= min_confidence)
            if words:
                parsed.append(Row(words, bool(_PROMPT_WORD.search(words[0].text))))
        terminals.append(Terminal(block, tuple(parsed)))
    return terminals


def command_words(context: str) -> tuple[str, ...]:
    """The command a context names ("ls output" → ls, "git status output" → git status, "listing" → ls)."""
    words = [w.casefold() for w in context.split()]
    named = tuple(w for w in words if w not in _GENERIC)
    return named or (("ls",) if "listing" in words else ())


def find_word(terminals: Sequence[Terminal], texts: Sequence[str], kind: str | None,
              context: str) -> tuple[float, TextBox] | None:
    """The best-matching terminal word (score, word): among the words of the kind and command the
    instruction names first, among all of the terminal's words when none of those matches."""
    command = command_words(context)
    best: tuple[float, TextBox] | None = None
    for scope in ((kind, command), (kind, ()), (None, ())):
        for term in terminals:
            for word in term.words(*scope):
                score = max(match_score(t, word.text)[0] for t in texts)
                if best is None or score > best[0]:
                    best = (score, word)
        if best is not None and best[0] >= 0.85:
            return best
    return best


__all__ = ["Row", "Terminal", "command_words", "find_word", "prompt_lines", "read_terminals", "word_boxes"]
