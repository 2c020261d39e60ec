"""``screenact ground DATASET``: a ScreenSpot-style grounding benchmark — image + instruction → point, scored
by the benchmark's own rule, with N requests in flight, resumable, results in ScreenSpot-Pro's shape."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from agent.commands._common import (add_estimate_tokens_flag, add_model_flags, check_model_flags, check_servers,
                                    endpoints, out_file, positive_int, shell_command)
from agent.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    from tasks.grounding.datasets import FORMATS

    p = sub.add_parser(
        "ground", help="run a grounding benchmark (ScreenSpot, ScreenSpot-v2, ScreenSpot-Pro or a generated set)",
        description="Ask a grounder for the point of every sample's instruction on its screenshot and score it "
        "the benchmark's way: correct iff the point lies in the true box (bounds inclusive, original-image "
        "pixels); a reply without a point is wrong_format and counts. Prints accuracy overall and per group, "
        "application, platform and text/icon, and writes OUT as {\"details\": [...], \"metrics\": {...}} "
        "(ScreenSpot-Pro's shape, raw replies kept). Finished samples are logged as they come, so an "
        "interrupted run continues with --resume. Exit 0 when every sample got an answer, 1 when requests "
        "failed or the run stopped early, 2 on bad input.")
    p.add_argument("dataset", type=Path, help="dataset folder (or one annotation file)")
    p.add_argument("--format", choices=["auto", *FORMATS], default="auto",
                   help="dataset format; auto tells it from the folder (default)")
    p.add_argument("--grounder", choices=["vlm", "ocr"], default="vlm",
                   help="vlm: a model behind an OpenAI-compatible server, through --profile (default); "
                   "ocr: the embedded CPU grounder, no server")
    add_model_flags(p, several=True)
    p.add_argument("--prompt-file", type=Path, metavar="PATH",
                   help="the grounding prompt from a template file, to reproduce a published protocol word for word: "
                   ".txt is the user text (the screenshot before it); .json/.yaml gives system, user and image "
                   "(before|after); {instruction}, {width}, {height} are filled in. results.json records its path "
                   "and SHA-256 (the built-in prompt's too)")
    add_estimate_tokens_flag(p)
    p.add_argument("--concurrency", type=positive_int, default=None,
                   help="requests in flight per model server (default 8); each request goes to the server with "
                   "the fewest outstanding. With --ray: screenshots being read at once (default: the cluster's CPUs)")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="--grounder ocr: read the screenshots on a Ray cluster's CPUs, 'auto' (RAY_ADDRESS, or the "
                   "cluster started on this machine), 'local' or HOST:PORT of the head node; the results are "
                   "those of a local run")
    p.add_argument("--limit", type=positive_int, help="only the first N samples")
    p.add_argument("--lang", choices=["en", "cn"], default="en",
                   help="instruction language: cn uses ScreenSpot-Pro's instruction_cn (default en)")
    p.add_argument("--out", type=Path, default=None,
                   help="results file (default runs/ground-<date-time>/results.json)")
    p.add_argument("--resume", action="store_true", help="continue OUT: ask only for samples not finished yet")
    p.add_argument("--overwrite", action="store_true", help="start again even though OUT exists")
    p.add_argument("--failures-html", type=Path, metavar="PATH",
                   help="also write a self-contained page of the wrong predictions (point and true box drawn)")
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    p.set_defaults(func=run)


def _grounder(args: argparse.Namespace, model, profile, context_len: int | None, cluster=None):
    """The grounder the flags name (``model`` is None for the ocr grounder; ``cluster`` with --ray)."""
    if model is None:
        if cluster is not None:
            from agent.ground_ray import ClusterOCR

            return ClusterOCR(cluster, args.concurrency or max(1, cluster.capacity("CPU")))
        try:
            from agent.ground_ray import dataset_grounder

            return dataset_grounder()
        except ImportError as exc:
            raise UsageError(f"the ocr grounder is not available: {exc}") from exc
    from agent.budget import BudgetSettings
    from agent.ground_run import DatasetProfile
    from agent.grounders import VLMGrounder

    budget = BudgetSettings(context_len=context_len, use_server_count=not args.estimate_tokens)
    return VLMGrounder(model, DatasetProfile.of(profile), budget=budget)


def _profile(args: argparse.Namespace):
    """The profile for ``--grounder vlm`` (flags checked, ``--prompt-file`` read into it), else None."""
    if args.grounder != "vlm":
        if args.prompt_file is not None:
            raise UsageError("--prompt-file is a model's prompt; the ocr grounder has none")
        return None
    from agent.prompt_file import PromptFileError, load_prompt_file

    profile = check_model_flags(args)
    if args.prompt_file is not None:
        try:
            profile = profile.with_(grounding_template=load_prompt_file(args.prompt_file))
        except PromptFileError as exc:
            raise UsageError(str(exc)) from None
    return profile


def _load_samples(args: argparse.Namespace):
    """The dataset and the samples to ask for; a UsageError for contradicting flags or a bad dataset."""
    from agent.ground_run import details_log_path
    from tasks.grounding.datasets import DatasetError, load_dataset

    if args.resume and args.overwrite:
        raise UsageError("--resume and --overwrite contradict each other")
    try:  # the dataset first: a wrong path is the first thing to tell
        dataset = load_dataset(args.dataset, args.format)
    except DatasetError as exc:
        raise UsageError(str(exc)) from exc
    out: Path = args.out or Path("runs") / time.strftime("ground-%Y%m%d-%H%M%S") / "results.json"
    if args.resume and args.out is None:
        raise UsageError("--resume continues the results file --out names; give it")
    args.out = out_file(out)
    if not args.resume and not args.overwrite and (out.exists() or details_log_path(out).exists()):
        raise UsageError(f"{out} already exists: pass --resume to continue it, --overwrite to start again, "
                         "or another --out")
    samples = dataset.samples[: args.limit] if args.limit else dataset.samples
    if not samples:
        raise UsageError(f"{args.dataset}: the dataset has no samples")
    return dataset, samples


def run(args: argparse.Namespace) -> int:
    from agent.ground_run import ResumeMismatch, run_grounding
    from agent.models.base import ModelError, UnknownModel

    from agent.models.server_pool import ServerPool
    from agent.prompt_file import grounding_prompt_identity

    _check_ray(args)
    dataset, samples = _load_samples(args)
    out: Path = args.out
    profile = _profile(args)
    pool = None if profile is None else \
        ServerPool(endpoints(args), model=args.model, request_timeout=args.request_timeout)
    model = None if pool is None else pool.model_client(per_server=args.concurrency or 8)

    async def main(cluster):
        try:
            # each server is asked once before any sample: an unreachable server, an unknown model name or a
            # --context-len a server contradicts fails here, before a results file exists
            context_len = await check_servers(pool, args.context_len) if pool is not None else None
            grounder = _grounder(args, model, profile, context_len, cluster)
            in_flight = _start_line(args, dataset, samples, grounder, pool, context_len, cluster)
            return grounder, await run_grounding(
                samples, grounder, out=out, concurrency=in_flight, resume=args.resume, lang=args.lang,
                dataset={"root": str(dataset.root), "format": dataset.format, "samples": len(dataset)},
                progress=not args.no_progress,
                prompt=grounding_prompt_identity(profile) if profile is not None else None)
        finally:
            if model is not None:
                await model.aclose()

    try:
        with _cluster(args.ray) as cluster:
            grounder, result = asyncio.run(main(cluster))
    except (ResumeMismatch, UnknownModel) as exc:
        raise UsageError(str(exc)) from exc
    except ModelError as exc:  # the server is not there: nothing was asked, nothing written
        print(f"screenact ground: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted: finished samples are saved in {out}; continue: "
              f"{_again(args)}", file=sys.stderr)
        return 130
    if isinstance(result.fatal, UnknownModel):
        raise UsageError(str(result.fatal))
    return _report(args, result, dataset, len(samples), grounder.name)


def _check_ray(args: argparse.Namespace) -> None:
    """``--ray`` only with the ocr grounder, and a cluster address of a known form; a UsageError otherwise."""
    if args.ray is None:
        return
    if args.grounder != "ocr":
        raise UsageError("--ray reads the screenshots with --grounder ocr on the cluster's CPUs; a vlm grounder's "
                         "work is done by its model servers: give each one with --base-url instead")
    from agent.cluster import check_address

    check_address(args.ray)


def _cluster(address: str | None):
    """The Ray cluster ``--ray`` names, joined for the run (``agent.cluster.connect``), or no cluster."""
    import contextlib

    if address is None:
        return contextlib.nullcontext()
    from agent.cluster import connect

    return connect(address)


def _start_line(args: argparse.Namespace, dataset, samples, grounder, pool, context_len: int | None,
                cluster) -> int:
    """Check the largest screenshot fits the model's context, say on stderr what runs where; the requests (or,
    on a cluster, screenshots) in flight at once."""
    from agent.ground_run import WontFit, check_fits

    if context_len is not None:
        try:
            check_fits(grounder.profile, samples, context_len)
        except WontFit as exc:
            raise UsageError(str(exc)) from None
    if cluster is not None:
        in_flight = grounder.in_flight
        where = f" on the Ray cluster at {args.ray} ({len(cluster.nodes())} node(s), {cluster.capacity('CPU')} CPUs)"
        at_once = f"{in_flight} screenshot(s) at once"
    else:
        in_flight = (args.concurrency or 8) * (len(pool.servers) if pool is not None else 1)
        where, at_once = _servers(pool, context_len, args.request_timeout), f"{in_flight} at once"
    print(f"grounding {len(samples)} of {len(dataset)} samples ({dataset.format}, {dataset.root}) with "
          f"{grounder.name}{where}, {at_once} → {args.out}", file=sys.stderr)
    return in_flight


def _servers(pool, context_len: int | None, timeout: float) -> str:
    """`` at URL (model …, context length …, …)`` for the start line; "" without a model."""
    if pool is None:
        return ""
    where = pool.urls[0] if len(pool.urls) == 1 else f"{len(pool.urls)} servers ({', '.join(pool.urls)})"
    return (f" at {where} (model {pool.model}, context length {context_len}, requests time out after "
            f"{timeout:g} s)")


def _report(args: argparse.Namespace, result, dataset, asked_for: int, grounder_name: str) -> int:
    """Print the tables and where the results are; the exit code (1 when samples are missing or failed)."""
    from tasks.grounding.failures import write_failures_html
    from tasks.grounding.metrics import render_tables

    print(render_tables(result.metrics))
    print(f"\nresults: {args.out} ({result.asked} asked, {result.resumed} from an earlier run)")
    if args.failures_html:
        n = write_failures_html(result.details, args.failures_html,
                                title=f"Grounding failures — {dataset.root.name} — {grounder_name}")
        print(f"failures: {args.failures_html} ({n} shown)")
    if result.aborted:
        print(f"stopped early: {result.aborted}\n{len(result.details)} of {asked_for} samples are saved; "
              f"continue: {_again(args)}",
              file=sys.stderr)
        return 1
    if result.errors:
        print(f"{result.errors} request(s) failed (counted as wrong_format): {failure_reasons(result.details)}; "
              f"ask them again: {_again(args)}",
              file=sys.stderr)
        return 1
    return 0


def _again(args: argparse.Namespace) -> str:
    """The command that continues this run, quoted for a shell."""
    servers = [arg for url in args.base_url or () for arg in ("--base-url", url)]
    grounder = ["--grounder", args.grounder] if args.grounder != "vlm" else []
    cluster = ["--ray", args.ray] if args.ray else []
    return shell_command("screenact", "ground", args.dataset, *grounder, *servers, *cluster, "--out", args.out,
                         "--resume")


def failure_reasons(details: list[dict], shown: int = 3) -> str:
    """Why requests failed, most frequent first: ``7× the model server … did not answer within 300 s; 1× …``."""
    from collections import Counter

    reasons = Counter(" ".join(str(d["error"]).split())[:160] for d in details if d.get("error"))
    text = "; ".join(f"{n}× {reason}" for reason, n in reasons.most_common(shown))
    return text + (f"; and {len(reasons) - shown} other reason(s)" if len(reasons) > shown else "")
