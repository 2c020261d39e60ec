"""The file ``chainlit run`` loads (``screenact ui`` points it here).

Chainlit executes its target by path under a module name that is not in ``sys.modules``, which
breaks dataclasses and relative lookups; so the app lives in the importable ``agent.ui.app`` and
this file only imports it (importing registers the Chainlit handlers), serves the live view, puts the
gate in front of both and has a shutdown stop the agent runs first (Chainlit loads this file before it
serves).
"""

import asyncio

import agent.ui.app  # noqa: F401
from agent.ui import desktops, gate, live, shutdown
from agent.ui.modes.agent import stop_all_runs
from agent.ui.settings import CONFIG, SCREENS


async def _before_shutdown() -> None:
    await stop_all_runs()
    await asyncio.to_thread(desktops.close)  # the warm desktops no run took


desktops.start(tuple(int(v) for v in SCREENS[0].split("x")), CONFIG.pool, CONFIG.isolate)
shutdown.install_on_chainlit(_before_shutdown)
live.install_on_chainlit()  # inside the gate: the live view passes the same door
gate.install_on_chainlit(gate.Gate.for_bind(CONFIG.host, CONFIG.port, CONFIG.allow_origins, CONFIG.token))
