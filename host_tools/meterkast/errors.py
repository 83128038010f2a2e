"""Errors the CLI reports as one line (exit status 2) instead of a traceback."""


class CliError(Exception):
    """A user error: bad option, bad SPEC, unreadable file, port in use."""
