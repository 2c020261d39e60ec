"""The browser front end (``screenact ui``).

On Chainlit (these need the ``ui`` extra): ``app`` holds only the Chainlit handlers; ``run_app.py``
is the file Chainlit loads (it imports ``app``, puts the ``gate`` in front of the server and has
``shutdown`` stop the agent runs before the server stops);
``settings`` (the ⚙ panel's values, the model client they describe), ``streaming`` (a reply shown
while it streams, thinking apart), ``attachments`` (a message's images) and ``modes/`` with one
module per mode: ``chat``, ``grounding``, ``agent``.

No web framework: ``gate`` (which pages may talk to the server; pure ASGI), ``chat`` (uploads, the
thinking/answer split while streaming, a conversation kept within the context budget, Markdown
escaping), ``agent_view`` (running the agent in a fresh sandbox and reporting each step as it is
recorded), ``grounding_view`` (a screenshot + a description → the predicted point drawn on it),
``drawing`` (markers on screenshots) and ``ui_config`` (settings handed from ``screenact ui`` to the app).

The rooms, the gate and the shutdown, with the reasons: ``docs/front-end.md``.
"""
