"""The MCP tools, on the official SDK's FastMCP: what a client sees of screenact's desktop.

Every tool works on the calling session's :class:`~agent.mcp.session.McpSession` (the lifespan
context: the SDK enters it once per MCP session, so each session gets its own desktop, opened on its
first tool call and closed when the session ends). A refused or failed call raises, which the SDK
turns into a tool result with ``isError`` and the message; nothing a client sends ends the server.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, Literal

import anyio
from mcp.server.fastmcp import Context, FastMCP
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import ContentBlock, ImageContent, TextContent
from pydantic import Field

from agent.mcp.session import Desk, McpConfig, McpSession, Shot, ToolFailure
from tools.actions import Click, Drag, Key, Move, Scroll, TypeText, Wait
from tools.keys import key_hint

log = logging.getLogger("screenact.mcp")

INSTRUCTIONS = """\
A Linux desktop in a sandbox (X11, no network). Look with `screenshot`, act with click / move / drag /
scroll / type / key / wait; each action returns the screen after it has settled unless screenshot=false.
Coordinates are pixels of the screenshots this session gets: full screen pixels by default, or of the
scaled image after screenshot(max_side=N). `launch` starts an allowed app; `list_tasks`, `start_task`
and `check_task` run screenact's benchmark tasks (start_task gives a fresh desktop with the task set up).
"""

Coord = Annotated[float, Field(description="pixels of the latest screenshot (x from the left, y from the top)")]
WithShot = Annotated[bool, Field(description="return the settled screen after the action (false: faster, "
                                             "no image)")]


def content(text: str, shot: Shot | None = None) -> list[ContentBlock]:
    """A tool result: the text, then the screenshot as PNG image content."""
    blocks: list[ContentBlock] = [TextContent(type="text", text=text)]
    if shot is not None:
        blocks.append(TextContent(type="text", text=shot.caption()))
        blocks.append(ImageContent(type="image", data=base64.b64encode(shot.png).decode("ascii"),
                                   mimeType="image/png"))
    return blocks


def _session(ctx: Context) -> McpSession:
    return ctx.request_context.lifespan_context


def _guarded(fn: Callable[..., Awaitable[list[ContentBlock]]]) -> Callable[..., Awaitable[list[ContentBlock]]]:
    """Refusals pass as they are; anything unexpected is logged and reported as a tool error."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> list[ContentBlock]:
        try:
            return await fn(*args, **kwargs)
        except ToolFailure:
            raise
        except ValueError as exc:  # an action the models refuse (pydantic): the client's argument
            raise ToolFailure(str(exc).replace("\n", "; ")) from None
        except Exception as exc:
            log.exception("tool %s failed", fn.__name__)
            raise ToolFailure(f"internal error ({type(exc).__name__}: {exc})") from None

    return wrapper


async def _act(ctx: Context, action: Any, screenshot: bool) -> list[ContentBlock]:
    from tools.actions import describe

    shot = await _session(ctx).act(action, screenshot)
    return content(f"done: {describe(action)}", shot)


def build_server(config: McpConfig, shared: Desk | None = None, **http: Any) -> FastMCP:
    """The FastMCP server; ``shared`` is the one desk every session uses (``--shared``), ``http`` the
    SDK's HTTP settings (host, port)."""

    @contextlib.asynccontextmanager
    async def lifespan(_server: FastMCP) -> AsyncIterator[McpSession]:
        session = McpSession(config, shared)
        log.info("session %s started", session.id)
        try:
            yield session
        finally:
            with anyio.CancelScope(shield=True):  # an HTTP session ends by cancellation: still close
                await session.close()
            log.info("session %s ended", session.id)

    server = FastMCP("screenact", instructions=INSTRUCTIONS, lifespan=lifespan,
                     transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False), **http)
    _add_screen_tools(server, config)
    _add_app_tools(server)
    _add_task_tools(server)
    return server


def _tool(server: FastMCP, name: str, description: str) -> Callable[[Callable[..., Any]], Any]:
    def register(fn: Callable[..., Any]) -> Any:
        return server.tool(name=name, description=description, structured_output=False)(_guarded(fn))

    return register


