"""The browser front end (``screenact ui``).

``app`` is the Chainlit app (``run_app.py`` is the file Chainlit loads; it only imports ``app``).
The rest imports no web framework: ``chat`` (uploads, the thinking/answer split while streaming, a
conversation kept within the context budget, Markdown escaping), ``agent_view`` (running the agent
in a fresh sandbox and reporting each step as it is recorded), ``grounding_view`` (a screenshot +
a description → the predicted point drawn on it), ``drawing`` (markers on screenshots) and
``ui_config`` (settings handed from ``screenact ui`` to the app). Only ``app`` needs the ``ui`` extra.
"""
