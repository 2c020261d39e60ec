"""``screenact run TASK_OR_SUITE…``: run GUI tasks, one fresh sandbox each, and judge them."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from agent.budget import DEFAULT_CONTEXT_LEN
from agent.commands._common import (add_estimate_tokens_flag, add_model_flags, add_pool_flag, add_record_video_flag,
                                    check_desktop, check_model_flags, check_record_video, check_servers, endpoints,
                                    out_folder, positive_int, shell_command, warn_unisolated)
from agent.commands.tasks import add_osworld_flags
from agent.profiles import DEFAULT_PROFILE
from agent.errors import UsageError
from agent.models.base import ModelError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="run GUI tasks (files, folders, or 'suite' for the bundled one)",
        description="Run tasks, each in a fresh isolated sandbox, N at once. --mode auto: the model plans every "
        "step from the instruction. --mode scripted: the task's steps in words are grounded one by one on the "
        "live screen (--grounder ocr needs no model; vlm uses the model's grounding prompt). Writes one episode "
        "folder per task, results.json and report.html under --out. Exit 0 all passed, 1 some failed, 2 bad input.")
    p.add_argument("tasks", nargs="+", metavar="TASK_OR_SUITE",
                   help="a task file (JSON/YAML, screenact or OSWorld format), a folder of them, an OSWorld test set "
                   "(with --osworld-root), or 'suite' for the bundled suite")
    p.add_argument("--mode", choices=["auto", "scripted"], default=None,
                   help="auto: the model plans every step from the instruction; scripted: each task's steps in "
                   "words, grounded on the screen one by one (default auto, or scripted when --grounder is given)")
    p.add_argument("--grounder", choices=["ocr", "vlm"], default=None,
                   help="scripted mode's grounder: ocr, the embedded CPU grounder (default), or vlm, the model at "
                   "--base-url through its grounding prompt; implies --mode scripted")
    add_model_flags(p, several=True)
    add_estimate_tokens_flag(p)
    p.add_argument("--parallel", type=int, default=None, metavar="N",
                   help="tasks at once (default 1; with --ray, the sandboxes the cluster's nodes offer)")
    add_pool_flag(p, "--parallel + 1, at most 2 on a machine of 2 cores")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run each task on a Ray cluster: 'auto' (RAY_ADDRESS or the cluster started here), 'local' "
                   "(a cluster inside this process) or HOST:PORT of the head node; see docs/ray.md")
    p.add_argument("--ray-retries", type=int, default=1, metavar="N",
                   help="with --ray: times a task lost with its node or worker runs again elsewhere (default 1)")
    p.add_argument("--out", type=Path, help="run folder (default runs/<date-time>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out: skip tasks already judged, keep every earlier result")
    p.add_argument("--overwrite", action="store_true", help="start again in an --out that holds an earlier run")
    p.add_argument("--max-steps", type=positive_int, help="override each task's max_steps (--mode auto only)")
    p.add_argument("--filter", metavar="TEXT", help="only tasks whose id contains TEXT")
    p.add_argument("--no-isolate", action="store_true", help="run sandboxes without bubblewrap (not isolated)")
    p.add_argument("--approve", action="store_true",
                   help="--mode auto: ask on the terminal before an action the approval rules mark (rm -rf, sudo, "
                   "curl | sh, … see docs/approval.md); with no terminal such actions are rejected")
    p.add_argument("--approve-rules", type=Path, metavar="FILE",
                   help="the approval rules (YAML/JSON: actions, keys, text, regions, defaults) instead of the "
                   "profile's; implies --approve")
    add_record_video_flag(p)
    add_osworld_flags(p)
    p.set_defaults(func=run)


def load_inputs(names: list[str], id_filter: str | None = None, osworld_root: Path | None = None,
                osworld_cache: Path | None = None) -> tuple[list, list]:
    """(tasks that can run, entries skipped with their reason) from files, folders, OSWorld test sets or
    'suite'; a bad file is a UsageError naming file, field and value."""
    from agent.commands.tasks import find_entries

    entries = find_entries(names, osworld_root, osworld_cache)
    if id_filter:
        entries = [e for e in entries if id_filter in e.id]
        if not entries:
            raise UsageError(f"--filter {id_filter!r} matches no task")
    return [e.task for e in entries if e.task is not None], [e for e in entries if e.task is None]


def run(args: argparse.Namespace) -> int:
    from agent.runner import RunSettings, run_tasks

    if args.parallel is not None and args.parallel < 1:
        raise UsageError(f"--parallel must be at least 1, got {args.parallel}")
    if args.ray_retries < 0:
        raise UsageError(f"--ray-retries must be 0 or more, got {args.ray_retries}")
    mode, grounder = mode_and_grounder(args)
    profile = check_model_flags(args)
    rules = approval_rules(args.approve_rules)
    if (args.approve or rules) and mode != "auto":
        raise UsageError("--approve asks before the model's actions in --mode auto; a scripted task's steps are "
                         "the task's own")
    if mode == "auto" and profile.grounding_only:
        raise UsageError(f"profile {profile.name} is grounding-only ({profile.hf_model} points at elements but does "
                         "not plan steps): use --mode scripted --grounder vlm with it, or another profile")
    out = args.out or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    check_run_folder(out, args.resume, args.overwrite, mode, grounder)
    tasks, skipped = load_inputs(args.tasks, args.filter, args.osworld_root, args.osworld_cache)
    if args.ray in (None, "local"):  # a remote cluster's nodes host the desktops, not this machine
        check_desktop(not args.no_isolate)
    check_record_video(args.record_video)
    warn_unisolated(args.no_isolate)
    if (args.approve or rules) and args.ray:
        raise UsageError("--approve asks on this terminal; with --ray the tasks run on the cluster's nodes")
    if mode == "scripted":
        missing = [t.id for t in tasks if not t.steps]
        if missing:
            print(f"note: {len(missing)} task(s) have no scripted steps and will end as errors: "
                  f"{', '.join(missing[:5])}{'…' if len(missing) > 5 else ''}", file=sys.stderr)
    base_url, model, context_len = ",".join(endpoints(args)), args.model, args.context_len or DEFAULT_CONTEXT_LEN
    if mode == "auto" or grounder == "vlm":
        try:
            model, context_len = server_model(args)
        except ModelError as exc:  # nothing runs against a server that is not there
            print(f"screenact run: {exc}", file=sys.stderr)
            return 1
        where = base_url if "," not in base_url else f"{base_url.count(',') + 1} servers ({base_url}; each task " \
            "keeps the one with the fewest tasks when it starts)"
        print(f"{'model' if mode == 'auto' else 'grounder: vlm, model'} {model} at {where} (profile "
              f"{args.profile}, context length {context_len}, requests time out after {args.request_timeout:g} s)",
              file=sys.stderr)
    else:
        print("grounder: ocr (the embedded CPU grounder, no model)", file=sys.stderr)
    out_folder(out)
    if args.overwrite:
        clear_earlier_run(out)
    settings = RunSettings(mode=mode, out=out, parallel=args.parallel or 1, resume=args.resume,
                           profile=args.profile, model=model, base_url=base_url if model else None,
                           grounder=grounder, isolate=not args.no_isolate, max_steps=args.max_steps,
                           context_len=context_len, request_timeout=args.request_timeout,
                           estimate_tokens=args.estimate_tokens, approve=args.approve or rules is not None,
                           approval_rules=rules, pool=args.pool, record_video=args.record_video, ray=args.ray,
                           ray_retries=args.ray_retries)
    again, suite, not_run = _again(args, mode, grounder), " ".join(args.tasks), [(e.id, e.reason) for e in skipped]
    if args.ray is None:
        return finish(run_tasks(tasks, settings, suite=suite, skipped=not_run), out, again)
    from agent.cluster.tasks import on_cluster

    with on_cluster(args.ray, settings, args.parallel, needs_key=bool(model)) as cluster:
        return finish(run_tasks(tasks, settings, suite=suite, skipped=not_run, cluster=cluster), out, again)


def approval_rules(path: Path | None) -> Any:
    """The rules in ``--approve-rules FILE`` (None without it); a UsageError naming file, field and value."""
    if path is None:
        return None
    from tools.approval import RulesFileError, load_rules

    try:
        return load_rules(path)
    except RulesFileError as exc:
        raise UsageError(f"--approve-rules {exc}") from None


def mode_and_grounder(args: argparse.Namespace) -> tuple[str, str]:
    """The mode and grounder the flags ask for: --grounder implies scripted mode, the grounder is ocr unless
    --grounder vlm says otherwise (an exported OPENAI_BASE_URL never switches it)."""
    mode = args.mode or ("scripted" if args.grounder else "auto")
    if mode == "auto" and args.grounder:
        raise UsageError(f"--grounder {args.grounder} grounds the steps of --mode scripted; in --mode auto the "
                         "model plans every step (drop --grounder, or use --mode scripted)")
    if mode == "scripted" and args.max_steps is not None:
        raise UsageError("--max-steps limits the model's steps in --mode auto; --mode scripted runs each "
                         "task's own steps")
    return mode, (args.grounder or "ocr") if mode == "scripted" else "ocr"


def check_run_folder(out: Path, resume: bool, overwrite: bool, mode: str, grounder: str) -> None:
    """Refuse to mix runs: an earlier run in ``out`` is kept unless --overwrite, and --resume continues only a
    run of the same mode and grounder."""
    from agent.runner import read_results

    if resume and overwrite:
        raise UsageError("--resume and --overwrite contradict each other")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    earlier = out.is_dir() and any(out.iterdir())
    if earlier and not resume and not overwrite:
        raise UsageError(f"--out {out} already holds a run: pass --resume to continue it, --overwrite to start "
                         "again, or another --out")
    previous = read_results(out).get("run", {}) if resume else {}
    was = (previous.get("mode"), previous.get("grounder") if previous.get("mode") == "scripted" else None)
    now = (mode, grounder if mode == "scripted" else None)
    if previous and was != now:
        raise UsageError(f"--resume: {out} holds a run in {_label(*was)}; this one would be {_label(*now)} "
                         "(use the same flags, or another --out)")


def clear_earlier_run(out: Path) -> list[str]:
    """For --overwrite: delete what the earlier run in ``out`` wrote — the episode folders its results.json
    names, its results and its report — so the new run's page shows no stale episodes. Anything else in
    ``out`` stays; a name that is not a plain folder directly inside ``out`` (a path, a symlink) is left
    alone, since results.json may come from someone else. Returns the folders deleted."""
    from agent.report.episode_page import REPORT_NAME
    from agent.runner import read_results

    gone = []
    for item in read_results(out).get("tasks", []):
        name = item.get("id") if isinstance(item, dict) else None
        if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name:
            continue
        folder = out / name
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder)
            gone.append(name)
    for name in ("results.json", REPORT_NAME):
        (out / name).unlink(missing_ok=True)
    return gone


def _label(mode: str | None, grounder: str | None) -> str:
    return f"--mode {mode}" + (f" --grounder {grounder}" if grounder else "")


def server_model(args: argparse.Namespace) -> tuple[str, int]:
    """(served model name, context length) from one question to each server, before any task starts."""
    import asyncio

    from agent.models.server_pool import ServerPool

    pool = ServerPool(endpoints(args), model=args.model, request_timeout=args.request_timeout)
    context_len = asyncio.run(check_servers(pool, args.context_len))
    return str(pool.model), context_len


def _again(args: argparse.Namespace, mode: str, grounder: str) -> list[str]:
    """The command line of this run (without --out/--resume/--overwrite), to continue it."""
    again = ["screenact", "run", *args.tasks, "--mode", mode] + (["--grounder", grounder] if mode == "scripted" else [])
    servers = tuple(("--base-url", url) for url in args.base_url or ())
    for flag, value in (("--filter", args.filter), *servers, ("--model", args.model),
                        ("--parallel", args.parallel), ("--pool", args.pool), ("--ray", args.ray),
                        ("--max-steps", args.max_steps), ("--osworld-root", args.osworld_root), ("--osworld-cache", args.osworld_cache)):
        if value is not None:
            again += [flag, str(value)]
    if args.profile != DEFAULT_PROFILE:
        again += ["--profile", args.profile]
    return again


def finish(summary, out: Path, again: list[str] | None = None) -> int:
    """Print the table and where things are; write the report; the exit code. ``again`` is the command that
    continues an interrupted run (``--resume`` is added)."""
    from agent.runner import results_table

    print(results_table(summary))
    print(f"episodes and results.json: {out}")
    try:
        from agent.report import write_run_report
    except ImportError:
        pass
    else:
        print(f"report: {write_run_report(out)}")
    if summary.run.get("interrupted"):
        if again:
            print(f"continue: {shell_command(*again, '--out', out, '--resume')}", file=sys.stderr)
        return 130
    ran = [t for t in summary.tasks if t.status != "skipped"]  # a skipped task is never a failure
    return 0 if summary.passed == len(ran) else 1
