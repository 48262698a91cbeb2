"""The Trainer callback never stops a training run over its own setup, but a bad data file is
refused before the first update."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tracker.callback import EvolutionCallback
from tracker.data import DataError, TrainingExample
from tracker.tiny import build_tiny_model, build_tokenizer


def _begin(callback: EvolutionCallback) -> None:
    state: Any = SimpleNamespace(max_steps=10, is_world_process_zero=True, global_step=0)
    callback.on_train_begin(
        None,  # type: ignore[arg-type]
        state,
        None,  # type: ignore[arg-type]
        model=build_tiny_model(seed=0),
        processing_class=build_tokenizer(),
    )


def test_a_setup_error_turns_snapshots_off_and_training_goes_on(tmp_path) -> None:
    lines: list[str] = []
    examples = [TrainingExample(1, "1+1?", "1+1?", "2")]
    callback = EvolutionCallback(
        examples, dataset="d", snapshots_dir=tmp_path, schedule="every:0", log=lines.append
    )
    _begin(callback)  # must not raise
    assert callback.tracker is None
    assert any("snapshots are off" in line and "every:0" in line for line in lines)
    assert not (tmp_path / "d").exists()


def test_a_bad_data_file_is_refused_before_the_first_update(tmp_path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text('{"input": "a", "output": "b"}\nnot json\n')
    callback = EvolutionCallback(data, snapshots_dir=tmp_path / "snaps", log=lambda line: None)
    with pytest.raises(DataError, match="bad.jsonl:2"):
        _begin(callback)
