"""``screenact make-grounding-set OUT``: generate a ScreenSpot-Pro-format grounding set from the sandbox."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.commands._common import (check_desktop, out_folder, parse_screen, positive_int, shell_command,
                                    warn_unisolated)
from agent.errors import UsageError


def _screens(text: str) -> list[tuple[int, int]]:
    return [parse_screen(part) for part in text.split(",") if part.strip()]


def add_parser(sub: argparse._SubParsersAction) -> None:
    from tasks.grounding.generate import APPS, SCREENS

    default_screens = ",".join(f"{w}x{h}" for w, h in SCREENS)
    p = sub.add_parser(
        "make-grounding-set", help="generate a ScreenSpot-Pro-format grounding dataset from the sandbox",
        description="Screenshots of the bundled apps and xterm at several screen sizes, each element's true box "
        "taken from the toolkit (the apps' published widget boxes; xterm's own cell geometry), never from "
        "pixels, with an English and a Chinese instruction and a text/icon type. Written in ScreenSpot-Pro's "
        "layout (annotations/<app>_linux.json, images/), so `screenact ground OUT` runs on it. "
        "The same --seed gives the same set.")
    p.add_argument("out", type=Path, help="folder to create (must be empty or new)")
    p.add_argument("--n", type=positive_int, default=100, help="number of samples (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--screens", type=_screens, default=_screens(default_screens), metavar="WxH,…",
                   help=f"screen sizes to draw from (default {default_screens})")
    p.add_argument("--apps", default=",".join(APPS), metavar="APP,…", help=f"apps to use (default {','.join(APPS)})")
    p.add_argument("--per-scene", type=positive_int, default=6, help="samples taken from one screenshot at most (default 6)")
    p.add_argument("--overwrite", action="store_true", help="replace a set already in OUT")
    p.add_argument("--no-isolate", action="store_true", help="run the desktops without bubblewrap (not isolated)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tasks.grounding.generate import APPS, generate_set, remove_generated

    apps = [a.strip() for a in args.apps.split(",") if a.strip()]
    unknown = [a for a in apps if a not in APPS]
    if unknown or not apps:
        raise UsageError(f"unknown app(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(APPS)}")
    if not args.screens:
        raise UsageError("--screens needs at least one size, e.g. 1920x1080")
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not args.overwrite:
            raise UsageError(f"{out} is not empty; pass --overwrite to replace a generated set there")
        if not (out / "scenes.json").is_file():
            raise UsageError(f"{out} holds something other than a generated set (no scenes.json); not touching it")
        remove_generated(out)
        if any(out.iterdir()):
            raise UsageError(f"{out} holds other files besides the generated set; not touching them")
    out_folder(out, "OUT")
    check_desktop(not args.no_isolate)
    warn_unisolated(args.no_isolate)
    report = generate_set(out, args.n, args.seed, screens=args.screens, apps=apps, per_scene=args.per_scene,
                          isolate=not args.no_isolate, log=lambda line: print(line, file=sys.stderr))
    print(f"{report.records} samples from {report.scenes} screenshots in {out} ({report.seconds:.1f} s)")
    print("per app:    " + ", ".join(f"{k} {v}" for k, v in report.per_app.items()))
    print("per type:   " + ", ".join(f"{k} {v}" for k, v in report.per_type.items()))
    print("per screen: " + ", ".join(f"{k} {v}" for k, v in report.per_screen.items()))
    print(f"run it: {shell_command('screenact', 'ground', out, '--grounder', 'ocr')}")
    return 0
