"""The isolated desktop: Xvfb + a window manager + apps + a worker that does all input and capture.

``Sandbox`` is the whole public surface; the host never opens the sandbox's X display itself.
"""

from sandbox.errors import AppExited, IsolationUnavailable, ResourceLimitExceeded, SandboxError
from sandbox.isolation import bwrap_problem
from sandbox.limits import Limits
from sandbox.procs import sandbox_processes
from sandbox.sandbox import ActResult, App, RunResult, Sandbox, Window

__all__ = ["ActResult", "App", "AppExited", "IsolationUnavailable", "Limits", "ResourceLimitExceeded", "RunResult",
           "Sandbox", "SandboxError", "Window", "bwrap_problem", "sandbox_processes"]
