"""The Trainer callback never stops a training run over its own setup, but a bad data file is
refused before the first update."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tracker.callback import EvolutionCallback
from tracker.data import DataError, TrainingExample
from tracker.schedule import ScheduleError
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


def test_a_setup_error_turns_snapshots_off_and_training_goes_on(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tracker.callback

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the tokenizer fell over")

    monkeypatch.setattr(tracker.callback, "tracked_from_file", broken)
    lines: list[str] = []
    examples = [TrainingExample(1, "1+1?", "1+1?", "2")]
    callback = EvolutionCallback(examples, dataset="d", snapshots_dir=tmp_path, log=lines.append)
    _begin(callback)  # must not raise
    assert callback.tracker is None
    assert any("snapshots are off" in line and "fell over" in line for line in lines)
    assert not (tmp_path / "d").exists()


def test_a_bad_setting_is_refused_when_the_callback_is_made_before_any_training() -> None:
    # the same check and line everywhere: tests/test_tracking_config.py
    with pytest.raises(ScheduleError, match="every:0"):
        EvolutionCallback(schedule="every:0")


def test_a_bad_data_file_is_refused_before_the_first_update(tmp_path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text('{"input": "a", "output": "b"}\nnot json\n')
    callback = EvolutionCallback(data, snapshots_dir=tmp_path / "snaps", log=lambda line: None)
    with pytest.raises(DataError, match="bad.jsonl:2"):
        _begin(callback)
