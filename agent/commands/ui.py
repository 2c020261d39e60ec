"""``screenact ui``: the browser front end (Chainlit) — chat about images, run the agent, try grounding.

The command checks its arguments, prepares Chainlit's working folder (its config, translations and
uploads live there, not in the current directory), then replaces itself with ``chainlit run`` on
``agent/ui/run_app.py`` in headless mode. Settings reach the app through ``SCREENACT_UI_*`` variables.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agent.budget import DEFAULT_CONTEXT_LEN
from agent.commands._common import (add_model_flags, add_pool_flag, add_record_video_flag, check_door, check_model_flags,
                                    check_port, check_record_video)
from agent.errors import UsageError

if TYPE_CHECKING:
    from agent.ui.gate import Gate
    from agent.ui.ui_config import UIConfig

INSTALL_HINT = "the browser front end needs Chainlit: pip install 'screenact[ui]'"


def add_parser(sub: argparse._SubParsersAction) -> None:
    from agent.ui.ui_config import DEFAULT_POOL, DEFAULT_PORT, TOKEN_ENV

    p = sub.add_parser(
        "ui", help="open the browser front end: chat about images, watch the agent, try grounding",
        description="Start the Chainlit front end (headless; open the printed address in a browser). Chat with "
        "the model about uploaded or pasted images with streamed answers and thinking shown apart; run the agent "
        "on a typed instruction or a bundled task in a fresh sandbox and watch each step; ground an element "
        "description on a screenshot. Only pages served from the UI's own address may talk to it (other web "
        "pages open in the same browser are refused). Anyone who can reach the address can run agents on this "
        "machine, so listening on anything but loopback requires a token.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; any other address requires a token)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--token", default=os.environ.get(TOKEN_ENV) or None,
                   help=f"a secret the browser must present (open the printed …/?token=… address once; a cookie "
                        f"keeps it). Default: the {TOKEN_ENV} environment variable, which is better than this "
                        "flag because other local users can read command lines. Required unless --host is "
                        "loopback; at least 16 characters of letters, digits and - _ . ~")
    p.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="another origin (scheme://host:port) whose pages may connect, e.g. the address of a "
                        "reverse proxy in front of the UI; repeatable")
    add_model_flags(p)
    p.add_argument("--episodes", type=Path, default=Path("runs/ui"),
                   help="where agent runs are recorded, one folder each (default runs/ui)")
    p.add_argument("--max-sandboxes", type=int, default=2, help="desktops running at once (default 2)")
    add_pool_flag(p, str(DEFAULT_POOL))
    p.add_argument("--no-isolate", action="store_true",
                   help="run desktops without bubblewrap isolation where it is unavailable (warns loudly)")
    add_record_video_flag(p)
    p.add_argument("--state-dir", type=Path,
                   help="Chainlit's working folder: config, uploads (default ~/.cache/screenact/ui)")
    p.set_defaults(func=run)


def chainlit_dir() -> Path | None:
    """The installed chainlit package folder, found without importing it (importing it writes files)."""
    spec = importlib.util.find_spec("chainlit")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def chainlit_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chainlit")
    except PackageNotFoundError:
        return "2.0.0"


CONFIG_TOML = """\
# Written by `screenact ui` at every start; edit agent/commands/ui.py instead.
[project]
user_env = []
session_timeout = 3600
user_session_timeout = 1296000
cache = false
allow_origins = {origins}

[features]
unsafe_allow_html = false
latex = false
user_message_markdown = false
user_message_autoscroll = true
assistant_message_autoscroll = true
auto_tag_thread = false
edit_message = false
allow_thread_sharing = false
favorites = false

[features.spontaneous_file_upload]
enabled = true
accept = ["image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff"]
max_files = 4
max_size_mb = 20

[features.audio]
enabled = false

[features.mcp]
enabled = false

[UI]
name = "screenact"
description = "A vision-language model operates a sandboxed Linux desktop through its screen."
cot = "full"
confirm_new_chat = false
alert_style = "classic"

[meta]
generated_by = "{version}"
"""

README_MD = """\
# screenact

- **Chat** — attach or paste an image, ask about it. Answers stream in; the model's thinking appears
  in a collapsible block above the answer. History is kept within the context length set in ⚙.
- **Agent** — type an instruction, or the id of a bundled task (or click one in the welcome message).
  A fresh sandboxed desktop opens; every step shows the screenshot the model saw with a marker where
  it acted, its thought and its action. The stop button ends the run; the episode folder is kept.
- **Grounding** — attach a screenshot and describe an element; the predicted point is drawn on it.

