"""A server shutdown (SIGTERM or SIGINT to ``screenact ui``) stops the running agent episodes first.

Uvicorn closes the listening socket and the browsers' connections, then sends the app the ASGI
``lifespan.shutdown`` message. :class:`BeforeShutdown` runs a callback when that message arrives,
before the app's own shutdown: the agent runs are cancelled and waited for, so their desktops close
and their episodes end as cancelled, instead of being cut off when the process exits.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

Message = dict[str, Any]


class BeforeShutdown:
    """ASGI middleware that awaits ``callback`` when the server announces its shutdown."""

    def __init__(self, app: Callable[..., Awaitable[None]], callback: Callable[[], Awaitable[None]]) -> None:
        self.app = app
        self.callback = callback

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def announced() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await self.callback()
            return message

        await self.app(scope, announced, send)


def install_on_chainlit(callback: Callable[[], Awaitable[None]]) -> None:
    """Run ``callback`` at the start of Chainlit's server shutdown (install before it starts)."""
    from chainlit.server import app

    app.add_middleware(BeforeShutdown, callback=callback)
