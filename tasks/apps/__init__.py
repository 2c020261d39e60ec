"""Small deterministic Tk applications that tasks run inside the sandbox.

Each runs as ``python -m tasks.apps.NAME --state PATH [--lang zh] [options]`` and rewrites PATH with
its state and the screen boxes of its widgets after every change (see ``tasks.apps._base``).
"""

APPS = ("form", "editor", "todo", "calc", "settings")
"""Names of the bundled apps (module ``tasks.apps.<name>``)."""
