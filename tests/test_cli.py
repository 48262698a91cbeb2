"""The one `evotui` command: bad arguments are one line, not a usage block or a traceback."""

import subprocess
import sys

import pytest

from evotui.cli import main


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["train", "x.jsonl", "--steps", "abc"], "--steps"),
        (["bogus"], "invalid choice"),
        (["tail"], "required"),
    ],
)
def test_argument_errors_are_one_line(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and "usage:" not in err


def test_a_user_error_is_one_line_with_exit_2(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evotui summary: error: ") and err.count("\n") == 1


def test_watch_sets_the_viewers_numpy_settings_before_anything_imports_numpy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Building the parser imports the commands' modules, and some import numpy: the viewer's
    one-BLAS-thread setting only counts if it is in the environment before that."""
    import evotui.cli as cli

    # Set first so that the test's end restores the variable's absence (a delenv of an unset
    # variable records nothing to undo, and watch sets it).
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    seen: list[str | None] = []

    def spy(only: str | None = None) -> object:
        import os

        seen.append(os.environ.get("OPENBLAS_NUM_THREADS"))
        raise SystemExit(0)

    monkeypatch.setattr(cli, "build_parser", spy)
    with pytest.raises(SystemExit):
        cli.main(["watch", "."])
    assert seen == ["1"]
    # Set first so that the test's end restores the variable's absence (a delenv of an unset
    # variable records nothing to undo, and watch sets it).
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    seen.clear()
    with pytest.raises(SystemExit):
        cli.main(["tail", "."])  # the other commands keep the user's environment
    assert seen == [None]


def test_a_command_imports_only_its_own_module() -> None:
    """`evotui watch` does not pay for the other commands' imports; `evotui --help` still lists
    every command."""
    code = (
        "import sys\nfrom evotui.cli import main\n"
        "try:\n    main(['watch', '--help'])\nexcept SystemExit:\n    pass\n"
        "names = [m for m in sys.modules if m.startswith(('evotui.commands.', 'tracker'))]\n"
        "print('\\n'.join(names), file=sys.stderr)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stderr.split()
    assert "evotui.commands.watch" in out
    assert not [m for m in out if m != "evotui.commands.watch"], out
    listing = subprocess.run(
        [sys.executable, "-m", "evotui", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert all(name in listing for name in ("demo", "watch", "tail", "summary", "versions"))
