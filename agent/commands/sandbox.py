"""``screenact sandbox``: open a desktop, launch an app, try actions by hand, save screenshots."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path

from pydantic import ValidationError

from agent.errors import UsageError
from agent.commands._common import add_screen_arg, check_door, command_argv, out_folder, warn_unisolated
from tools.actions import ACTION_ADAPTER, describe


VIEW_TOKEN_ENV = "SCREENACT_VIEW_TOKEN"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sandbox",
        help="open a sandboxed desktop, try actions by hand, save screenshots",
        description="Open an isolated desktop of a given size, optionally launch an app, apply actions "
        "(JSON, in screen pixels) and save a screenshot after each. With --interactive, read one JSON "
        'action per line from standard input, e.g. {"type": "click", "x": 100, "y": 200}.',
    )
    add_screen_arg(p, default="1280x800")
    p.add_argument("--launch", metavar="COMMAND", action="append", default=[],
                   help="start an app inside, e.g. --launch 'xterm -title demo' (split like a shell "
                   "would, but never run by one); repeatable")
    p.add_argument("--wait-window", metavar="TITLE", help="wait for a window whose title contains TITLE")
    p.add_argument("--action", metavar="JSON", dest="inputs", action="append", type=lambda text: ("json", text),
                   help="one action as JSON; repeatable; --action and --actions run in the order given")
    p.add_argument("--actions", metavar="FILE", dest="inputs", action="append", type=lambda text: ("file", Path(text)),
                   help="a JSON list of actions, or one JSON action per line; repeatable")
    p.add_argument("--out", metavar="DIR", type=Path, default=Path("runs/sandbox-shots"),
                   help="where screenshots go (default: runs/sandbox-shots)")
    p.add_argument("--interactive", action="store_true", help="read JSON actions from standard input")
    p.add_argument("--no-isolate", action="store_true", help="run without bubblewrap (not isolated)")
    p.add_argument("--view", action="store_true",
                   help="watch the desktop live in a browser (read-only): prints 'view: http://…'; without "
                   "--interactive the desktop stays open until Ctrl-C")
    p.add_argument("--view-port", type=int, default=0, metavar="PORT",
                   help="port of the live view (default: any free port)")
    p.add_argument("--view-host", default="127.0.0.1", metavar="ADDRESS",
                   help="address of the live view (default 127.0.0.1; any other needs a token)")
    p.add_argument("--view-token", default=os.environ.get(VIEW_TOKEN_ENV) or None, metavar="TOKEN",
                   help=f"secret the browser must present (default: ${VIEW_TOKEN_ENV}, better than this flag); "
                   "required unless --view-host is loopback")
    p.set_defaults(func=run, inputs=[])


def _load_actions(args: argparse.Namespace) -> list:
    """Every --action and --actions item, validated, in the order the flags were given."""
    items: list[tuple[str, object]] = []
    n = 0
    for kind, value in args.inputs:
        if kind == "json":
            n += 1
            items.append((f"--action #{n}", _json(value, f"--action #{n}")))
        else:
            items += _file_actions(value)
    return [_validate(where, item) for where, item in items]


def _file_actions(path: Path) -> list[tuple[str, object]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read --actions file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError:
        raise UsageError(f"--actions file {path}: not UTF-8 text") from None
    stripped = text.strip()
    if stripped.startswith("["):
        listed = _json(stripped, str(path))
        return [(f"{path}[{i}]", item) for i, item in enumerate(listed if isinstance(listed, list) else [listed])]
    return [(f"{path}:{n}", _json(line, f"{path}:{n}")) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _json(text: str, where: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}): {text[:80]!r}") from exc


def _validate(where: str, item: object):
    try:
        return ACTION_ADAPTER.validate_python(item)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"][1:]) or "type"  # loc[0] is the action type
        raise UsageError(f"{where}: field {field!r}: {err['msg']} (value {err.get('input')!r})") from exc


def run(args: argparse.Namespace) -> int:
    from sandbox import Sandbox

    actions = _load_actions(args)
    launches = [command_argv(cmd) for cmd in args.launch]
    out_folder(args.out)
    listener = _view_listener(args) if args.view else None
    warn_unisolated(args.no_isolate)
    width, height = args.screen
    # a desktop that cannot start, a missing app or a --wait-window that never appears: one line, exit 2 (cli)
    with Sandbox(width, height, isolate=not args.no_isolate, allow_unisolated=args.no_isolate) as sb:
        print(f"desktop {width}x{height} ready in {sb.start_seconds:.2f} s "
              f"({'isolated' if sb.isolated else 'NOT isolated'})", file=sys.stderr)
        server = _serve_view(sb, listener, args) if listener is not None else None
        try:
            _session(sb, launches, actions, args)
        finally:
            if server is not None:
                server.stop()
    return 0


def _view_listener(args: argparse.Namespace):
    """The live view's bound socket, after the door checks (token off loopback); UsageError otherwise."""
    from agent.live_view import bind, novnc_dir

    novnc_dir()
    check_door(args.view_host, args.view_port, args.view_token, (), VIEW_TOKEN_ENV, "the live view")
    return bind(args.view_host, args.view_port)


def _serve_view(sb, listener, args: argparse.Namespace):
    from agent.live_view import serve_view

    port = listener.getsockname()[1]
    gate = check_door(args.view_host, port, args.view_token, (), VIEW_TOKEN_ENV, "the live view")
    server = serve_view(sb, listener, gate)
    print(f"view: {server.url}", flush=True)
    return server


def _session(sb, launches: list[list[str]], actions: list, args: argparse.Namespace) -> None:
    """Launch, wait, act, and read standard input or (watched, not interactive) wait for Ctrl-C."""
    for argv in launches:
        app = sb.launch(argv)
        print(f"launched {app.name} (pid {app.pid})", file=sys.stderr)
    if args.wait_window:
        win = sb.wait_window(args.wait_window)
        print(f"window {win.title!r} at {win.x},{win.y} {win.width}x{win.height}", file=sys.stderr)
    print(f"saved {sb.screenshot().save(args.out / 'step-0000.png')}")
    step = 0
    for step, action in enumerate(actions, 1):
        _apply(sb, action, step, args.out)
    if args.interactive:
        _interactive(sb, step, args.out)
    elif args.view:
        print("watching: Ctrl-C closes the desktop", file=sys.stderr)
        threading.Event().wait()


def _interactive(sb, step: int, out: Path) -> None:
    """One JSON action per line from stdin; ``screenshot`` saves a new file, never over a step's."""
    print('enter one JSON action per line ("screenshot" saves one; end with Ctrl-D)', file=sys.stderr)
    shots = 0
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        if line == "screenshot":
            shots += 1
            print(f"saved {sb.screenshot().save(out / f'screenshot-{shots:04d}.png')}")
            continue
        try:
            action = _validate("input", _json(line, "input"))
        except UsageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            continue
        step += 1
        _apply(sb, action, step, out)


def _apply(sb, action, step: int, out: Path) -> None:
    from tools.policy import Policy, Rejection
    from tools.settle import settle

    checked = Policy().check(action, sb.width, sb.height)
    if isinstance(checked, Rejection):
        print(f"step {step}: rejected {describe(action)}: {checked.message}", file=sys.stderr)
        return
    result = sb.act(checked)
    status = "ok" if result.ok else f"failed: {result.error}"
    settled = settle(sb.screenshot)
    shot = settled.frame.save(out / f"step-{step:04d}.png")
    print(f"step {step}: {describe(checked)} {status} ({result.duration_s * 1000:.1f} ms, "
          f"settled in {settled.waited_s * 1000:.0f} ms) -> {shot}")
