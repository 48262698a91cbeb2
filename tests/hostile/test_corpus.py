"""The hostile corpus against every command: exit code, one line per bad file, no traceback,
nothing raw reaching the terminal, nothing lost."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import xml.dom.minidom
from pathlib import Path

import pytest
from corpus import (
    BAD_TRAINING,
    ISSUE_11,
    SUMMARY_NOT_USED,
    write_bad_snapshots,
    write_bad_training,
)

from evotui.cli import main
from evotui.text import safe_message
from evotui.versions import VersionStore

RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
ISSUE_11_XFAIL = ()  # the one reader (issue 11) handles these kinds too


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _clean(text: str) -> None:
    assert "Traceback" not in text, text
    assert not RAW_CONTROL.search(text), repr(text)


# -- bad training lines: train and the daemon -------------------------------------------------


@pytest.mark.parametrize("name", sorted(BAD_TRAINING))
def test_train_refuses_each_bad_file_in_one_line(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = write_bad_training(tmp_path / "in")
    path, line = files[name]
    before = path.read_bytes()
    snaps = tmp_path / "snaps"
    rc = main(["train", str(path), "--snapshots-dir", str(snaps), "--no-progress", "--steps", "2"])
    out, err = capsys.readouterr()
    assert rc == 2
    _clean(out + err)
    assert len(_lines(err)) == 1, err
    assert err.startswith("evotui train: error: ")
    if "\x1b" in name:  # the dataset name would be the file's stem: refused as a folder name
        assert "control character" in err, err
    elif line is not None:
        assert f":{line}: " in err, err
    assert path.read_bytes() == before
    assert not snaps.exists() or not any(snaps.rglob("step_*.json"))


def test_daemon_fails_every_bad_inbox_file_with_its_reason_and_loses_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox = tmp_path / "inbox"
    files = write_bad_training(inbox)
    secret = tmp_path / "secret.jsonl"
    secret.write_text(json.dumps({"input": "password", "output": "hunter2"}) + "\n")
    os.symlink(secret, inbox / "link.jsonl")
    hashes = {name: hashlib.sha256(p.read_bytes()).hexdigest() for name, (p, _) in files.items()}
    rc = main(["daemon", "--base-dir", str(tmp_path), "--once", "--steps", "2"])
    out, err = capsys.readouterr()
    assert rc == 0
    _clean(out + err)
    failed_lines = [line for line in _lines(out) if line.startswith("✗ failed")]
    assert len(failed_lines) == len(files) + 1, out
    for name, (_, line) in files.items():
        moved = tmp_path / "failed" / name
        assert hashlib.sha256(moved.read_bytes()).hexdigest() == hashes[name]
        reason = (tmp_path / "failed" / f"{name}.reason.txt").read_text()
        _clean(reason.rstrip("\n"))
        if line is not None:
            assert f"{safe_message(name)}:{line}: " in reason, reason
    assert (tmp_path / "failed" / "link.jsonl").is_symlink()
    assert "symbolic link" in (tmp_path / "failed" / "link.jsonl.reason.txt").read_text()
    assert secret.read_text().startswith('{"input": "password"')
    assert not list(inbox.iterdir())
    assert not [p for p in (tmp_path / "processing").iterdir()]
    assert not any((tmp_path / "data").rglob("*.json"))  # nothing of the link's target copied


# -- bad snapshot files: tail, summary, export, watch -----------------------------------------

SNAPSHOT_KINDS = [
    "truncated",
    "empty",
    "not_object",
    "bad_utf8",
    "deep",
    "huge_number",
    "foreign",
    "directory",
    "null_accuracy",
    "string_avg_loss",
    "symlink_loop",
]


def _one_bad(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    run = tmp_path / "run"
    paths = write_bad_snapshots(run)
    for other, path in paths.items():
        if other != kind:
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink()
    return run, paths[kind]


def _params() -> list[object]:
    return [
        pytest.param(kind, marks=ISSUE_11_XFAIL) if kind in ISSUE_11 else kind
        for kind in SNAPSHOT_KINDS
    ]


@pytest.mark.parametrize("command", ["tail", "summary", "export"])
@pytest.mark.parametrize("kind", _params())
def test_plain_commands_skip_each_bad_snapshot_in_one_line(
    command: str, kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, bad = _one_bad(tmp_path, kind)
    argv = {
        "tail": ["tail", str(run), "--once"],
        "summary": ["summary", str(run)],
        "export": ["export", str(run), "--format", "jsonl"],
    }[command]
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 0
    _clean(out + err)
    about = [line for line in _lines(err) if bad.name in line]
    if kind in SUMMARY_NOT_USED:  # read like any other file: its step is there, no notice
        step = int(bad.stem.removeprefix("step_"))
        assert not about, err
        shown = {
            "tail": f"step {step:>7}  acc",
            "summary": f"3 snapshots, steps 0…{step}",
            "export": f'"training_step":{step},',
        }[command]
        assert shown in out, out
        return
    if kind != "directory":  # a folder named step_*.json may simply be passed over
        assert len(about) == 1, err
    assert all(str(run) not in line or bad.name in line for line in about)
    assert (run / "step_000000.json").is_file()  # nothing removed


def _without_issue_11(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    for kind, path in write_bad_snapshots(run).items():
        if kind in ISSUE_11:
            path.unlink()
    return run


@pytest.mark.parametrize(
    "kind",
    [pytest.param(None, id="every-other-kind-at-once")]
    + [pytest.param(kind, marks=ISSUE_11_XFAIL) for kind in sorted(ISSUE_11)],
)
def test_the_viewer_survives_bad_snapshots(kind: str | None, tmp_path: Path) -> None:
    from evotui.app import EvotuiApp

    run = _without_issue_11(tmp_path) if kind is None else _one_bad(tmp_path, kind)[0]

    async def go() -> tuple[str, int | None]:
        app = EvotuiApp(run)
        async with app.run_test(size=(100, 30)) as pilot:
            for _ in range(200):
                if (
                    app.main.view is not None
                    and app.main.index is not None
                    and not app.main.index.pending()
                ):
                    break
                await pilot.pause(0.02)
            await pilot.pause(0.2)
            await pilot.press("enter")
            await pilot.pause(0.2)
            shot = app.export_screenshot()
            step = app.main.view.step if app.main.view is not None else None
            await pilot.press("escape", "q")
        return shot, step

    shot, step = asyncio.run(go())
    if kind in SUMMARY_NOT_USED:  # a usable file: it is the latest snapshot
        assert step == int(_one_bad(tmp_path / "again", kind)[1].stem.removeprefix("step_"))
    else:
        assert step == 10  # the latest good snapshot is shown
    assert not RAW_CONTROL.search(shot)
    xml.dom.minidom.parseString(shot)  # the screen as SVG is well-formed: nothing raw in it
    assert "\\x1b[2J" in shot


# -- versions: bad version.json and state.json ------------------------------------------------


def _version(store: VersionStore, **meta: object) -> None:
    staging = store.staging_dir()
    (staging / "model").mkdir()
    (staging / "model" / "model.safetensors").write_bytes(b"weights")
    store.commit(staging, {"dataset": "d", "steps": 3, **meta})


def test_versions_list_and_verify_on_bad_version_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = VersionStore(tmp_path, create=True)
    for _ in range(4):
        _version(store)
    (tmp_path / "models" / "v0002" / "version.json").write_text("{truncated")
    meta = json.loads((tmp_path / "models" / "v0003" / "version.json").read_text())
    meta.update(
        steps="many\x1b[2J", final_accuracy="high", final_avg_loss=[1], dataset="d\n\x1b]0;x\x07"
    )
    (tmp_path / "models" / "v0003" / "version.json").write_text(json.dumps(meta))
    (tmp_path / "models" / "v0004" / "version.json").write_text('{"number": 9}')

    assert main(["versions", "--base-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    _clean(out + err)
    assert "v0001" in out and "v0003" in out

    assert main(["versions", "--base-dir", str(tmp_path), "verify"]) == 2
    out, err = capsys.readouterr()
    _clean(out + err)
    assert any(line.startswith("v0002:") for line in _lines(out))
    assert any(line.startswith("v0004:") for line in _lines(out))
    assert len(_lines(err)) == 1


@pytest.mark.parametrize(
    "state",
    [
        '{"pinned": "v0001"}',
        '{"pinned": [1, 2]}',
        '{"last_number": "abc"}',
        '{"last_number": -3}',
        '{"base": 7}',
        "[]",
        "{not json",
    ],
)
@pytest.mark.parametrize("action", [[], ["prune", "--keep", "0"], ["pin", "v0001"]])
def test_a_bad_state_file_is_one_line(
    state: str, action: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = VersionStore(tmp_path, create=True)
    _version(store)
    (tmp_path / "models" / "state.json").write_text(state)
    rc = main(["versions", "--base-dir", str(tmp_path), *action])
    out, err = capsys.readouterr()
    assert rc == 2
    _clean(out + err)
    assert len(_lines(err)) == 1 and "state.json" in err
    assert (tmp_path / "models" / "v0001").is_dir()
