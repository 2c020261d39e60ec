"""The screenact browser front end (Chainlit). Start it with ``screenact ui``.

Three modes, picked in the message composer:

- **Chat** — ask the model about images (upload or paste them). Answers stream in; Kimi-VL's
  thinking streams into a collapsible block of its own. History is kept within the context length.
- **Agent** — type an instruction (a fresh sandboxed desktop with a terminal opens) or a bundled
  task's id (or click one in the welcome message). Each step appears as it is recorded: the
  screenshot the model saw with a marker where it acted, its thought and its actions. Stop with the
  stop button; the checker's verdict and the episode folder come at the end.
- **Grounding** — attach a screenshot and describe an element; the screenshot comes back with the
  predicted point drawn on it.

Model output is data: it is rendered as Markdown with HTML disabled, and everything that must read
literally (thoughts, actions, errors, file names) is escaped. Failures of the server, an upload or
the sandbox become readable messages; nothing here lets an exception reach the user as a crash.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Awaitable, Callable

import chainlit as cl
from chainlit.input_widget import NumberInput, Select, Slider, Switch, TextInput
from chainlit.utils import utc_now

from agent.budget import BudgetSettings, ContextBudget
from agent.models import ModelError, OpenAIModel, Reply, RetryPolicy
from agent.models.openai_backend import DEFAULT_API_KEY
from agent.profiles import PROFILES, Profile, get_profile
from agent.ui.agent_view import (RunResult, RunSpec, StepView, bundled_spec, instruction_spec, load_bundled,
                                 run_agent)
from agent.ui.chat import (DEFAULT_SYSTEM_PROMPT, Conversation, ImageUpload, ThinkingStream, UploadError, clip,
                           code_block, code_span, describe_error, load_image_upload, md_escape, no_remote_images)
from agent.ui.ui_config import UIConfig
from agent.ui.grounding_view import ground_upload

log = logging.getLogger("screenact.ui")
CONFIG = UIConfig.from_env()
SCREENS = ["1280x800", "1920x1080", "1024x768", "1440x900"]
CHAT_FLOOR = 256  # an answer gets at least this many tokens before history is left out


# ---------------------------------------------------------------------- settings
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
        profile = _profile(CONFIG.profile)
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
        w, h = self.screen.split("x")
        return int(w), int(h)


def _profile(name: str) -> Profile:
    try:
        return get_profile(name)
    except ValueError:
        return get_profile(None)


def settings() -> Settings:
    st = cl.user_session.get("settings")
    if st is None:
        st = Settings.initial(None)
        cl.user_session.set("settings", st)
    return st


def conversation() -> Conversation:
    conv = cl.user_session.get("conversation")
    if conv is None:
        conv = Conversation(settings().system_prompt)
        cl.user_session.set("conversation", conv)
    return conv


def make_model(st: Settings, *, on_delta: Callable[[str, str], None] | None = None, stream: bool | None = None,
               retries: int = 2) -> OpenAIModel:
    profile = _profile(st.profile)
    file_transport = st.image_transport == "file"
    return OpenAIModel(
        model=st.model or None, base_url=st.base_url or None, api_key=st.server_key,
        stream=st.stream if stream is None else stream,
        on_delta=on_delta, thinking_markers=profile.thinking, connect_timeout=3.0,
        retry=RetryPolicy(max_retries=retries, base_delay=0.3, max_delay=2.0),
        image_transport="file" if file_transport else "data",
        media_dir=CONFIG.media_dir if file_transport else None)


def sampling_profile(st: Settings) -> Profile:
    """The profile with the panel's temperature and top_p for agent mode (grounding keeps its own)."""
    profile = _profile(st.profile)
    agent = replace(profile.agent_sampling, temperature=st.temperature, top_p=st.top_p)
    changes: dict[str, Any] = {"agent_sampling": agent}
    if st.model:
        changes["served_model_name"] = st.model
    return profile.with_(**changes)


