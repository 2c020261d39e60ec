"""Grounding benchmark: client throughput against a model server with a fixed latency, and client time
per 3840×2160 image.

1. Throughput. The real HTTP stub of the OpenAI API answers every grounding request after exactly
   ``--latency`` seconds (a responder that sleeps), like a GPU server that is never the bottleneck. It
   runs in its own process, as a model server would: in the client's process its request parsing
   would compete with the client for one interpreter. ``agent.ground_run.run_grounding`` drives
   ``VLMGrounder`` (kimi-vl-thinking, the context budget checked through the stub's /tokenize) over a
   ScreenSpot-Pro-format set of 1280×720 screenshots at concurrency 1, 4 and 16. The ideal is
   concurrency / latency samples per second; the ratio shows what the client (image load, prepare,
   two HTTP requests, scoring, the details log) costs. Target: ≥ 90 % of ideal at 16.
2. Client time per 3840×2160 screenshot (a busy synthetic screen, several MB as PNG like ScreenSpot-Pro's): load,
   prepare (the profile's image rule and encoding) and encode (the data URL and JSON request body),
   per profile — the way the runner does it (``FileFrame`` + ``DatasetProfile``: a PNG the model takes
   at native size is sent as the file's own bytes) and from a decoded ``Frame`` (a live screenshot).

Run: python bench/bench_ground.py [--latency 0.2] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.budget import BudgetSettings  # noqa: E402
from agent.ground_run import DatasetProfile, FileFrame, run_grounding  # noqa: E402
from agent.grounders import VLMGrounder  # noqa: E402
from agent.models import OpenAIModel  # noqa: E402
from agent.profiles import get_profile  # noqa: E402
from agent.prompts import build_grounding_messages  # noqa: E402
from bench._machine import machine  # noqa: E402
from tasks.grounding import load_dataset  # noqa: E402
from tests.stub_openai import InFlight, StubOpenAI  # noqa: E402
from tools.frame import Frame  # noqa: E402

REPLY = ("◁think▷The button is at the top right.◁/think▷## Action:\nClick the button.\n\n"
         "## Code:\n```python\npyautogui.click(x=0.5, y=0.5)\n```")


def screenshots(folder: Path, size: tuple[int, int], count: int) -> list[Path]:
    """``count`` distinct PNG screenshots of ``size`` with UI-like content (a real sandbox capture,
    varied by a small moving mark so no two files are equal)."""
    from PIL import Image, ImageDraw

    base = capture(size)
    paths = []
    for i in range(count):
        img = base.copy()
        d = ImageDraw.Draw(img)
        d.rectangle([10 + 7 * i, 10, 30 + 7 * i, 30], fill=(200, 40, 40))
        p = folder / f"shot_{i:03d}.png"
        img.save(p, compress_level=1)
        paths.append(p)
    return paths


def capture(size: tuple[int, int]):
    """A real screenshot of ``size``: the bundled apps on a sandbox desktop (a busy synthetic one if no sandbox)."""
    try:
        from dataclasses import replace

        from sandbox import Sandbox
        from tasks.grounding.generate import open_scene, plan_scene

        scene = plan_scene(2, 1, screens=[size], apps=("form", "todo", "calc", "settings", "editor"))
        scene = replace(scene, width=size[0], height=size[1])
        with Sandbox(*size) as sb:
            open_scene(sb, scene)
            return sb.screenshot().image()
    except Exception as exc:  # noqa: BLE001 - the benchmark still runs without a desktop
        print(f"(no sandbox capture: {exc}; using a synthetic screenshot)")
        return busy_screenshot(size)


def busy_screenshot(size: tuple[int, int]):
    """A screen full of UI-like content (panels, labels, icons, a photo-like gradient), so its PNG is as
    large as a real professional-app screenshot (ScreenSpot-Pro's 4K images are several MB)."""
    import random

    from PIL import Image, ImageDraw

    rng = random.Random(0)
    w, h = size
    img = Image.linear_gradient("L").resize((w, h)).convert("RGB")
    for i in range(3):  # photo-like panels: noise does not compress, like a canvas in an image editor
        pw, ph = w // 4, h // 3
        noise = Image.merge("RGB", [Image.effect_noise((pw, ph), 60 + 20 * k) for k in range(3)])
        img.paste(noise, (w // 8 + i * (w // 4 + 40), h // 2))
    d = ImageDraw.Draw(img)
    for _ in range(w * h // 6000):
        x, y = rng.randrange(w), rng.randrange(h)
        colour = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            d.rectangle([x, y, x + rng.randrange(20, 160), y + rng.randrange(12, 40)], fill=colour,
                        outline=(40, 40, 40))
        else:
            d.text((x, y), f"Label {rng.randrange(10000)}", fill=colour)
    return img


def make_dataset(folder: Path, images: list[Path], n: int) -> Path:
    """A ScreenSpot-Pro-format set of ``n`` samples over ``images`` (one sample per image, in turn)."""
    (folder / "annotations").mkdir(parents=True)
    recs = []
    for i in range(n):
        img = images[i % len(images)]
        w, h = Frame.open(img).size
        recs.append({"img_filename": img.name, "bbox": [w // 2 - 20, h // 2 - 10, w // 2 + 20, h // 2 + 10],
                     "instruction": f"the button number {i}", "id": f"b{i}", "application": "bench",
                     "platform": "linux", "img_size": [w, h], "ui_type": "text", "group": "Dev"})
    (folder / "annotations" / "bench_linux.json").write_text(json.dumps(recs))
    (folder / "images").symlink_to(images[0].parent)
    return folder


def _serve(latency: float, conn) -> None:
    """The stub server in its own process (a model server never shares the client's interpreter)."""
    import signal

    # still waiting inside the server at the midpoint of its latency
    responder = InFlight(lambda body: REPLY, hold_s=latency / 2)

    # The stub answers ``latency`` after each request arrives, however long it spent parsing the body,
    # so that what is measured beyond the ideal is the client's own cost.
    with StubOpenAI(responder=responder, max_model_len=32768, latency=latency) as stub:
        conn.send(stub.base_url)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while True:
            msg = conn.recv()  # "peak?" resets and reports the highest number of requests in flight
            if msg == "stop":
                return
            conn.send(responder.take_peak())


def throughput(latency: float, levels: list[int], per_level: dict[int, int], tmp: Path, rounds: int,
               server_count: bool = True) -> list[tuple]:
    """Per concurrency level: (c, samples, best wall, best rate, median rate, ideal, best/ideal, peak in flight,
    failed requests over all rounds)."""
    import multiprocessing

    (tmp / "shots").mkdir(parents=True)
    shots = screenshots(tmp / "shots", (1280, 720), 16)
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(latency, child), daemon=True)
    server.start()
    base_url = parent.recv()
    rows = []
    try:
        for c in levels:
            n = per_level[c]
            ds = load_dataset(make_dataset(tmp / f"ds{c}", shots, n))
            walls, peaks, failed = [], [], 0
            cpu_share: list[float] = []
            for r in range(rounds):
                async def go():
                    model = OpenAIModel(base_url=base_url)
                    try:
                        budget = BudgetSettings(context_len=32768, use_server_count=server_count)
                        grounder = VLMGrounder(model, DatasetProfile.of(get_profile("kimi-vl-thinking")), budget=budget)
                        # one warm-up request: connection pool, model name, TLS context, imports
                        await grounder.locate(Frame.open(shots[0]), "warm-up")
                        parent.send("peak?")
                        parent.recv()
                        t0, cpu0 = time.perf_counter(), time.process_time()
                        result = await run_grounding(ds.samples, grounder, out=tmp / f"r{c}-{r}.json",
                                                     concurrency=c, progress=False)
                        wall = time.perf_counter() - t0
                        cpu_share.append((time.process_time() - cpu0) / wall)
                        return result, wall
                    finally:
                        await model.aclose()

                result, wall = asyncio.run(go())
                assert result.aborted is None, result.aborted
                failed += result.errors  # a request the stub dropped (rare): reported, not hidden
                parent.send("peak?")
                peaks.append(parent.recv())
                walls.append(wall)
            ideal = c / latency
            best = min(walls)
            print(f"  concurrency {c}: the client process was busy {100 * max(cpu_share):.0f} % of the wall time "
                  "(CPU of all its threads)", flush=True)
            rows.append((c, n, best, n / best, statistics.median(n / w for w in walls), ideal, n / best / ideal,
                         max(peaks), failed))
    finally:
        parent.send("stop")
        server.join(10)
        if server.is_alive():
            server.terminate()
    return rows


def client_time(path: Path, profiles: list[str], repeats: int) -> list[tuple]:
    """Median (load, prepare, encode) per profile, as the runner does it (``FileFrame`` + ``DatasetProfile``:
    a PNG the model takes at native size is sent as the file) and from a decoded ``Frame`` (a live screenshot)."""
    rows = []
    for name in profiles:
        base = get_profile(name)
        for how, load_fn, profile in (("runner (file as is)", FileFrame.read, DatasetProfile.of(base)),
                                      ("decoded Frame", Frame.open, base)):
            load, prep, enc = [], [], []
            for _ in range(repeats):
                t0 = time.perf_counter()
                frame = load_fn(path)
                t1 = time.perf_counter()
                image = profile.prepare(frame)
                t2 = time.perf_counter()
                body = json.dumps({"model": "m", "messages": build_grounding_messages(profile, image, "the Save button")})
                t3 = time.perf_counter()
                load.append(t1 - t0)
                prep.append(t2 - t1)
                enc.append(t3 - t2)
            med = statistics.median
            rows.append((name, how, f"{image.width}x{image.height}", len(body) / 1e6, med(load), med(prep), med(enc),
                         med(load) + med(prep) + med(enc)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.2, help="server latency per request in seconds (default 0.2)")
    ap.add_argument("--quick", action="store_true", help="fewer samples")
    ap.add_argument("--rounds", type=int, default=3, help="runs per concurrency level; the best is reported (default 3)")
    args = ap.parse_args()
    print(f"# grounding benchmark — {machine()}")
    levels = [1, 4, 16]
    # Each level runs ``slots`` latencies' worth of samples, so that start-up (connections, the first
    # requests' staggered start) and the tail are small against the steady state being measured.
    slots = 20 if args.quick else 60
    per_level = {c: slots * c for c in levels}
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        for server_count in (True, False):
            rows = throughput(args.latency, levels, per_level, tmp / f"t{int(server_count)}", args.rounds, server_count)
            how = "budget checked via /tokenize" if server_count else "budget by estimate (--estimate-tokens)"
            print(f"\n## client throughput, server latency {args.latency * 1000:.0f} ms (stub in its own process), "
                  f"1280x720 screenshots, kimi-vl-thinking, {how}\n")
            print(f"(best of {args.rounds} runs; the machine may be shared, the median shows the spread)\n")
            print("| concurrency | samples | wall | samples/s | median samples/s | ideal (c/latency) | of ideal "
                  "| peak in flight | failed requests |")
            print("|---|---|---|---|---|---|---|---|---|")
            for c, n, wall, rate, median, ideal, ratio, peak, failed in rows:
                print(f"| {c} | {n} | {wall:.2f} s | {rate:.1f} | {median:.1f} | {ideal:.1f} | {100 * ratio:.1f} % | "
                      f"{peak} | {failed} |")

        shot = tmp / "uhd.png"
        busy_screenshot((3840, 2160)).save(shot, compress_level=6)
        print(f"\n(3840x2160 test image: a busy synthetic screen, {shot.stat().st_size / 1e6:.1f} MB as PNG)")
        crow = client_time(shot, ["kimi-vl-thinking", "kimi-vl-thinking-2506", "qwen2.5-vl", "ui-tars-1.5"],
                           3 if args.quick else 5)
        print("\n## client time per 3840x2160 screenshot (median)\n")
        print("| profile | loaded as | sent size | request body | load | prepare | encode | total |")
        print("|---|---|---|---|---|---|---|---|")
        for name, how, sent, mb, lo, pr, en, tot in crow:
            print(f"| {name} | {how} | {sent} | {mb:.1f} MB | {lo * 1000:.0f} ms | {pr * 1000:.0f} ms | "
                  f"{en * 1000:.0f} ms | {tot * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
