"""Errors a user can fix. The CLI prints them as one sentence and exits with code 2 (no traceback)."""


class UserError(Exception):
    """A mistake in the user's input (paths, flags, config, data) — reported without a traceback."""

    exit_code = 2