async def _server_models(st: Settings) -> tuple[list[str], str | None]:
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
                    description="The server's --max-model-len; history is trimmed to fit it."),
        TextInput(id="system_prompt", label="System prompt (chat)", initial=st.system_prompt, multiline=True),
        Select(id="image_transport", label="Images sent as", values=["data", "file"], initial_value=st.image_transport,
               description=f"data: base64 data URLs (always works). file: file:// URLs under {CONFIG.media_dir} "
                           "(the server needs --allowed-local-media-path covering it)."),
        Select(id="screen", label="Desktop size (typed instructions)", values=SCREENS, initial_value=st.screen),
        Slider(id="max_steps", label="Max agent steps (typed instructions)", initial=st.max_steps, min=1, max=50, step=1),
    ]


MODES = [cl.Mode(id="mode", name="Mode", options=[
    cl.ModeOption(id="chat", name="Chat", description="Ask about images; streamed answers, thinking apart.",
                  icon="message-circle", default=True),
    cl.ModeOption(id="agent", name="Agent", description="Type an instruction or a bundled task id; the model "
                  "operates a fresh sandboxed desktop.", icon="bot"),
    cl.ModeOption(id="grounding", name="Grounding", description="Attach a screenshot and describe an element; "
                  "get the predicted point drawn on it.", icon="crosshair"),
])]


# ---------------------------------------------------------------------- chat start
@cl.on_chat_start
async def on_chat_start() -> None:
    st = Settings.initial(None)
    cl.user_session.set("settings", st)
    models, problem = await _server_models(st)
    if not st.model and len(models) == 1:
        st.model = models[0]
    cl.user_session.set("conversation", Conversation(st.system_prompt))
    await cl.ChatSettings(settings_widgets(st, models)).send()
    await cl.context.emitter.set_modes(MODES)
    try:
        tasks = load_bundled()
        task_problem = None
    except Exception as exc:  # noqa: BLE001 - a broken task file must not break the app
        tasks, task_problem = [], describe_error(exc)
    cl.user_session.set("bundled", {t.id: t for t in tasks})
    lines = [
        "## screenact",
        f"Model server {code_span(st.base_url)} · model {code_span(st.model or '(the server’s only model)')} · "
        f"profile {code_span(st.profile)} — change them under ⚙ settings.",
        "",
        "Pick a **mode** in the composer below:",
        "- **Chat** — ask about an image: attach or paste it, then ask. The model's thinking appears in a "
        "collapsible block above its answer.",
        "- **Agent** — type an instruction: a fresh sandboxed desktop with a terminal opens and the model "
        "operates it. Or type the id of a bundled task, or click one below.",
        "- **Grounding** — attach a screenshot and describe an element; the predicted point comes back drawn on it.",
    ]
    if problem:
        lines += ["", f"⚠ **The model server is not reachable:** {md_escape(problem)}"]
    if task_problem:
        lines += ["", f"⚠ The bundled tasks could not be loaded: {md_escape(task_problem)}"]
    elif tasks:
        lines += ["", f"**Bundled tasks** ({len(tasks)}) — click to run one in Agent mode:"]
    actions = [cl.Action(name="run_task", payload={"id": t.id}, label=t.id, tooltip=clip(t.instruction, 200),
                         icon="play") for t in tasks]
    await cl.Message(content="\n".join(lines), actions=actions).send()


@cl.on_settings_update
async def on_settings_update(values: dict[str, Any]) -> None:
    st = settings()
    old_system, old_url = st.system_prompt, st.base_url
    problems = st.apply(values)
    if st.system_prompt != old_system:
        conversation().system = st.system_prompt
    if problems:
        await cl.ErrorMessage(content="Some settings were not taken: " + md_escape("; ".join(problems))).send()
    if st.base_url != old_url or values.get("api_key"):
        models, problem = await _server_models(st)
        # shown again with an empty key field: a typed key must not ride along with a later URL change
        await cl.ChatSettings(settings_widgets(st, models)).send()
        if problem:
            await cl.ErrorMessage(content=md_escape(problem)).send()
        else:
            await cl.Message(content=f"Connected to {code_span(st.base_url)}; it serves "
                                     f"{', '.join(code_span(m) for m in models) or 'no models'}.").send()


# ---------------------------------------------------------------------- messages
@cl.on_message
async def on_message(message: cl.Message) -> None:
    mode = (getattr(message, "modes", None) or {}).get("mode", "chat")
    try:
        if mode == "agent":
            await agent_turn(message)
        elif mode == "grounding":
            await grounding_turn(message)
        else:
            await chat_turn(message)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence: say what happened, keep the app up
        log.exception("handling a message failed")
        await cl.ErrorMessage(content=f"Something went wrong: {md_escape(describe_error(exc))}").send()


