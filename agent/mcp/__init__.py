"""``screenact mcp``: the sandboxed desktop as a Model Context Protocol server (needs the ``mcp`` extra).

- ``session``: one MCP session's desktop, opened on the first tool call and closed with the session;
  every action goes typed action → transform → policy → sandbox → settle (``agent.execute``).
- ``apps``: the launch allow-list.
- ``view``: screenshots scaled to ``max_side`` and the transform back to screen pixels.
- ``recorder``: each session (each started task) written as an ordinary screenact episode.
- ``server``: the tool definitions on the SDK's FastMCP; ``http``: the HTTP door (token, Origin, Host).
"""
