"""``screenact demo``: the main job out of the box, needing no model, GPU or network.

For now it opens an isolated desktop, launches xterm, types a line with non-ASCII text into it,
waits for the screen to settle, checks what arrived, and saves the screenshots.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DEMO_TEXT = "héllo wörld 你好 a<b>c"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the demo: drive a sandboxed xterm and save screenshots",
                       description="Open an isolated 1280x800 desktop, launch xterm, type a command with "
                       "non-ASCII text, check the bytes that arrived, and save before/after screenshots.")
    p.add_argument("--out", type=Path, default=Path("demo-out"), help="where screenshots go (default ./demo-out)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sandbox import Sandbox
    from tools.settle import settle

    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with Sandbox(1280, 800) as sb:
        print(f"desktop 1280x800 ready in {sb.start_seconds:.2f} s (isolated: {sb.isolated})")
        sb.launch(["xterm", "-title", "screenact-demo", "-geometry", "100x24+40+40"])
        sb.wait_window("screenact-demo")
        before = settle(sb.screenshot).frame
        before.save(args.out / "before.png")
        sb.act({"type": "type", "text": f"printf '%s\\n' '{DEMO_TEXT}' > /tmp/demo.txt; cat /tmp/demo.txt\n"})
        after = settle(sb.screenshot, first=before, timeout=5).frame
        after.save(args.out / "after.png")
        received = sb.read_file("/tmp/demo.txt").decode("utf-8", "replace").rstrip("\n")
    ok = received == DEMO_TEXT
    print(f"typed {DEMO_TEXT!r} into xterm; the file inside the sandbox holds {received!r}: "
          f"{'exact' if ok else 'MISMATCH'}")
    print(f"screenshots: {args.out / 'before.png'}, {args.out / 'after.png'} ({time.monotonic() - t0:.1f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(run(argparse.Namespace(out=Path("demo-out"))))