def _uploads(message: cl.Message) -> tuple[list[ImageUpload], list[str]]:
    """The images attached to a message, and a sentence per attachment that could not be used."""
    images, problems = [], []
    for el in message.elements or []:
        path = getattr(el, "path", None)
        name = getattr(el, "name", None) or "upload"
        if not path:
            problems.append(f"{name!r} arrived without its file")
            continue
        try:
            images.append(load_image_upload(path, name))
        except UploadError as exc:
            problems.append(str(exc))
    return images, problems


class DeltaPump:
    """Carries ``on_delta`` callbacks (plain calls inside the event loop) to an async handler, in order."""

    def __init__(self, handler: Callable[[str, str], Awaitable[None]]) -> None:
        self.handler = handler
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task = asyncio.create_task(self._run())

    def push(self, kind: str, text: str) -> None:
        self.queue.put_nowait((kind, text))

    async def _run(self) -> None:
        while True:
            item = await self.queue.get()
            if item is None:
                return
            try:
                await self.handler(*item)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - showing a token must not break the request
                log.exception("showing a streamed piece failed")

    async def close(self) -> None:
        """Show what is queued, then stop (idempotent)."""
        if self.task.done():
            return
        self.queue.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(self.task), timeout=30)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            self.task.cancel()


class ReplyView:
    """A reply on screen: thinking in a collapsible step, the answer in a message below it."""

    def __init__(self, profile: Profile, *, answer: bool = True, parent_id: str | None = None, label: str = "") -> None:
        self.label = label
        self.split = ThinkingStream(profile.thinking)
        self.show_answer = answer
        current = cl.context.current_step
        self.parent_id = parent_id or (current.id if current is not None else None)
        self.step: cl.Step | None = None
        self.msg: cl.Message | None = None
        self.started = time.monotonic()
        self._step_shown = False

    def _new_step(self) -> cl.Step:
        step = cl.Step(name=f"{self.label}Thinking…" if not self.label else f"{self.label}thinking…", type="llm", parent_id=self.parent_id, default_open=True,
                       auto_collapse=True, show_input=False)
        step.start = utc_now()
        return step

    async def delta(self, kind: str, text: str) -> None:
        for part, piece in self.split.feed(kind, text):
            await self._show(part, piece)

    async def _show(self, part: str, piece: str) -> None:
        if part == "thinking":
            if self.step is None:
                self.step = self._new_step()
            await self.step.stream_token(md_escape(piece))
            self._step_shown = True
        elif self.show_answer:
            if self.msg is None:
                self.msg = cl.Message(content="")
            await self.msg.stream_token(no_remote_images(piece, self.msg.content))

    async def finish(self, reply: Reply | None, *, note: str | None = None, elements: list | None = None) -> None:
        """Replace what streamed by the exact split of the final reply and close the blocks."""
        for part, piece in self.split.finish():
            await self._show(part, piece)
        # the reply's own split is exact; what streamed covers reasoning the server sent apart
        thinking = (reply.thinking if reply is not None else None) or self.split.thinking or None
        if thinking:
            if self.step is None:
                self.step = self._new_step()
            self.step.output = md_escape(thinking.strip())
            took = f"{time.monotonic() - self.started:.1f} s"
            self.step.name = f"{self.label}thought for {took}" if self.label else f"Thought for {took}"
            self.step.end = utc_now()
            await (self.step.update() if self._step_shown else self.step.send())
            self._step_shown = True
        elif self.step is not None and self._step_shown:
            await self.step.remove()
            self.step = None
        if not self.show_answer:
            return
        if reply is not None:
            answer = reply.answer
            if not answer and not reply.thinking_complete:
                answer = ("_The reply reached the token limit while still thinking, so there is no answer. "
                          "Raise “Max tokens” (or the context length) in the settings._")
        else:
            answer = self.split.answer
        answer = no_remote_images(answer)
        if note:
            answer = f"{answer}\n\n{note}" if answer else note
        if self.msg is None:
            self.msg = cl.Message(content=answer or "_(empty reply)_", elements=elements or [])
            await self.msg.send()
        else:
            self.msg.content = answer or "_(empty reply)_"
            self.msg.elements = elements or []
            await self.msg.update()


