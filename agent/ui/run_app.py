"""The file ``chainlit run`` loads (``screenact ui`` points it here).

Chainlit executes its target by path under a module name that is not in ``sys.modules``, which
breaks dataclasses and relative lookups; so the app lives in the importable ``agent.ui.app`` and
this file only imports it (importing registers the Chainlit handlers) and puts the gate in front
of the server (Chainlit loads this file before it starts serving).
"""

import agent.ui.app  # noqa: F401
from agent.ui.gate import Gate, install_on_chainlit
from agent.ui.settings import CONFIG

install_on_chainlit(Gate.for_bind(CONFIG.host, CONFIG.port, CONFIG.allow_origins, CONFIG.token))
