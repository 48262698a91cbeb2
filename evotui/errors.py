"""Errors a user can act on. The CLI prints them as one line (no traceback) and exits with 2."""

from __future__ import annotations

import importlib.util

# What `pip install evotui` leaves out: the training half (tracker/) needs these.
TRAINING_MODULES = ("torch", "transformers", "accelerate")
TRAIN_EXTRA_HINT = "pip install 'evotui[train]'"


class EvotuiError(Exception):
    """A problem worth one clear line to the user: bad input, a missing folder, a refused action."""


def require_training_extra(command: str) -> None:
    """One line naming the pip command when the ``train`` extra is missing (``evotui train``,
    ``demo`` and ``daemon`` need torch; the viewer and the plain commands do not)."""
    missing = []
    for name in TRAINING_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    if missing:
        raise EvotuiError(
            f"`evotui {command}` trains a model and needs {', '.join(missing)}, which "
            f"`pip install evotui` leaves out: {TRAIN_EXTRA_HINT}"
        )