async def chat_turn(message: cl.Message) -> None:
    st = settings()
    conv = conversation()
    images, problems = _uploads(message)
    if problems:
        await cl.ErrorMessage(content="The upload cannot be used: " + md_escape(" ".join(problems))
                              + "\n\nAttach a PNG, JPEG or WebP image (or paste one) and send again.").send()
        return
    text = message.content or ""
    if not text.strip() and not images:
        return
    notes = [f"ℹ {md_escape(img.name)}: {md_escape(img.note)}" for img in images if img.note]
    if images:
        cl.user_session.set("last_image", images[-1])
    profile = _profile(st.profile)
    conv.system = st.system_prompt
    conv.ask(text, images)
    pump: DeltaPump | None = None
    view = ReplyView(profile)
    model = make_model(st)
    try:
        budget = ContextBudget(profile, BudgetSettings(context_len=st.context_len), counter=model)
        fit = await conv.fit(budget, st.max_tokens, floor=min(st.max_tokens, CHAT_FLOOR))
        if fit.trimmed:
            left = []
            if fit.turns_left_out:
                left.append(f"{fit.turns_left_out} earlier turn(s)")
            if fit.images_left_out:
                left.append(f"{fit.images_left_out} earlier image(s)")
            notes.append(f"ℹ {' and '.join(left)} left out to fit the {st.context_len}-token context.")
        sampling: dict[str, Any] = {**profile.agent_sampling.extra, "temperature": st.temperature, "top_p": st.top_p,
                                    "max_tokens": fit.max_tokens}
        if st.stream:
            pump = DeltaPump(view.delta)
            reply = await model.complete(fit.messages, stream=True, on_delta=pump.push, **sampling)
            await pump.close()
            pump = None
        else:
            reply = await model.complete(fit.messages, stream=False, **sampling)
    except ModelError as exc:
        conv.abandon()
        if pump is not None:
            await pump.close()
        if view.step is not None or view.msg is not None:
            await view.finish(None, note=f"⚠ **The reply broke off:** {md_escape(describe_error(exc))}")
        else:
            await cl.ErrorMessage(content=md_escape(describe_error(exc))).send()
        return
    except asyncio.CancelledError:
        conv.abandon()
        if pump is not None:
            await pump.close()
        raise
    finally:
        await model.aclose()
    conv.answer(reply.answer)
    await view.finish(reply, note="\n".join(notes) or None)


# ---------------------------------------------------------------------- grounding
async def grounding_turn(message: cl.Message) -> None:
    st = settings()
    images, problems = _uploads(message)
    if problems:
        await cl.ErrorMessage(content="The upload cannot be used: " + md_escape(" ".join(problems))).send()
        return
    upload = images[-1] if images else cl.user_session.get("last_image")
    if images:
        cl.user_session.set("last_image", images[-1])
    description = (message.content or "").strip()
    if upload is None:
        await cl.Message(content="Attach a screenshot (or paste one) and describe the element to find, "
                                 "e.g. “the Save button”.").send()
        return
    if not description:
        await cl.Message(content=f"Got {md_escape(upload.name)} ({upload.width}×{upload.height}). Now describe the "
                                 "element to find, e.g. “the Save button”.").send()
        return
    profile = _profile(st.profile)
    if st.model:
        profile = profile.with_(served_model_name=st.model)
    view = ReplyView(profile, answer=False)
    pump = DeltaPump(view.delta) if st.stream else None
    model = make_model(st, on_delta=pump.push if pump else None)
    try:
        result = await ground_upload(model, profile, upload, description, context_len=st.context_len)
    except ModelError as exc:
        if pump is not None:
            await pump.close()
        await view.finish(None)
        await cl.ErrorMessage(content=md_escape(describe_error(exc))).send()
        return
    finally:
        if pump is not None:
            await pump.close()
        await model.aclose()
    await view.finish(Reply.build(result.reply, profile.thinking))
    answer = cl.Step(name="Model answer", type="llm", parent_id=view.parent_id, show_input=False)
    answer.output = code_block(clip(result.answer or result.reply or "(empty reply)", 4000))
    answer.start = answer.end = utc_now()
    await answer.send()
    if result.point is not None:
        head = (f"**{md_escape(clip(description, 120))}** → point **({result.point[0]}, {result.point[1]})** "
                f"on the {upload.width}×{upload.height} screenshot")
    else:
        head = f"**No point found** for {md_escape(clip(description, 120))}: {md_escape(result.reason or 'no reason given')}"
    image = cl.Image(name=f"grounding-{Path(upload.name).stem}.png", content=result.image_png, display="inline",
                     size="large", mime="image/png")
    await cl.Message(content=head, elements=[image]).send()


