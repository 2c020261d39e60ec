"""The file ``chainlit run`` loads (``screenact ui`` points it here).

Chainlit executes its target by path under a module name that is not in ``sys.modules``, which
breaks dataclasses and relative lookups; so the app lives in the importable ``agent.ui.app`` and
this file only imports it (importing registers the Chainlit handlers).
"""

import agent.ui.app  # noqa: F401
