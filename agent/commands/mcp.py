"""``screenact mcp``: serve sandboxed desktops to MCP clients (stdio by default, or streamable HTTP)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from agent.commands._common import (add_screen_arg, check_door, check_port, check_record_video, out_folder,
                                    positive_int, warn_unisolated)
from agent.errors import UsageError

INSTALL_HINT = "screenact mcp needs the MCP SDK: pip install 'screenact[mcp]'"


def add_parser(sub: argparse._SubParsersAction) -> None:
    from agent.mcp.http import TOKEN_ENV

    p = sub.add_parser(
        "mcp", help="the sandboxed desktop as an MCP server (stdio, or streamable HTTP with --http PORT)",
        description="Serve screenact's desktop to Model Context Protocol clients. Each MCP session gets its own "
        "fresh sandbox, started on its first tool call and closed when the session ends. Tools: screenshot, "
        "click, move, drag, scroll, type, key, wait, windows, launch, list_tasks, start_task, check_task. "
        "Over stdio (the default) the client starts this command; with --http PORT it listens on "
        "http://127.0.0.1:PORT/mcp.")
    add_screen_arg(p, default="1280x800")
    p.add_argument("--http", type=positive_int, metavar="PORT", help="serve streamable HTTP on PORT (path /mcp)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on with --http (default 127.0.0.1; any other requires a token)")
    p.add_argument("--token", default=os.environ.get(TOKEN_ENV) or None,
                   help=f"bearer token HTTP clients must send (default: ${TOKEN_ENV}, better than this flag: "
                   "command lines are visible to every local user)")
    p.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="also accept HTTP requests from this browser origin (e.g. https://proxy.example)")
    p.add_argument("--max-sessions", type=positive_int, default=4, metavar="N",
                   help="HTTP sessions (so desktops) open at once; more get 503 until one ends (default 4)")
    p.add_argument("--shared", action="store_true",
                   help="one desktop for every session (a long-lived HTTP server), instead of one per session")
    p.add_argument("--allow-app", action="append", default=[], metavar="NAME",
                   help="what the launch tool may start: a program name or a bundled app; repeatable "
                   "(default: xterm and the bundled apps)")
    p.add_argument("--tasks", type=Path, metavar="DIR", help="task files for list_tasks/start_task "
                   "(default: the bundled suite)")
    p.add_argument("--record", type=Path, metavar="DIR", help="write each session as a screenact episode in DIR")
    p.add_argument("--max-wait", type=float, default=10.0, metavar="SECONDS",
                   help="the longest one wait call may wait (default 10)")
    p.add_argument("--no-isolate", action="store_true", help="run desktops without bubblewrap (NOT isolated)")
    p.add_argument("--record-video", action="store_true",
                   help="with --record: each session's desktop as episode.webm in its episode folder (ffmpeg inside "
                   "the sandbox; not with --shared)")
    p.set_defaults(func=run)


def _config(args: argparse.Namespace):
    """The server's configuration from the flags; UsageError naming a bad one."""
    from agent.mcp.apps import DEFAULT_APPS, check_app_name
    from agent.mcp.session import McpConfig
    from tasks import SUITE_DIR, TaskFileError, load_suite

    try:
        apps = tuple(dict.fromkeys(check_app_name(a) for a in args.allow_app)) or DEFAULT_APPS
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        tasks = load_suite(args.tasks or SUITE_DIR)
    except TaskFileError as exc:
        raise UsageError(f"--tasks: {exc}") from None
    if not 0 < args.max_wait <= 600:
        raise UsageError(f"--max-wait must be between 0 and 600 seconds, got {args.max_wait:g}")
    if args.record is not None:
        out_folder(args.record, "--record")
    if args.record_video and (args.record is None or args.shared):
        raise UsageError("--record-video writes each session's video into its episode: it needs --record DIR and "
                         "a desktop per session (not --shared)")
    check_record_video(args.record_video)
    width, height = args.screen
    return McpConfig(width, height, not args.no_isolate, apps, tasks, args.record, args.max_wait,
                     record_video=args.record_video)


def run(args: argparse.Namespace) -> int:
    try:
        import mcp.server.fastmcp  # noqa: F401
    except ImportError as exc:  # missing, or mcp 2.x (FastMCP was renamed there)
        print(f"screenact mcp: {INSTALL_HINT} ({exc})", file=sys.stderr)
        return 2
    from agent.mcp.main import serve_http, serve_stdio

    config = _config(args)
    warn_unisolated(args.no_isolate)
    if args.http is None:
        serve_stdio(config, shared=args.shared)
        return 0
    from agent.mcp.http import TOKEN_ENV

    if args.http > 65535:
        raise UsageError(f"--http must be a port between 1 and 65535, got {args.http}")
    gate = check_door(args.host, args.http, args.token, args.allow_origin, TOKEN_ENV, "the desktops")
    check_port(args.host, args.http, "--http")
    serve_http(config, gate, args.host, args.http, shared=args.shared, max_sessions=args.max_sessions)
    return 0
