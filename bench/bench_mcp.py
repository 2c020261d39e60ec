"""MCP benchmark: a tool call's round trip over stdio, from call to result, beside the sandbox's own call.

The official SDK's client starts ``screenact mcp`` over stdio (as an MCP client would) and this process
opens its own ``Sandbox`` of the same size; both show an xterm. Each round makes one MCP call and then the
same call on the direct sandbox, so both sides see the same machine load; the ratio is median over median.
- click without a screenshot: ``click(x, y, screenshot=false)`` vs ``Sandbox.act(Click)``;
- screenshot at 1280x800 and 1920x1080: ``screenshot()`` (PNG image content, base64 over the pipe) vs
  ``Sandbox.screenshot()`` alone, and vs ``Sandbox.screenshot()`` + PNG encoding (what the server sends).
Run: python bench/bench_mcp.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._machine import machine, median, ms  # noqa: E402
from sandbox import Sandbox  # noqa: E402
from tools.actions import Click  # noqa: E402


async def measure(width: int, height: int, rounds: int) -> dict[str, list[float]]:
    """Per-call seconds, MCP and direct, interleaved round by round."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    out: dict[str, list[float]] = {k: [] for k in ("mcp_click", "sb_click", "mcp_shot", "sb_shot", "sb_shot_png")}
    params = StdioServerParameters(command=sys.executable, args=["-m", "agent.cli", "mcp", "--screen", f"{width}x{height}"],
                                   env=dict(os.environ), cwd=ROOT)
    with Sandbox(width, height) as sb, open(os.devnull, "w") as quiet:
        sb.launch(["xterm", "-geometry", "100x30+20+20"])
        sb.wait_window("xterm")
        async with stdio_client(params, errlog=quiet) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            await session.call_tool("launch", {"argv": ["xterm", "-geometry", "100x30+20+20"]})
            x, y = width - 40, height - 40  # the bare desktop: a left click there changes nothing
            for i in range(rounds + 3):  # the first rounds warm up (imports, first encodes)
                t = time.perf_counter()
                result = await session.call_tool("click", {"x": x, "y": y, "screenshot": False})
                mcp_click = time.perf_counter() - t
                assert not result.isError, result
                t = time.perf_counter()
                sb.act(Click(x=x, y=y))
                sb_click = time.perf_counter() - t
                t = time.perf_counter()
                result = await session.call_tool("screenshot", {})
                mcp_shot = time.perf_counter() - t
                assert not result.isError and result.content[-1].type == "image", result
                t = time.perf_counter()
                frame = sb.screenshot()
                sb_shot = time.perf_counter() - t
                frame.png()
                sb_shot_png = time.perf_counter() - t
                if i >= 3:
                    for key, value in zip(out, (mcp_click, sb_click, mcp_shot, sb_shot, sb_shot_png)):
                        out[key].append(value)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    print(f"# MCP benchmark — {machine()}")
    print(f"stdio, the SDK's client and server, {args.rounds} rounds, one MCP call then the direct call each round\n")
    for width, height in ((1280, 800), (1920, 1080)):
        t = asyncio.run(measure(width, height, args.rounds))
        click = median(t["mcp_click"]) / median(t["sb_click"])
        shot = median(t["mcp_shot"]) / median(t["sb_shot"])
        shot_png = median(t["mcp_shot"]) / median(t["sb_shot_png"])
        print(f"## {width}x{height}")
        print(f"click, screenshot=false, MCP round trip:      {ms(t['mcp_click'])}")
        print(f"click, Sandbox.act:                           {ms(t['sb_click'])}   MCP / direct = {click:.1f}x"
              f"   (+{(median(t['mcp_click']) - median(t['sb_click'])) * 1000:.2f} ms)")
        print(f"screenshot, MCP round trip (PNG, base64):     {ms(t['mcp_shot'])}")
        print(f"screenshot, Sandbox.screenshot:               {ms(t['sb_shot'])}   MCP / direct = {shot:.1f}x")
        print(f"screenshot, Sandbox.screenshot + PNG encode:  {ms(t['sb_shot_png'])}   MCP / direct = {shot_png:.1f}x\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
