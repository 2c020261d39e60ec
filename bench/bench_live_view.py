"""The live view: how long an action takes to show in the browser's noVNC canvas, and what watching costs.

One 1280x800 sandbox with an xterm that prints the time twice a second; the live view served as
``screenact sandbox --view`` serves it (``agent.live_view``, in this process), watched by Debian's
chromium through Playwright on the unscaled noVNC page.

- Latency: the page watches the xterm's part of the canvas on every animation frame; the bench types a
  key through ``Sandbox.act`` and takes the browser's ``Date.now()`` of the first changed frame minus the
  wall clock just before the action (one machine, one clock). Half the samples type a letter, half erase it.
- CPU: cores used over ``--seconds`` by the sandbox's processes (x11vnc included) unwatched, then watched;
  the host's bridge (this process: uvicorn and the websocket pump) and the browser are listed apart.
Run: python bench/bench_live_view.py [--samples 30] [--seconds 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._cpu import children_pids, cores_used, load, sandbox_pids  # noqa: E402
from bench._machine import machine  # noqa: E402
from sandbox import Sandbox  # noqa: E402

CLOCK = ["sh", "-c", "while :; do date +%T.%N; sleep 0.5; done"]
WATCH = """([x, y, w, h]) => {
  const c = document.querySelector('#screen canvas'); const ctx = c.getContext('2d');
  const sum = () => { const d = ctx.getImageData(x, y, w, h).data; let s = 0;
                      for (let i = 0; i < d.length; i += 4) s = (s * 31 + d[i] + d[i + 1] * 7) | 0; return s; };
  const first = sum(); window.__changed = null;
  const tick = () => { if (sum() !== first) { window.__changed = Date.now(); return; } requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
}"""


def _latencies(page, sb: Sandbox, samples: int) -> list[float]:
    region = [20, 420, 700, 300]  # the typing xterm, below the clock
    out = []
    for n in range(samples):
        page.evaluate(WATCH, region)
        page.wait_for_timeout(150)
        sent = time.time()
        sb.act({"type": "type", "text": "x"} if n % 2 == 0 else {"type": "key", "keys": ["backspace"]})
        deadline = time.monotonic() + 10
        changed = None
        while changed is None and time.monotonic() < deadline:
            changed = page.evaluate("window.__changed")
            if changed is None:
                page.wait_for_timeout(5)
        if changed is not None:
            out.append(changed / 1000 - sent)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=15.0)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from agent.live_view import bind, serve_view
    from tests.ui_harness import CHROMIUM, CHROMIUM_ARGS

    print(machine())
    print(f"start: {load()}")
    with Sandbox(1280, 800) as sb:
        sb.launch(["xterm", "-title", "clock", "-geometry", "100x20+20+20", "-e", *CLOCK])
        sb.launch(["xterm", "-title", "typing", "-geometry", "100x15+20+420"])
        sb.wait_window("clock")
        sb.wait_window("typing")
        sb.act({"type": "click", "x": 300, "y": 550})
        time.sleep(2)
        me = os.getpid()
        groups = {"sandbox": lambda: sandbox_pids(sb.id), "bridge": lambda: {me}, "browser": _browser_pids}
        unwatched = cores_used(groups, args.seconds)
        listener = bind("127.0.0.1", 0)
        port = listener.getsockname()[1]
        server = serve_view(sb, listener, _gate(port))
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(f"http://127.0.0.1:{port}/novnc/vnc_lite.html?path=websockify&view_only=true")
                page.wait_for_function("() => { const c = document.querySelector('#screen canvas');"
                                       " return c && c.width === 1280; }", timeout=30_000)
                time.sleep(2)
                watched = cores_used(groups, args.seconds)
                latencies = _latencies(page, sb, args.samples)
                browser.close()
        finally:
            server.stop()
    print(f"end:   {load()}")
    _report(latencies, args.samples, unwatched, watched)
    return 0


def _gate(port: int):
    from agent.commands._common import check_door
    from agent.commands.sandbox import VIEW_TOKEN_ENV

    return check_door("127.0.0.1", port, None, (), VIEW_TOKEN_ENV, "the live view")


def _browser_pids() -> set[int]:
    """Every chromium process of this bench's browser (children of this process)."""
    found = set()
    for pid in children_pids(os.getpid()) - {os.getpid()}:
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip().startswith("chrom"):
                    found.add(pid)
        except OSError:
            continue
    return found


def _report(latencies: list[float], samples: int, unwatched: dict[str, float], watched: dict[str, float]) -> None:
    print(f"\naction -> changed pixel in the browser's canvas ({len(latencies)}/{samples} seen):")
    if latencies:
        s = sorted(latencies)
        p95 = s[min(len(s) - 1, round(0.95 * (len(s) - 1)))]
        print(f"  median {statistics.median(s) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
              f"min {s[0] * 1000:.0f} ms, max {s[-1] * 1000:.0f} ms")
    print("\ncores used (1280x800, an xterm clock ticking twice a second)   unwatched   watched")
    for name, what in (("sandbox", "the sandbox (x11vnc inside when watched)"),
                       ("bridge", "host bridge (this process: uvicorn, pump)"), ("browser", "chromium running noVNC")):
        print(f"  {what:58} {unwatched[name]:9.3f} {watched[name]:9.3f}  ({watched[name] - unwatched[name]:+.3f})")


if __name__ == "__main__":
    sys.exit(main())
