"""`pip install evotui` gives the viewer and the plain commands; torch, transformers and accelerate
come with the ``train`` extra. Without it, `evotui train`, `demo` and `daemon` say so in one line
naming the pip command (the missing import is simulated: the shared venv keeps torch)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from evotui.cli import main
from evotui.demo import write_synthetic_run

ROOT = Path(__file__).resolve().parent.parent


def test_torch_is_an_extra_not_a_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"])
    for name in ("torch", "transformers", "accelerate"):
        assert name not in base
        assert any(dep.startswith(name) for dep in project["optional-dependencies"]["train"])
    assert '".[train,test]"' in (ROOT / "scripts" / "setup.sh").read_text()


@pytest.mark.parametrize(
    "argv",
    [["train", "data.jsonl"], ["demo", "--dir", "."], ["daemon", "--base-dir", ".", "--once"]],
    ids=["train", "demo", "daemon"],
)
@pytest.mark.parametrize("missing", ["torch", "transformers", "accelerate"])
def test_a_missing_training_extra_is_one_line(
    argv: list[str],
    missing: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.jsonl").write_text('{"input": "1+1", "output": "2"}\n')
    monkeypatch.setitem(sys.modules, missing, None)  # what `import torch` sees when not installed
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"evotui {argv[0]}: error: ") and missing in err
    assert "pip install 'evotui[train]'" in err
    assert not list(tmp_path.glob("data/evolution_snapshots/*"))  # nothing started


def test_viewer_and_plain_commands_run_without_torch(tmp_path: Path) -> None:
    folder = tmp_path / "arith"
    write_synthetic_run(folder, [0, 10], 4, total_steps=10)
    blocked = (
        "import sys\n"
        "for name in ('torch', 'transformers', 'accelerate'):\n"
        "    sys.modules[name] = None\n"
        "from evotui.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    for argv in (
        ["summary", str(folder)],
        ["export", str(folder)],
        ["tail", str(folder), "--once"],
    ):
        done = subprocess.run(
            [sys.executable, "-c", blocked, *argv], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
