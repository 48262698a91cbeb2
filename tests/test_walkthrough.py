"""Findings of a newcomer's walk through the README."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracker.train import TrainConfig, train


def test_training_again_into_a_used_snapshot_folder_says_so(tmp_path: Path) -> None:
    # A second `evotui train` on the same file writes into the same folder; the first run's
    # other steps stay there and the viewer/tail mix both runs, so the log must say so.
    data = tmp_path / "my_set.jsonl"
    data.write_text(
        "".join(json.dumps({"input": f"{i}+1=", "output": str(i + 1)}) + "\n" for i in range(4))
    )
    folder = tmp_path / "snaps" / "my_set"
    folder.mkdir(parents=True)
    (folder / "step_000500.json").write_text("{}")
    lines: list[str] = []
    train(
        TrainConfig(
            data,
            steps=1,
            schedule="0",
            snapshots_dir=tmp_path / "snaps",
            progress=False,
            log=lines.append,
        )
    )
    warning = [line for line in lines if "earlier run" in line]
    assert len(warning) == 1 and "1 snapshot(s)" in warning[0], lines


def test_a_fresh_folder_gives_no_such_warning(tmp_path: Path) -> None:
    data = tmp_path / "my_set.jsonl"
    data.write_text(json.dumps({"input": "1+1=", "output": "2"}) + "\n")
    lines: list[str] = []
    train(
        TrainConfig(
            data,
            steps=1,
            schedule="0",
            snapshots_dir=tmp_path / "snaps",
            progress=False,
            log=lines.append,
        )
    )
    assert not [line for line in lines if "earlier run" in line]


def test_a_missing_local_model_folder_is_named_as_such(tmp_path: Path) -> None:
    from evotui.errors import EvotuiError
    from tracker.tiny import load_tokenizer

    with pytest.raises(EvotuiError) as caught:
        load_tokenizer("./no-such-llm")
    assert str(caught.value) == "--model ./no-such-llm: no such folder"
