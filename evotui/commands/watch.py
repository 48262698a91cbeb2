"""`evotui watch` (placeholder until implemented)."""

from __future__ import annotations

import argparse

from evotui.errors import EvotuiError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    raise EvotuiError("not implemented yet")
