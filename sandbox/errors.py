"""Errors raised by the sandbox."""


class SandboxError(RuntimeError):
    """The sandbox cannot do what was asked: a part died, a call timed out, or start-up failed.

    The message names what went wrong (for example ``"Xvfb exited with code -9"``).
    """


class IsolationUnavailable(SandboxError):
    """bubblewrap is missing or cannot create namespaces here, and unisolated running was not allowed."""


class AppExited(SandboxError):
    """An app launched in the sandbox died abnormally (signal or non-zero exit) since the last call."""


class ResourceLimitExceeded(SandboxError):
    """The sandbox hit its memory or process limit (see ``sandbox.Limits``) and was ended; the host and
    other sandboxes are unaffected."""