Pick the mode in the composer. Model, profile, temperature, top p, max tokens, streaming and the
context length are in ⚙ settings.
"""


def prepare_state_dir(state: Path, origins: list[str]) -> None:
    """Chainlit's working folder: our config (CORS for ``origins`` only), translations (step headers
    without "Used"), readme."""
    config_dir = state / ".chainlit"
    config_dir.mkdir(parents=True, exist_ok=True)
    text = CONFIG_TOML.replace("{version}", chainlit_version()).replace("{origins}", json.dumps(origins))
    (config_dir / "config.toml").write_text(text, encoding="utf-8")
    (state / "chainlit.md").write_text(README_MD, encoding="utf-8")
    (state / "media").mkdir(exist_ok=True)
    elements = state / "public" / "elements"  # Chainlit's custom elements (the live desktop)
    elements.mkdir(parents=True, exist_ok=True)
    for path in sorted((Path(__file__).resolve().parent.parent / "ui" / "elements").glob("*.jsx")):
        (elements / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    source = (chainlit_dir() or Path("/nonexistent")) / "translations"
    target = config_dir / "translations"
    target.mkdir(exist_ok=True)
    for path in sorted(source.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            status = data.get("chat", {}).get("messages", {}).get("status")
            if isinstance(status, dict):  # our step names say what happened ("Thought for 3.2 s")
                status["using"] = ""
                status["used"] = ""
        except (ValueError, AttributeError):
            continue
        (target / path.name).write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


def check_args(args: argparse.Namespace) -> "Gate":
    """UsageError for a bad argument; the gate the arguments describe otherwise."""
    from agent.ui.ui_config import TOKEN_ENV

    check_model_flags(args)
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port must be between 1 and 65535, got {args.port}")
    if args.max_sandboxes < 1:
        raise UsageError(f"--max-sandboxes must be at least 1, got {args.max_sandboxes}")
    return check_door(args.host, args.port, args.token, args.allow_origin, TOKEN_ENV, "the UI")


def run(args: argparse.Namespace) -> int:
    from agent.ui.ui_config import DEFAULT_POOL, UIConfig, default_state_dir

    gate = check_args(args)
    if chainlit_dir() is None:
        print(f"screenact ui: {INSTALL_HINT}", file=sys.stderr)
        return 1
    state = (args.state_dir or default_state_dir()).expanduser().resolve()
    episodes = args.episodes.expanduser().resolve()
    try:
        prepare_state_dir(state, sorted(gate.origins))
        episodes.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot prepare {exc.filename or state}: {exc.strerror or exc}") from None
    check_port(args.host, args.port)
    check_record_video(args.record_video)
    config = UIConfig(base_url=args.base_url, model=args.model, profile=args.profile, episodes=episodes,
                      context_len=args.context_len or DEFAULT_CONTEXT_LEN, isolate=not args.no_isolate, max_sandboxes=args.max_sandboxes,
                      pool=DEFAULT_POOL if args.pool is None else args.pool,
                      state_dir=state, host=args.host, port=args.port, allow_origins=tuple(sorted(gate.origins)),
                      token=args.token, request_timeout=args.request_timeout, record_video=args.record_video)
    announce(args.host, args.port, args.token, f"episodes in {episodes}; Chainlit files in {state}")
    serve(config)
    return 0  # not reached


def announce(host: str, port: int, token: str | None, where: str) -> None:
    """The address to open (with the token, like Jupyter's), and a warning when other machines can reach it."""
    from agent.ui.gate import is_loopback

    if not is_loopback(host):
        print(f"screenact ui: listening on {host}: anyone who can reach it and has the token can run agents "
              "on this machine and read uploads.", file=sys.stderr)
    name = "localhost" if host in ("0.0.0.0", "::") else f"[{host}]" if ":" in host else host
    query = f"/?token={token}" if token else ""
    print(f"screenact ui: http://{name}:{port}{query} ({where})", file=sys.stderr, flush=True)


CHAINLIT_FLAG_ENV = frozenset({"CI", "WATCH", "HEADLESS", "DEBUG", "NO_CACHE", "RUN_TARGET"})


def serve(config: "UIConfig") -> None:
    """Become the Chainlit server. exec, not a child: the signals a supervisor sends (SIGTERM, SIGINT,
    SIGKILL) reach the server itself, so there is no parent that could die and leave it serving."""
    # Chainlit's CLI reads bare CI, WATCH, DEBUG, ... as its own flags; CI=true (set by every CI service)
    # makes it overwrite OPENAI_API_KEY with a fake key, so the user's server would get the wrong one.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SCREENACT_UI_") and k not in CHAINLIT_FLAG_ENV}
    env.update(config.to_env())
    env["CHAINLIT_APP_ROOT"] = str(config.state_dir)
    env.setdefault("PYTHONUNBUFFERED", "1")
    app = Path(__file__).resolve().parent.parent / "ui" / "run_app.py"
    argv = [sys.executable, "-m", "chainlit", "run", str(app), "--headless", "--host", config.host,
            "--port", str(config.port)]
    sys.stdout.flush()
    os.execve(sys.executable, argv, env)
