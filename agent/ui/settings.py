"""The ⚙ settings of one browser session: their values, the panel's widgets, and the model client
and profile they describe. ``CONFIG`` is what ``screenact ui`` handed over at start-up."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any, Callable

import chainlit as cl
from chainlit.input_widget import NumberInput, Select, Slider, Switch, TextInput

from agent.models import ModelError, OpenAIModel, RetryPolicy
from agent.models.openai_backend import DEFAULT_API_KEY
from agent.profiles import PROFILES, Profile, get_profile
from agent.ui.chat import DEFAULT_SYSTEM_PROMPT, describe_error
from agent.ui.ui_config import UIConfig

CONFIG = UIConfig.from_env()
SCREENS = ["1280x800", "1920x1080", "1024x768", "1440x900"]


@dataclass
class Settings:
    """The settings panel's values for one browser session."""

    base_url: str
    model: str
    profile: str
    temperature: float
    top_p: float
    max_tokens: int
    stream: bool
    context_len: int
    system_prompt: str
    image_transport: str
    screen: str
    max_steps: int
    api_key: str = DEFAULT_API_KEY  # sent to ``key_url`` only, never to another server
    key_url: str = ""

    @classmethod
    def initial(cls, served: str | None) -> "Settings":
        """The start-up values: ``screenact ui``'s flags, the profile's sampling, the environment's key."""
        profile = profile_named(CONFIG.profile)
        start = OpenAIModel(base_url=CONFIG.base_url)  # the configured server and the environment's key
        return cls(base_url=start.base_url, api_key=start.api_key, key_url=start.base_url,
                   model=CONFIG.model or served or "",
                   profile=profile.name, temperature=profile.agent_sampling.temperature,
                   top_p=profile.agent_sampling.top_p or 1.0, max_tokens=min(4096, profile.agent_sampling.max_tokens),
                   stream=True, context_len=CONFIG.context_len, system_prompt=DEFAULT_SYSTEM_PROMPT,
                   image_transport="data", screen=SCREENS[0], max_steps=15)

    def apply(self, values: dict[str, Any]) -> list[str]:
        """Take the panel's values; returns complaints about values that were not taken."""
        problems: list[str] = []
        self._take_server(values)
        for key in ("model", "system_prompt"):
            if isinstance(values.get(key), str):
                setattr(self, key, values[key].strip() if key != "system_prompt" else values[key])
        if values.get("profile") in PROFILES:
            self.profile = values["profile"]
        for key, lo, hi in (("temperature", 0.0, 2.0), ("top_p", 0.0, 1.0)):
            if values.get(key) is not None:
                try:
                    setattr(self, key, min(hi, max(lo, float(values[key]))))
                except (TypeError, ValueError):
                    problems.append(f"{key} must be a number")
        for key, lo, hi in (("max_tokens", 16, 131072), ("context_len", 512, 1048576), ("max_steps", 1, 100)):
            if values.get(key) not in (None, ""):
                try:
                    setattr(self, key, int(min(hi, max(lo, float(values[key])))))
                except (TypeError, ValueError):
                    problems.append(f"{key} must be a whole number")
        if isinstance(values.get("stream"), bool):
            self.stream = values["stream"]
        if values.get("image_transport") in ("data", "file"):
            self.image_transport = values["image_transport"]
        if values.get("screen") in SCREENS:
            self.screen = values["screen"]
        return problems

    def _take_server(self, values: dict[str, Any]) -> None:
        """The key belongs to the server it was given for: a new base URL drops it unless a new key
        comes with it (a page that changes the URL must not receive the user's key)."""
        url = values.get("base_url")
        key = values.get("api_key")
        if isinstance(url, str) and url.strip().rstrip("/") != self.base_url.rstrip("/"):
            self.base_url = url.strip()
            self.api_key, self.key_url = DEFAULT_API_KEY, self.base_url
        if isinstance(key, str) and key.strip():
            self.api_key, self.key_url = key.strip(), self.base_url

    @property
    def server_key(self) -> str:
        """The API key to send to ``base_url``: the one given for it, else none."""
        same = self.base_url.rstrip("/") == self.key_url.rstrip("/")
        return self.api_key if same else DEFAULT_API_KEY

    @property
    def screen_size(self) -> tuple[int, int]:
        """The desktop size for typed instructions, as (width, height)."""
        w, h = self.screen.split("x")
        return int(w), int(h)


def profile_named(name: str) -> Profile:
    """The profile called ``name``, or the default one when there is none by that name."""
    try:
        return get_profile(name)
    except ValueError:
        return get_profile(None)


