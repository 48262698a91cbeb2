"""Errors a user can act on. The CLI prints them as one line (no traceback) and exits with 2."""


class EvotuiError(Exception):
    """A problem worth one clear line to the user: bad input, a missing folder, a refused action."""
