"""``screenact replay EPISODE``: re-parse a recorded episode, or replay it in a fresh sandbox."""

from __future__ import annotations

import argparse
from pathlib import Path

from agent.commands._common import command_argv, out_folder
from agent.errors import UsageError
from agent.frame_diff import DiffSettings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay", help="replay a recorded episode (offline re-parse, or live in a fresh sandbox)",
        description="Replay an episode folder. --offline parses every recorded reply again and compares the "
        "actions (a parser regression check, no sandbox). Without it, the recorded replies drive a fresh "
        "sandbox of the recorded size through the loop and the executed actions are compared step by step; "
        "an episode recorded by `screenact run` is set up with its task's own setup and judged by its checker.")
    p.add_argument("episode", type=Path, help="an episode folder (task.json, steps.jsonl, step-NNNN.png)")
    p.add_argument("--offline", action="store_true", help="only re-parse the replies; no sandbox")
    p.add_argument("--profile", help="model profile to parse with (default: the one in task.json)")
    p.add_argument("--launch", action="append", default=[], metavar="COMMAND",
                   help="live replay: start this app first (the recording's set-up); repeatable")
    p.add_argument("--wait-window", metavar="TITLE", help="live replay: wait for this window before replaying")
    p.add_argument("--tolerance", type=_share, default=DiffSettings.tolerance, metavar="SHARE",
                   help="live replay: the share of the screen (16-px blocks) that may change and still count as "
                   f"the same screen (default {DiffSettings.tolerance})")
    p.add_argument("--mask", type=_box, action="append", default=[], metavar="X1,Y1,X2,Y2",
                   help="live replay: a rectangle of the screen (pixels) never compared, e.g. a clock; repeatable")
    p.add_argument("--reground", choices=["ocr", "vlm"],
                   help="live replay: when a pointer target moved, ground the step's recorded description (its "
                   "'## Action:' line or scripted step) on the screen now and act there ('moved by (dx, dy)'); "
                   "the replay then passes when the checker's verdict does")
    p.add_argument("--base-url", help="--reground vlm: the model server (default: $OPENAI_BASE_URL, else "
                   "http://localhost:8000/v1)")
    p.add_argument("--model", help="--reground vlm: the served model name")
    p.add_argument("--out", type=Path, help="live replay: folder for the new episode (default EPISODE-replay)")
    p.set_defaults(func=run)


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share between 0 and 1")
    return value


def _box(text: str) -> tuple[int, int, int, int]:
    parts = text.split(",")
    try:
        x1, y1, x2, y2 = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not X1,Y1,X2,Y2 (four whole pixel numbers)") from None
    if x2 <= x1 or y2 <= y1 or min(x1, y1) < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the box must have X1 < X2, Y1 < Y2, none negative")
    return x1, y1, x2, y2


def _grounder(args: argparse.Namespace, ep: object) -> object:
    """The grounder ``--reground`` names (a VLM one talks to --base-url with the episode's profile)."""
    from agent.commands._common import endpoint
    from agent.reground import make_grounder

    if args.reground == "ocr":
        return make_grounder("ocr")
    profile = args.profile or (ep.task or {}).get("profile") or "kimi-vl-thinking"
    return make_grounder("vlm", base_url=endpoint(args), model=args.model, profile=profile)


def run(args: argparse.Namespace) -> int:
    from agent.episode import load_episode
    from agent.replay import acts_only, replay_live, replay_offline

    try:
        ep = load_episode(args.episode)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from exc
    if ep.task is None or not ep.steps:
        raise UsageError(f"{args.episode}: nothing to replay ({'; '.join(ep.problems)})")
    launches = [command_argv(cmd) for cmd in args.launch]
    diff = DiffSettings(tolerance=args.tolerance, masks=tuple(args.mask))
    grounder = _grounder(args, ep) if args.reground and not args.offline else None
    if not args.offline:
        args.out = out_folder(args.out or args.episode.with_name(args.episode.name + "-replay"))
    try:
        if args.offline:
            report = replay_offline(args.episode, args.profile)
        elif not args.launch and not args.wait_window and ((ep.task or {}).get("task") or acts_only(ep)):
            from agent.replay import replay_task_episode

            report = replay_task_episode(args.episode, args.out, diff=diff, reground=grounder)
        else:
            from sandbox import Sandbox

            frame = next((ep.frame_path(s) for s in ep.steps if ep.frame_path(s)), None)
            if frame is None:
                raise UsageError(f"{args.episode}: no frame on disk to take the screen size from")
            from PIL import Image

            with Image.open(frame) as img:
                width, height = img.size
            with Sandbox(width, height) as sb:
                for argv in launches:
                    sb.launch(argv)
                if args.wait_window:
                    sb.wait_window(args.wait_window)
                report = replay_live(args.episode, sb, args.out, profile=args.profile, diff=diff, reground=grounder)
    except (KeyError, ValueError) as exc:
        raise UsageError(f"{args.episode}: {exc}") from exc
    print(report.summary())
    return 0 if report.ok else 1

