"""Settings of the browser front end, handed from ``screenact ui`` to the Chainlit app through the
environment (Chainlit loads the app module itself, so arguments cannot reach it another way)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

PREFIX = "SCREENACT_UI_"
DEFAULT_PORT = 8090
DEFAULT_POOL = 1
"""Desktops the UI keeps started ahead when ``--pool`` is not given: one, for the next agent run."""
TOKEN_ENV = PREFIX + "TOKEN"  # also where users put the token (``screenact ui --help`` names it)


def default_state_dir() -> Path:
    """Where the UI keeps Chainlit's files (config, uploads) unless told otherwise."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "screenact" / "ui"


@dataclass(frozen=True)
class UIConfig:
    """What the app needs to know at start-up; the user changes the model settings in the UI."""

    base_url: str | None = None      # None: OPENAI_BASE_URL / OPENAI_API_BASE / http://localhost:8000/v1
    model: str | None = None         # None: the server's only model
    profile: str = "kimi-vl-thinking"
    episodes: Path = Path("runs/ui")
    context_len: int = 8192
    isolate: bool = True
    max_sandboxes: int = 2
    pool: int = DEFAULT_POOL             # desktops kept started ahead for the next agent run (--pool)
    state_dir: Path = Path(".")
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    allow_origins: tuple[str, ...] = ()  # origins besides the UI's own that may connect
    token: str | None = None             # required off loopback; read from SCREENACT_UI_TOKEN
    request_timeout: float = 300.0       # seconds a model request may go unanswered (--request-timeout)
    record_video: bool = False           # episode.webm next to each episode (--record-video)

    @property
    def media_dir(self) -> Path:
        """Where images go for ``image_transport=file`` (start vLLM with --allowed-local-media-path on it)."""
        return self.state_dir / "media"

    def to_env(self) -> dict[str, str]:
        env = {f"{PREFIX}PROFILE": self.profile, f"{PREFIX}EPISODES": str(self.episodes),
               f"{PREFIX}CONTEXT_LEN": str(self.context_len), f"{PREFIX}ISOLATE": "1" if self.isolate else "0",
               f"{PREFIX}MAX_SANDBOXES": str(self.max_sandboxes), f"{PREFIX}POOL": str(self.pool),
               f"{PREFIX}STATE_DIR": str(self.state_dir),
               f"{PREFIX}HOST": self.host, f"{PREFIX}PORT": str(self.port),
               f"{PREFIX}ALLOW_ORIGINS": " ".join(self.allow_origins),
               f"{PREFIX}REQUEST_TIMEOUT": f"{self.request_timeout:g}",
               f"{PREFIX}RECORD_VIDEO": "1" if self.record_video else "0"}
        if self.token:
            env[TOKEN_ENV] = self.token
        if self.base_url:
            env[f"{PREFIX}BASE_URL"] = self.base_url
        if self.model:
            env[f"{PREFIX}MODEL"] = self.model
        return env

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "UIConfig":
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(PREFIX + name)
            return value if value else None

        def number(name: str, default: int) -> int:
            try:
                return int(get(name) or default)
            except ValueError:
                return default

        return cls(
            base_url=get("BASE_URL"),
            model=get("MODEL"),
            profile=get("PROFILE") or "kimi-vl-thinking",
            episodes=Path(get("EPISODES") or "runs/ui").expanduser().resolve(),
            context_len=number("CONTEXT_LEN", 8192),
            isolate=(get("ISOLATE") or "1") != "0",
            max_sandboxes=max(1, number("MAX_SANDBOXES", 2)),
            pool=max(0, number("POOL", DEFAULT_POOL)),
            state_dir=Path(get("STATE_DIR") or env.get("CHAINLIT_APP_ROOT") or os.getcwd()),
            host=get("HOST") or "127.0.0.1",
            port=number("PORT", DEFAULT_PORT),
            allow_origins=tuple((get("ALLOW_ORIGINS") or "").split()),
            token=get("TOKEN"),
            request_timeout=_seconds(get("REQUEST_TIMEOUT"), 300.0),
            record_video=get("RECORD_VIDEO") == "1",
        )


def _seconds(text: str | None, default: float) -> float:
    """A positive number of seconds from the environment, else ``default``."""
    try:
        value = float(text) if text else default
    except ValueError:
        return default
    return value if 0 < value < float("inf") else default