def settings() -> Settings:
    """This browser session's settings (made on first use)."""
    st = cl.user_session.get("settings")
    if st is None:
        st = Settings.initial(None)
        cl.user_session.set("settings", st)
    return st


def make_model(st: Settings, *, on_delta: Callable[[str, str], None] | None = None, stream: bool | None = None,
               retries: int = 2) -> OpenAIModel:
    """A client for the panel's server, model and transport, with the key given for that server only."""
    profile = profile_named(st.profile)
    file_transport = st.image_transport == "file"
    return OpenAIModel(
        model=st.model or None, base_url=st.base_url or None, api_key=st.server_key,
        stream=st.stream if stream is None else stream,
        on_delta=on_delta, thinking_markers=profile.thinking, connect_timeout=3.0, read_timeout=CONFIG.request_timeout,
        retry=RetryPolicy(max_retries=retries, base_delay=0.3, max_delay=2.0),
        image_transport="file" if file_transport else "data",
        media_dir=CONFIG.media_dir if file_transport else None)


def sampling_profile(st: Settings) -> Profile:
    """The profile with the panel's temperature and top_p for agent mode (grounding keeps its own)."""
    profile = profile_named(st.profile)
    agent = replace(profile.agent_sampling, temperature=st.temperature, top_p=st.top_p)
    changes: dict[str, Any] = {"agent_sampling": agent}
    if st.model:
        changes["served_model_name"] = st.model
    return profile.with_(**changes)


async def server_models(st: Settings) -> tuple[list[str], str | None]:
    """(model names, problem) — asked once, without retries, so a dead server is reported at once."""
    model = make_model(st, retries=0)
    try:
        return await asyncio.wait_for(model.list_models(), timeout=5), None
    except asyncio.TimeoutError:
        return [], f"the model server at {st.base_url} did not answer within 5 s"
    except ModelError as exc:
        return [], describe_error(exc)
    except Exception as exc:  # noqa: BLE001
        return [], describe_error(exc)
    finally:
        await model.aclose()


def settings_widgets(st: Settings, models: list[str]) -> list[Any]:
    """The ⚙ panel for ``st``; the model is a list when the server named its models."""
    model_widget: Any
    if models:
        values = list(dict.fromkeys(([st.model] if st.model else []) + models))
        model_widget = Select(id="model", label="Model", values=values, initial_value=st.model or values[0],
                              description="Served model names the server lists.")
    else:
        model_widget = TextInput(id="model", label="Model", initial=st.model,
                                 placeholder="served model name (empty: the server's only model)")
    return [
        TextInput(id="base_url", label="Server (OpenAI base URL)", initial=st.base_url,
                  description="An OpenAI-compatible server such as vLLM, ending in /v1."),
        TextInput(id="api_key", label="API key for this server", initial="",
                  placeholder="empty: keep the current key (a new server gets none)",
                  description="The key goes only to the server it was given for; changing the server "
                              "above drops it unless you enter one here."),
        model_widget,
        Select(id="profile", label="Model profile", values=list(PROFILES), initial_value=st.profile,
               description="Image rule, coordinate space, output format and thinking markers of the model family."),
        Slider(id="temperature", label="Temperature", initial=st.temperature, min=0, max=2, step=0.05,
               description="Chat and agent modes (grounding uses the profile's, 0)."),
        Slider(id="top_p", label="Top p", initial=st.top_p, min=0, max=1, step=0.05),
        NumberInput(id="max_tokens", label="Max tokens (chat)", initial=st.max_tokens,
                    description="Lowered automatically when the context has less room."),
        Switch(id="stream", label="Stream answers", initial=st.stream),
        NumberInput(id="context_len", label="Context length", initial=st.context_len,
                    description="Used only when the server does not publish its context length; vLLM lists "
                                "its --max-model-len in /v1/models, and history is trimmed to that."),
        TextInput(id="system_prompt", label="System prompt (chat)", initial=st.system_prompt, multiline=True),
        Select(id="image_transport", label="Images sent as", values=["data", "file"], initial_value=st.image_transport,
               description=f"data: base64 data URLs (always works). file: file:// URLs under {CONFIG.media_dir} "
                           "(the server needs --allowed-local-media-path covering it)."),
        Select(id="screen", label="Desktop size (typed instructions)", values=SCREENS, initial_value=st.screen),
        Slider(id="max_steps", label="Max agent steps (typed instructions)", initial=st.max_steps, min=1, max=50, step=1),
    ]
