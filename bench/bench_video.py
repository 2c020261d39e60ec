"""What ``--record-video`` costs: CPU of a recorded sandbox against the same sandbox unrecorded, per codec setting.

One 1280x800 sandbox; an xterm prints the time twice a second (a screen that moves a little all the time,
as during an agent run). Each row runs for ``--seconds`` (after a 2 s warm-up) and gives the cores the
whole sandbox used (Xvfb copies the frames x11grab asks for, so its share counts too) and the bytes per
second written. "default" is the real path (``Sandbox.record_video``: VP8 realtime, 5 fps); the other
rows run ffmpeg by hand inside the same sandbox with one setting changed.
Run: python bench/bench_video.py [--seconds 15]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._cpu import cores_used, load, sandbox_pids  # noqa: E402
from bench._machine import machine  # noqa: E402
from sandbox import Sandbox  # noqa: E402
from sandbox.video import video_argv  # noqa: E402

CLOCK = ["sh", "-c", "while :; do date +%T.%N; sleep 0.5; done"]
VARIANTS = {  # name -> (fps, codec arguments replacing the default's)
    "vp8 realtime, 10 fps": (10, None),
    "vp8 good quality, 5 fps": (5, ["-c:v", "libvpx", "-deadline", "good", "-cpu-used", "0", "-threads", "1",
                                    "-crf", "30", "-b:v", "2M"]),
    "vp9 realtime, 5 fps": (5, ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "0",
                                "-threads", "1", "-crf", "35", "-b:v", "2M"]),
}


def _variant_argv(display: str, fps: int, codec: list[str] | None, out: str) -> list[str]:
    argv = video_argv(display, 1280, 800, fps, 3)[:-1] + [out]
    if codec is None:
        return argv
    start, end = argv.index("-c:v"), argv.index("-g")
    return argv[:start] + codec + argv[end:]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=15.0)
    args = ap.parse_args()
    print(machine())
    print(f"start: {load()}")
    rows = []
    with Sandbox(1280, 800) as sb:
        sb.launch(["xterm", "-title", "clock", "-geometry", "100x30+20+20", "-e", *CLOCK])
        sb.wait_window("clock")
        time.sleep(2)
        whole = {"sandbox": lambda: sandbox_pids(sb.id)}
        rows.append(("not recorded", cores_used(whole, args.seconds)["sandbox"], None))
        recording = sb.record_video()
        time.sleep(2)
        cores = cores_used(whole, args.seconds)["sandbox"]
        with tempfile.TemporaryDirectory() as tmp:
            video = recording.save(tmp)
        rows.append(("default: vp8 realtime cpu-used 16, 5 fps", cores, video.bytes / max(video.duration_s, 1e-9)))
        for name, (fps, codec) in VARIANTS.items():
            out = f"/tmp/bench-{len(rows)}.webm"
            app = sb.launch(_variant_argv(sb.display, fps, codec, out))
            time.sleep(2)
            t0 = time.monotonic()
            cores = cores_used(whole, args.seconds)["sandbox"]
            sb._call("kill_app", pid=app.pid, sig=2)  # SIGINT: ffmpeg finalises; an exit asked for is no fault
            time.sleep(1)
            size = len(sb.read_file(out))
            rows.append((name, cores, size / (time.monotonic() - t0 + 2)))
            sb.run(["rm", "-f", out])
    print(f"end:   {load()}")
    base = rows[0][1]
    print(f"\n{'sandbox (1280x800, xterm clock)':44} {'cores used':>11} {'recording costs':>16} {'bytes/s':>9}")
    for name, cores, rate in rows:
        extra = "" if rate is None else f"{cores - base:+.3f} cores"
        print(f"{name:44} {cores:11.3f} {extra:>16} {'' if rate is None else f'{rate / 1024:7.1f} kB':>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
