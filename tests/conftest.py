"""Shared test setup: the index cache goes to a per-test folder, never the user's own."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_index_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "evotui-cache"
    monkeypatch.setenv("EVOTUI_CACHE_DIR", str(folder))
    return folder