def _add_screen_tools(server: FastMCP, config: McpConfig) -> None:
    @_tool(server, "screenshot", "The screen now, as a PNG image, its size in the text. max_side scales it "
           "down (aspect kept) so its longer side is at most max_side pixels; from then on this session's "
           "pointer coordinates are pixels of images of that size, mapped back to the screen by screenact.")
    async def screenshot(ctx: Context, max_side: Annotated[int | None, Field(ge=64, le=8192)] = None):
        shot = await _session(ctx).screenshot(max_side)
        return content("the screen now", shot)

    @_tool(server, "click", "Click at (x, y): button left/right/middle, clicks 1-3 (2 = double click).")
    async def click(ctx: Context, x: Coord, y: Coord, button: Literal["left", "right", "middle"] = "left",
                    clicks: Annotated[int, Field(ge=1, le=3)] = 1, screenshot: WithShot = True):
        return await _act(ctx, Click(x=x, y=y, button=button, clicks=clicks), screenshot)

    @_tool(server, "move", "Move the pointer to (x, y) without pressing anything (hover).")
    async def move(ctx: Context, x: Coord, y: Coord, screenshot: WithShot = True):
        return await _act(ctx, Move(x=x, y=y), screenshot)

    @_tool(server, "drag", "Press the button at (x1, y1), move to (x2, y2), release.")
    async def drag(ctx: Context, x1: Coord, y1: Coord, x2: Coord, y2: Coord,
                   button: Literal["left", "right", "middle"] = "left", screenshot: WithShot = True):
        return await _act(ctx, Drag(x1=x1, y1=y1, x2=x2, y2=y2, button=button), screenshot)

    @_tool(server, "scroll", "Scroll by wheel clicks: dy > 0 up, dy < 0 down, dx > 0 right; at (x, y) if given "
           "(both or neither).")
    async def scroll(ctx: Context, dx: int = 0, dy: int = 0, x: Coord | None = None, y: Coord | None = None,
                     screenshot: WithShot = True):
        return await _act(ctx, Scroll(dx=dx, dy=dy, x=x, y=y), screenshot)

    @_tool(server, "type", "Type text exactly as given: any Unicode (accents, CJK), newlines and tabs included.")
    async def type_text(ctx: Context, text: str, screenshot: WithShot = True):
        return await _act(ctx, TypeText(text=text), screenshot)

    @_tool(server, "key", 'Press a key or a combination together: ["enter"], ["ctrl", "s"] or "ctrl+shift+t"; '
           f"{key_hint()}.")
    async def key(ctx: Context, keys: list[str] | str, screenshot: WithShot = True):
        return await _act(ctx, Key(keys=keys), screenshot)

    @_tool(server, "wait", f"Wait for the screen to change (seconds, at most {config.max_wait:g}).")
    async def wait(ctx: Context, seconds: Annotated[float, Field(ge=0)] = 1.0, screenshot: WithShot = True):
        capped = min(seconds, config.max_wait)
        result = await _act(ctx, Wait(seconds=capped), screenshot)
        if capped < seconds:
            result.insert(0, TextContent(type="text", text=f"waited {capped:g} s, the most one call may wait"))
        return result


def _add_app_tools(server: FastMCP) -> None:
    @_tool(server, "windows", "The top-level windows: title and box (x, y, width, height) in the pixels of the "
           "latest screenshot.")
    async def windows(ctx: Context):
        return content(json.dumps(await _session(ctx).windows(), ensure_ascii=False))

    @_tool(server, "launch", 'Start an app from the server\'s allow-list: argv is its name and arguments, e.g. '
           '["xterm"] or ["todo"]. Returns what started and the screen once it shows.')
    async def launch(ctx: Context, argv: list[str]):
        text, shot = await _session(ctx).launch(argv)
        return content(text, shot)


def _add_task_tools(server: FastMCP) -> None:
    @_tool(server, "list_tasks", "The benchmark tasks start_task can run: id, instruction, screen size, tags.")
    async def list_tasks(ctx: Context):
        return content(json.dumps(_session(ctx).list_tasks(), ensure_ascii=False))

    @_tool(server, "start_task", "Start a task: a fresh desktop of its size with its setup done. Returns the "
           "instruction and the screen. Then act, and call check_task when finished.")
    async def start_task(ctx: Context, id: str):
        task, shot = await _session(ctx).start_task(id)
        return content(f"task {task.id}: {task.instruction}", shot)

    @_tool(server, "check_task", "Judge the started task now: passed or not, and why. answer: a final answer "
           "if the task asks for one. gave_up: true when you find the task impossible (such tasks pass only so).")
    async def check_task(ctx: Context, answer: str | None = None, gave_up: bool = False):
        verdict = await _session(ctx).check_task(answer, gave_up)
        return content(json.dumps({"passed": verdict.passed, "reason": verdict.reason}, ensure_ascii=False))
