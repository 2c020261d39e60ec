"""Grounding against several model servers: throughput against ideal with 1, 2 and 4 servers.

Each server is the real HTTP stub of the OpenAI API in a process of its own (as a model server would be),
answering every grounding request exactly ``--latency`` seconds after it arrives, like a GPU server that
is never the bottleneck. The client is what ``screenact ground --base-url A --base-url B …`` runs: one
``ServerPool`` and its spreading ``PooledModel`` (``--concurrency`` requests in flight per server, each
request to the server with the fewest outstanding) under ``VLMGrounder`` (kimi-vl-thinking) and
``agent.ground_run.run_grounding``, over a ScreenSpot-Pro-format set of flat 640x400 screenshots of a few kB
(what large images cost the client is ``bench_ground.py``'s subject; here the stubs run on the same machine,
and megabytes per request would measure the loopback device). The ideal is
servers × per-server / latency samples per second; the ratio shows what the client and the balancing
cost. Target: ≥ 90 % of ideal at each server count. Also shown: how evenly the requests were spread (the
fewest and most any server answered) and the highest number in flight at one server.

Run: python bench/bench_servers.py [--latency 0.2] [--per-server 16] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.budget import BudgetSettings  # noqa: E402
from agent.ground_run import DatasetProfile, run_grounding  # noqa: E402
from agent.grounders import VLMGrounder  # noqa: E402
from agent.models.server_pool import ServerPool  # noqa: E402
from agent.profiles import get_profile  # noqa: E402
from bench._machine import machine  # noqa: E402
from bench.bench_ground import _serve, make_dataset  # noqa: E402
from tasks.grounding import load_dataset  # noqa: E402


def flat_screenshot(size: tuple[int, int], seed: int):
    """A flat UI-like screen (panels, buttons, labels on one background): a few kB as PNG, so that the bytes of
    each request stay small against the client's per-request work this benchmark measures."""
    import random

    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    img = Image.new("RGB", size, (236, 236, 236))
    d = ImageDraw.Draw(img)
    for _ in range(40):
        x, y = rng.randrange(size[0] - 120), rng.randrange(size[1] - 30)
        d.rectangle([x, y, x + rng.randrange(40, 120), y + 24], fill=(250, 250, 250), outline=(120, 120, 120))
        d.text((x + 6, y + 6), f"Button {rng.randrange(1000)}", fill=(20, 20, 20))
    return img


def start_servers(count: int, latency: float) -> list[tuple]:
    """``count`` stub servers, each in its own process: (process, pipe, base URL)."""
    ctx = multiprocessing.get_context("fork")
    servers = []
    for _ in range(count):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(latency, child), daemon=True)
        proc.start()
        servers.append((proc, parent, parent.recv()))
    return servers


def stop_servers(servers: list[tuple]) -> None:
    for proc, pipe, _ in servers:
        pipe.send("stop")
    for proc, _, _ in servers:
        proc.join(10)
        if proc.is_alive():
            proc.terminate()


def peaks(servers: list[tuple]) -> list[int]:
    """The most requests each server held at once since the last call (and reset)."""
    out = []
    for _, pipe, _ in servers:
        pipe.send("peak?")
        out.append(pipe.recv())
    return out


def one_run(urls: list[str], per_server: int, samples, out: Path) -> tuple[float, list[int], int]:
    """(wall seconds, requests answered per server, failed samples) for one grounding run over the pool."""
    async def go():
        pool = ServerPool(urls, model="Kimi-VL-A3B-Thinking", max_model_len=32768, report=lambda line: None)
        model = pool.model_client(per_server=per_server)
        counted = {url: 0 for url in urls}
        for url in urls:  # count what each server answers: the client of each server, wrapped
            client = model._client(url)
            original = client.complete

            async def complete(messages, _orig=original, _url=url, **kw):
                reply = await _orig(messages, **kw)
                counted[_url] += 1
                return reply

            client.complete = complete
        try:
            budget = BudgetSettings(context_len=32768, use_server_count=False)
            grounder = VLMGrounder(model, DatasetProfile.of(get_profile("kimi-vl-thinking")), budget=budget)
            warm = await asyncio.gather(*(model._client(u).complete([{"role": "user", "content": "hi"}],
                                                                     max_tokens=8) for u in urls))
            assert len(warm) == len(urls)
            for url in urls:
                counted[url] = 0
            t0 = time.perf_counter()
            result = await run_grounding(samples, grounder, out=out, concurrency=per_server * len(urls),
                                         progress=False)
            return time.perf_counter() - t0, list(counted.values()), result.errors
        finally:
            await model.aclose()

    return asyncio.run(go())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.2, help="server latency per request in seconds (default 0.2)")
    ap.add_argument("--per-server", type=int, default=16, help="requests in flight per server (default 16)")
    ap.add_argument("--rounds", type=int, default=3, help="runs per server count; the best is reported (default 3)")
    ap.add_argument("--quick", action="store_true", help="fewer samples")
    args = ap.parse_args()
    print(f"# grounding against several servers — {machine()}")
    print(f"(load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())})")
    slots = 15 if args.quick else 40  # latencies' worth of samples per run: start-up and tail stay small
    rows = []
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        (tmp / "shots").mkdir()
        shots = []
        for i in range(8):
            p = tmp / "shots" / f"shot_{i}.png"
            flat_screenshot((640, 400), i).save(p)
            shots.append(p)
        for count in (1, 2, 4):
            servers = start_servers(count, args.latency)
            urls = [url for _, _, url in servers]
            n = slots * args.per_server * count
            samples = load_dataset(make_dataset(tmp / f"ds{count}", shots, n)).samples
            try:
                walls, spread, failed, most = [], [], 0, 0
                for r in range(args.rounds):
                    peaks(servers)
                    wall, answered, errors = one_run(urls, args.per_server, samples, tmp / f"r{count}-{r}.json")
                    walls.append(wall)
                    spread.append(answered)
                    failed += errors
                    most = max(most, *peaks(servers))
            finally:
                stop_servers(servers)
            ideal = count * args.per_server / args.latency
            best = min(walls)
            even = spread[walls.index(best)]
            rows.append((count, n, best, n / best, statistics.median(n / w for w in walls), ideal, n / best / ideal,
                         f"{min(even)}–{max(even)}", most, failed))
    print(f"\n## throughput, server latency {args.latency * 1000:.0f} ms, {args.per_server} in flight per server, "
          "640x400 screenshots, kimi-vl-thinking, budget by estimate\n")
    print(f"(best of {args.rounds} runs; the median shows the spread on a shared machine)\n")
    print("| servers | samples | wall | samples/s | median samples/s | ideal | of ideal | answered per server "
          "(min–max) | peak in flight at one server | failed |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for count, n, wall, rate, median, ideal, ratio, even, most, failed in rows:
        print(f"| {count} | {n} | {wall:.2f} s | {rate:.1f} | {median:.1f} | {ideal:.0f} | {100 * ratio:.1f} % | "
              f"{even} | {most} | {failed} |")
    print(f"\n(load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())})")


if __name__ == "__main__":
    main()
