"""``screenact serve``: print or run the vLLM command for a model profile, then wait until it is healthy."""

from __future__ import annotations

import argparse
import asyncio
import shlex
import signal
import sys
from pathlib import Path

from agent.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="start vLLM for a model profile (or print the command with --dry-run)",
        description="Build the vLLM command for a profile with the seed's defaults (served model name, "
        "--max-num-seqs 16, --max-model-len 8192, --gpu-memory-utilization 0.95, --trust-remote-code, "
        "port 8000, an image limit per prompt), check that vLLM >= 0.8.5 is installed, start it, and wait "
        "until /health answers. Arguments after -- go to vLLM unchanged.")
    p.add_argument("--profile", default="kimi-vl-thinking", help="model profile (default kimi-vl-thinking)")
    p.add_argument("--model", help="local path or Hugging Face id of the weights (default: the profile's)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--max-model-len", type=int, default=8192)
    p.add_argument("--max-num-seqs", type=int, default=16)
    p.add_argument("--gpu-memory-utilization", type=float, default=0.95)
    p.add_argument("--allowed-local-media-path", type=Path,
                   help="let the server read file:// images under this folder (for --image-transport file)")
    p.add_argument("--limit-images", type=int, help="images per prompt (default: the profile's history + 1)")
    p.add_argument("--dry-run", action="store_true", help="print the command and exit")
    p.add_argument("--timeout", type=float, default=1800, help="seconds to wait for /health (default 1800)")
    p.add_argument("extra", nargs=argparse.REMAINDER, help="-- then extra vLLM arguments")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agent.serve import ServeError, check_vllm, installed_vllm_version, launch, serve_command, wait_healthy

    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra
    try:
        version = None if args.dry_run else check_vllm()
        argv = serve_command(args.profile, args.model, args.port, args.host, args.max_model_len, args.max_num_seqs,
                             args.gpu_memory_utilization, args.allowed_local_media_path, args.limit_images, extra,
                             vllm_version=version or installed_vllm_version())
    except (ValueError, KeyError) as exc:
        raise UsageError(str(exc).strip("'\"")) from exc
    except ServeError as exc:
        print(f"screenact serve: {exc}", file=sys.stderr)
        return 1
    print(shlex.join(argv))
    if args.dry_run:
        return 0
    proc = launch(argv, log_path="vllm-serve.log")
    print(f"vLLM started (pid {proc.pid}); its output goes to vllm-serve.log", file=sys.stderr)
    base = f"http://127.0.0.1:{args.port}/v1"
    try:
        health = asyncio.run(wait_healthy(base, args.timeout, process=proc,
                                          progress=lambda line: print(line, file=sys.stderr)))
    except ServeError as exc:
        print(f"screenact serve: {exc}", file=sys.stderr)
        proc.send_signal(signal.SIGTERM)
        return 1
    print(f"ready after {health.seconds:.0f} s: export OPENAI_BASE_URL={base}", file=sys.stderr)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        return proc.wait()
