"""Errors of the agent layer that the CLI turns into messages and exit codes."""


class UsageError(Exception):
    """Bad input from the user (a flag, a file, a dataset): exit code 2 with a message naming what is wrong."""
