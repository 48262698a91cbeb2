"""The one `evotui` command: bad arguments are one line, not a usage block or a traceback."""

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

    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    seen: list[str | None] = []

    def spy() -> object:
        import os

        seen.append(os.environ.get("OPENBLAS_NUM_THREADS"))
        raise SystemExit(0)

    monkeypatch.setattr(cli, "build_parser", spy)
    with pytest.raises(SystemExit):
        cli.main(["watch", "."])
    assert seen == ["1"]
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    seen.clear()
    with pytest.raises(SystemExit):
        cli.main(["tail", "."])  # the other commands keep the user's environment
    assert seen == [None]
