"""The viewer half must start without torch/transformers; the core never imports the UI."""

import subprocess
import sys

VIEWER_MODULES = [
    "evotui.cli",
    "evotui.snapshot",
]


def _imported_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True, text=True, check=True,
    ).stdout
    return set(out.split())


def test_viewer_modules_do_not_import_torch_or_transformers() -> None:
    code = "\n".join(f"import {m}" for m in VIEWER_MODULES) + "\nfrom evotui.cli import build_parser\nbuild_parser()"
    loaded = _imported_after(code)
    assert "torch" not in loaded
    assert "transformers" not in loaded


def test_snapshot_core_does_not_import_textual() -> None:
    loaded = _imported_after("import evotui.snapshot")
    assert not any(name == "textual" or name.startswith("textual.") for name in loaded)