# ---------------------------------------------------------------------- agent
class AgentListener:
    """Shows an agent run: a header with a status line, then per step the model's thinking (streamed,
    collapsible) and a message with the actions and the marked screenshot."""

    def __init__(self, spec: RunSpec) -> None:
        self.spec = spec
        self.header: cl.Message | None = None
        self.status_text = "Starting…"
        self.finished = False
        self.live: dict[int, ReplyView] = {}
        self.steps = 0

    def _header_text(self) -> str:
        kind = "bundled task" if self.spec.checked else "instruction"
        lines = [f"### Agent · {kind} {code_span(self.spec.id)}",
                 f"> {md_escape(self.spec.instruction)}", "",
                 f"{self.spec.width}×{self.spec.height} desktop · up to {self.spec.max_steps} steps · "
                 f"status: {md_escape(self.status_text)}"]
        if not self.finished:
            lines.append("_Stop it with the ■ button in the message box; the steps so far are kept._")
        return "\n".join(lines)

    async def open(self) -> None:
        self.header = cl.Message(content=self._header_text())
        await self.header.send()

    async def status(self, text: str) -> None:
        self.status_text = text
        if self.header is not None:
            self.header.content = self._header_text()
            await self.header.update()

    def _live(self, index: int) -> ReplyView:
        if index not in self.live:
            self.live[index] = ReplyView(_profile(settings().profile), answer=False, label=f"Step {index} · ")
        return self.live[index]

    async def delta(self, index: int, kind: str, text: str) -> None:
        await self._live(index).delta(kind, text)

    async def step(self, v: StepView) -> None:
        view = self._live(v.index)
        self.live.pop(v.index, None)
        self.steps = max(self.steps, v.index)
        await view.finish(Reply.build(v.reply, _profile(settings().profile).thinking) if v.reply else None)
        secs = f" · model {v.model_ms / 1000:.1f} s" if v.model_ms else ""
        acts = ", ".join(code_span(a) for a in v.actions) or "_no action executed_"
        lines = [f"**Step {v.index}** · {acts}{secs}"]
        if v.action_text:
            lines.append(f"**Action:** {md_escape(clip(v.action_text, 400))}")
        if v.thought and view.step is None:
            lines.append(f"**Thought:** {md_escape(clip(v.thought, 1500))}")
        for p in v.problems:
            lines.append(f"⚠ {md_escape(clip(p, 400))}")
        elements = []
        if v.image_png:
            elements.append(cl.Image(name=f"step-{v.index:04d}.png", content=v.image_png, display="inline",
                                     size="large", mime="image/png"))
        await cl.Message(content="\n\n".join(lines), elements=elements).send()

    async def close(self) -> None:
        self.finished = True


def _find_task(text: str) -> Any | None:
    bundled: dict[str, Any] = cl.user_session.get("bundled") or {}
    word = text.strip()
    if word.lower().startswith("task "):
        word = word[5:].strip()
    if word in bundled:
        return bundled[word]
    if " " not in word and word:
        try:  # the suite may have grown since the chat started
            fresh = {t.id: t for t in load_bundled()}
        except Exception:  # noqa: BLE001
            return None
        cl.user_session.set("bundled", fresh)
        return fresh.get(word)
    return None


async def agent_turn(message: cl.Message) -> None:
    text = (message.content or "").strip()
    if message.elements:
        await cl.Message(content="ℹ Agent mode works on its own fresh desktop; the attachment is not used.").send()
    if not text:
        await cl.Message(content="Type an instruction for the agent, or the id of a bundled task.").send()
        return
    task = _find_task(text)
    st = settings()
    if task is not None:
        spec = bundled_spec(task)
    else:
        w, h = st.screen_size
        spec = instruction_spec(text, w, h, st.max_steps)
    await run_and_report(spec)


