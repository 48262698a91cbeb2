"""The viewer never imports torch/transformers; its plain modules never import Textual."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_viewer_does_not_import_torch() -> None:
    loaded = _modules_after(
        "import evotui.app, evotui.widgets.detail, evotui.widgets.help, evotui.widgets.chooser\n"
        "import evotui.commands.watch, evotui.commands.demo"
    )
    assert "torch" not in loaded and "transformers" not in loaded
    assert "textual" in loaded


def test_plain_modules_do_not_import_textual() -> None:
    loaded = _modules_after("import evotui.index, evotui.diff, evotui.watcher, evotui.demo")
    assert not any(name == "textual" or name.startswith("textual.") for name in loaded)
    assert "torch" not in loaded
