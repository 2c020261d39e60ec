"""Runs inside an xterm in the sandbox: prints a made-up shell session and publishes where each word is.

    xterm -e python -m tasks.grounding.xterm_scene --state PATH --seed N

The positions come from the terminal itself, not from pixels: the session is printed from the
top-left cell of a cleared screen, so every word's (row, column) is known, and the terminal reports
its text area in characters (``CSI 18 t``) and in pixels (``CSI 14 t``), which gives the cell size.
The state file (``{"app": "xterm", "ready", "chars": [cols, rows], "text_px": [w, h], "tokens":
[{"text", "row", "col", "kind"}], "clicks": [{"col", "row"}], "input": {"releases"}}``) is rewritten atomically.
After that the script turns on xterm's mouse reporting (SGR mode) and logs every click's cell, so a
test can click a word's box and see which cell the terminal says was hit.

Only the standard library: it starts inside the sandbox for every scene.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import select
import sys
import termios
import tty

USERS = ["alice", "bob", "chen", "dana", "emil", "fatima", "goro", "hana"]
PROJECTS = ["project", "webapp", "notes", "thesis", "billing", "scraper", "game", "dotfiles"]
FILES = ["README.md", "main.py", "setup.cfg", "Makefile", "LICENSE", "requirements.txt", "config.yaml",
         "server.js", "index.html", "notes.txt", "data.csv", "report.pdf", "build.sh", "app.py", "utils.py",
         "Dockerfile", "package.json", "schema.sql", "todo.md", "CHANGELOG.md"]
DIRS = ["src", "tests", "docs", "build", "scripts", "assets", "vendor", "examples"]
BRANCHES = ["main", "develop", "feature/login", "fix/typo", "release-2.1"]
COMMANDS = [
    ["python3", "main.py", "--verbose"], ["make", "test"], ["grep", "-rn", "TODO", "src"],
    ["du", "-sh", "build"], ["pytest", "-q", "tests"], ["tar", "czf", "backup.tgz", "docs"],
]


def session(rng: random.Random) -> list[tuple[int, int, str, list[str]]]:
    """The lines to print, each as (indent, spaces between words, kind, words). Kinds: ``command`` (the
    first word of such a line is the prompt), ``listing`` (ls output), ``branch``, ``modified``, ``text``."""
    user, proj = rng.choice(USERS), rng.choice(PROJECTS)
    prompt = f"{user}@sandbox:~/{proj}$"
    listing = sorted(rng.sample(FILES, 6) + rng.sample(DIRS, 3), key=str.lower)
    changed = rng.sample([f for f in listing if "." in f], 2)
    return [
        (0, 1, "command", [prompt, "ls"]),
        (0, 2, "listing", listing[:5]),
        (0, 2, "listing", listing[5:]),
        (0, 1, "command", [prompt, "git", "status"]),
        (0, 1, "branch", ["On", "branch", rng.choice(BRANCHES)]),
        (0, 1, "text", ["Changes", "not", "staged", "for", "commit:"]),
        (8, 3, "modified", ["modified:", changed[0]]),
        (8, 3, "modified", ["modified:", changed[1]]),
        (0, 1, "command", [prompt, *rng.choice(COMMANDS)]),
        (0, 1, "text", ["exit", "status", str(rng.choice([0, 0, 1, 2]))]),
        (0, 1, "command", [prompt]),
    ]


def _read_reply(fd: int, pattern: bytes, timeout: float = 3.0) -> re.Match[bytes]:
    buf = b""
    rx = re.compile(pattern)
    while True:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            raise TimeoutError(f"no terminal reply matching {pattern!r} (got {buf!r})")
        buf += os.read(fd, 256)
        m = rx.search(buf)
        if m:
            return m


def _write_state(path: str, doc: dict) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tasks.grounding.xterm_scene")
    parser.add_argument("--state", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    fd = sys.stdin.fileno()
    tty.setraw(fd)
    termios.tcflush(fd, termios.TCIFLUSH)
    out = sys.stdout
    out.write("\x1b[H\x1b[2J")  # clear, home: row 0, col 0
    tokens = []
    lines = session(rng)
    for row, (indent, sep, kind, words) in enumerate(lines):
        col = indent
        out.write(" " * indent)
        for i, word in enumerate(words):
            if i:
                out.write(" " * sep)
                col += sep
            role = kind
            if kind == "command":
                role = "prompt" if i == 0 else ("command" if i == 1 else "argument")
            elif kind in ("branch", "modified") and i < len(words) - 1:
                role = "text"
            tokens.append({"text": word, "row": row, "col": col, "kind": role})
            out.write(word)
            col += len(word)
        if row < len(lines) - 1:
            out.write("\r\n")
    out.write(" ")
    out.flush()
    out.write("\x1b[18t")
    out.flush()
    m = _read_reply(fd, rb"\x1b\[8;(\d+);(\d+)t")
    rows, cols = int(m.group(1)), int(m.group(2))
    out.write("\x1b[14t")
    out.flush()
    m = _read_reply(fd, rb"\x1b\[4;(\d+);(\d+)t")
    height, width = int(m.group(1)), int(m.group(2))
    doc = {"app": "xterm", "ready": True, "chars": [cols, rows], "text_px": [width, height],
           "tokens": tokens, "clicks": [], "input": {"releases": 0}}
    out.write("\x1b[?1000h\x1b[?1006h")  # report button presses and releases, SGR coordinates
    out.flush()
    _write_state(args.state, doc)
    buf = b""
    event = re.compile(rb"\x1b\[<(\d+);(\d+);(\d+)([Mm])")
    while True:
        chunk = os.read(fd, 256)
        if not chunk:
            return
        buf += chunk
        while True:
            m = event.search(buf)
            if not m:
                break
            buf = buf[m.end():]
            button, x, y, kind = int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)
            if kind == b"M" and button < 64:
                doc["clicks"].append({"col": x - 1, "row": y - 1, "button": button})
            elif kind == b"m":
                doc["input"]["releases"] += 1
            _write_state(args.state, doc)


if __name__ == "__main__":
    main()