async def run_and_report(spec: RunSpec) -> None:
    """Run one agent episode in this session and show it; the stop button cancels the calling task."""
    st = settings()
    listener = AgentListener(spec)
    await listener.open()
    cl.user_session.set("agent_task", asyncio.current_task())
    model = make_model(st)
    try:
        result = await run_agent(spec, model, sampling_profile(st), CONFIG.episodes, listener,
                                 model_name=st.model or None, isolate=CONFIG.isolate,
                                 max_sandboxes=CONFIG.max_sandboxes)
    finally:
        cl.user_session.set("agent_task", None)
        await model.aclose()
        await listener.close()
    await listener.status(_status_line(result))
    await report(result)


def _status_line(r: RunResult) -> str:
    if r.cancelled:
        return "stopped"
    if r.outcome is None:
        return "could not run"
    return f"{r.outcome.status} after {r.outcome.steps} steps ({r.seconds:.0f} s)"


async def report(r: RunResult) -> None:
    lines: list[str] = []
    if r.cancelled:
        lines.append(f"■ **Stopped** by you after {len(list(_steps(r.folder)))} recorded step(s).")
    elif r.outcome is None:
        lines.append(f"⚠ **The run could not start.** {md_escape(r.error or '')}")
    else:
        o = r.outcome
        reason = f" — {md_escape(clip(str(o.reason), 500))}" if o.reason else ""
        lines.append(f"**Agent finished: {code_span(o.status)}** after {o.steps} step(s) in {r.seconds:.0f} s{reason}")
        if r.verdict is not None:
            mark = "✓ **PASSED**" if r.verdict.passed else "✗ **FAILED**"
            lines.append(f"Checker verdict: {mark} — {md_escape(clip(r.verdict.reason, 800))}")
        elif r.spec.checked:
            lines.append(f"⚠ Checker verdict: none — {md_escape(r.error or 'the checker did not run')}")
        else:
            lines.append("Checker verdict: none — a typed instruction has no checker"
                         + ("; judge by the last screenshot." if o.steps else "."))
        usage = o.usage or {}
        if usage.get("prompt_tokens") or usage.get("completion_tokens"):
            lines.append(f"Tokens: {usage.get('prompt_tokens', 0)} prompt, {usage.get('completion_tokens', 0)} completion.")
    elements = []
    if r.folder.is_dir():
        lines.append(f"Episode: {code_span(str(r.folder))} — replay it with "
                     f"{code_span('screenact replay ' + str(r.folder) + ' --offline')}")
        for name in ("result.json", "steps.jsonl", "task.json"):
            path = r.folder / name
            if path.exists():
                elements.append(cl.File(name=name, path=str(path), display="inline"))
    msg_cls = cl.ErrorMessage if r.outcome is None and not r.cancelled else cl.Message
    if msg_cls is cl.ErrorMessage:
        await cl.ErrorMessage(content="\n\n".join(lines)).send()
    else:
        await cl.Message(content="\n\n".join(lines), elements=elements).send()


def _steps(folder: Path):
    path = folder / "steps.jsonl"
    if path.exists():
        yield from (line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip())


@cl.action_callback("run_task")
async def on_run_task(action: cl.Action) -> None:
    """Run a bundled task from its button, in the background so that the stop button can cancel it."""
    task_id = str((action.payload or {}).get("id", ""))
    task = _find_task(task_id)
    if task is None:
        await cl.ErrorMessage(content=f"There is no bundled task {code_span(task_id)}.").send()
        return
    running = cl.user_session.get("agent_task")
    if running is not None and not running.done():
        await cl.Message(content="An agent run is already going on in this chat; stop it first.").send()
        return
    session = cl.context.session

    async def background() -> None:
        await cl.context.emitter.task_start()
        try:
            await run_and_report(bundled_spec(task))
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001
            log.exception("agent run failed")
            await cl.ErrorMessage(content=f"Something went wrong: {md_escape(describe_error(exc))}").send()
        finally:
            await cl.context.emitter.task_end()

    # The composer's stop button cancels ``session.current_task``.
    session.current_task = asyncio.create_task(background())


@cl.on_stop
async def on_stop() -> None:
    task = cl.user_session.get("agent_task")
    if task is not None and not task.done():
        task.cancel()
