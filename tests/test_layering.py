"""The viewer half must start without torch/transformers; the core never imports the UI."""

import subprocess
import sys

# Everything `evotui watch|tail|summary|export|versions` imports on its way to the screen.
VIEWER_MODULES = [
    "evotui.cli",
    "evotui.app",
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
    "evotui.index",
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
