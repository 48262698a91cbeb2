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
