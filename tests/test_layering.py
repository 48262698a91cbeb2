"""The viewer half must start without torch/transformers; the core never imports the UI.

Checked twice: at run time (what really gets imported) and statically by import-linter's
contracts in pyproject.toml (every import, also those inside functions)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Everything `evotui watch|tail|summary|export|versions` imports on its way to the screen.
VIEWER_MODULES = [
    "evotui.cli",
    "evotui.app",
    "evotui.run_screen",
    "evotui.index",
    "evotui.run",
    "evotui.dynamics",
    "evotui.diff",
    "evotui.tail",
    "evotui.versions",
    "evotui.watcher",
    "evotui.widgets.detail",
    "evotui.widgets.help",
    "evotui.widgets.chooser",
    "evotui.widgets.datamap",
    "evotui.widgets.versions",
    "evotui.commands.watch",
    "evotui.commands.demo",
]
# Plain modules: loading, indexing, statistics, diffs. No Textual in them.
CORE_MODULES = [
    "evotui.snapshot",
    "evotui.decode",
    "evotui.parallel",
    "evotui.index",
    "evotui.cache",
    "evotui.export",
    "evotui.run",
    "evotui.dynamics",
    "evotui.diff",
    "evotui.watcher",
    "evotui.demo",
]


def _imported_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_viewer_modules_do_not_import_torch_or_transformers() -> None:
    code = "\n".join(f"import {m}" for m in VIEWER_MODULES)
    loaded = _imported_after(code + "\nfrom evotui.cli import build_parser\nbuild_parser()")
    assert "torch" not in loaded
    assert "transformers" not in loaded
    assert "textual" in loaded  # the check itself ran


def test_core_modules_do_not_import_textual() -> None:
    loaded = _imported_after("\n".join(f"import {m}" for m in CORE_MODULES))
    assert "evotui.dynamics" in loaded  # the check itself ran
    assert not any(name == "textual" or name.startswith("textual.") for name in loaded)


def test_import_linter_contracts_hold() -> None:
    pytest.importorskip("importlinter", reason="import-linter comes with the test extra")
    code = (
        "import sys\n"
        "from importlinter.cli import lint_imports\n"
        "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_reading_worker_starts_without_numpy() -> None:
    """A reading worker (evotui.decode) starts in tens of milliseconds: it needs no numpy."""
    loaded = _imported_after("import evotui.decode")
    assert "msgspec" in loaded  # the check itself ran
    assert "numpy" not in loaded
