"""One ``TrackingConfig`` for the four places that track a run: the Trainer callback,
``SnapshotTracker``, ``TrainConfig`` (``evotui train``) and the daemon. Same defaults, keywords
and a config give the same tracker, and a bad value is the same one line wherever it is given.

``TrainConfig(batch_size=)`` is the training batch (as it always was), so there the capture's
batch goes in ``tracking=``."""

from __future__ import annotations

import inspect
import json
from dataclasses import fields, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import tracker.train
from evotui.cli import main
from evotui.errors import EvotuiError
from evotui.layout import SNAPSHOTS_DIR
from tracker.callback import EvolutionCallback
from tracker.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_EXAMPLES,
    SETTINGS,
    TrackingConfig,
    TrackingOverrides,
    tracking_config,
)
from tracker.daemon import DaemonOptions
from tracker.data import TrainingExample
from tracker.loop import SnapshotTracker
from tracker.schedule import Schedule
from tracker.tiny import build_tiny_model, build_tokenizer
from tracker.train import TrainConfig

DEFAULTS = TrackingConfig()
EXAMPLES = [TrainingExample(i + 1, f"{i}+1=", f"{i}+1=", str(i + 1)) for i in range(6)]
GOOD = "".join(json.dumps({"input": f"{i}+1=", "output": str(i + 1)}) + "\n" for i in range(4))
# Every setting away from its default, as keywords.
CHANGED: dict[str, Any] = {
    "dataset": "d",
    "schedule": "every:3",
    "max_examples": 2,
    "seed": 5,
    "batch_size": 4,
    "max_new_tokens": 7,
}
BAD: list[dict[str, Any]] = [
    {"schedule": "every:0"},
    {"schedule": "sometimes"},
    {"max_examples": 0},
    {"max_examples": "3"},
    {"seed": -1},
    {"seed": 2**32},
    {"batch_size": 0},
    {"max_new_tokens": 0},
    {"dataset": "../x"},
    {"dataset": ""},
    {"log": "print"},
]


class FakeTrain:
    """Stands in for ``tracker.train.train``: records the config, writes a model folder."""

    def __init__(self) -> None:
        self.calls: list[TrainConfig] = []

    def __call__(self, config: TrainConfig) -> tracker.train.TrainResult:
        self.calls.append(config)
        out = Path(config.output_dir) if config.output_dir is not None else None
        if out is not None:
            out.mkdir(parents=True)
            (out / "model.safetensors").write_bytes(b"weights")
            (out / "config.json").write_text("{}")
        return tracker.train.TrainResult(
            dataset=str(config.tracking.dataset),
            steps=config.steps,
            snapshot_dir=None,
            final_accuracy=None,
            final_avg_loss=None,
            output_dir=out,
        )


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeTrain:
    fake = FakeTrain()
    monkeypatch.setattr(tracker.train, "train", fake)
    return fake


@pytest.fixture(scope="module")
def model_and_tokenizer() -> tuple[Any, Any]:
    return build_tiny_model(seed=0), build_tokenizer()


def _message(bad: dict[str, Any]) -> str:
    with pytest.raises(EvotuiError) as caught:
        TrackingConfig(**bad)
    return str(caught.value)


def _begin(callback: EvolutionCallback, model: Any, tokenizer: Any) -> None:
    # step 5: a resumed run, so nothing is captured (and written) here
    state: Any = SimpleNamespace(max_steps=10, is_world_process_zero=True, global_step=5)
    args: Any = None
    callback.on_train_begin(args, state, args, model=model, processing_class=tokenizer)


# --- declared once -------------------------------------------------------------------------


def test_the_defaults_are_named_once_in_the_config() -> None:
    assert DEFAULTS.snapshots_dir == SNAPSHOTS_DIR
    assert DEFAULTS.schedule == Schedule()
    assert DEFAULTS.max_examples == DEFAULT_MAX_EXAMPLES
    assert DEFAULTS.batch_size == DEFAULT_BATCH_SIZE
    assert DEFAULTS.dataset is None and DEFAULTS.max_new_tokens is None and DEFAULTS.seed == 0
    # the keyword form names exactly the config's fields
    assert set(TrackingOverrides.__annotations__) == SETTINGS == {f.name for f in fields(DEFAULTS)}


def test_no_place_declares_a_tracking_setting_again() -> None:
    places = {
        "EvolutionCallback": inspect.signature(EvolutionCallback.__init__).parameters,
        "SnapshotTracker": inspect.signature(SnapshotTracker.__init__).parameters,
        # TrainConfig's batch_size is the training batch, not the capture's
        "TrainConfig": {
            name: p
            for name, p in inspect.signature(TrainConfig.__init__).parameters.items()
            if name != "batch_size"
        },
        "DaemonOptions": {f.name: f for f in fields(DaemonOptions)},
    }
    for place, names in places.items():
        assert not SETTINGS & set(names), f"{place} declares {sorted(SETTINGS & set(names))}"


def test_every_place_given_nothing_ends_up_with_the_defaults(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake: FakeTrain,
    model_and_tokenizer: tuple[Any, Any],
) -> None:
    monkeypatch.chdir(tmp_path)  # the default snapshots_dir is relative: keep it in tmp_path
    model, tokenizer = model_and_tokenizer
    data = tmp_path / "a.jsonl"
    data.write_text(GOOD)
    named = replace(DEFAULTS, dataset="a")
    (tmp_path / "b" / "inbox").mkdir(parents=True)
    (tmp_path / "b" / "inbox" / "a.jsonl").write_text(GOOD)

    callback = EvolutionCallback()
    assert callback.config == DEFAULTS
    with_file = EvolutionCallback(data)
    _begin(with_file, model, tokenizer)
    assert with_file.tracker is not None and with_file.tracker.config == named
    assert with_file.tracker.engine.batch_size == DEFAULT_BATCH_SIZE

    tracker_ = SnapshotTracker(model, tokenizer, data)
    assert tracker_.config == named
    assert tracker_.schedule == Schedule()
    assert tracker_.folder == SNAPSHOTS_DIR / "a"

    assert TrainConfig(data).tracking == DEFAULTS
    assert DaemonOptions(base_dir=tmp_path).tracking == DEFAULTS

    # the CLI builds its config once, from flags whose defaults are the config's
    assert main(["train", str(data)]) == 0
    assert fake.calls[-1].tracking == DEFAULTS
    assert main(["daemon", "--base-dir", str(tmp_path / "b"), "--once"]) == 0
    daemon_tracking = fake.calls[-1].tracking
    assert daemon_tracking == replace(
        DEFAULTS, snapshots_dir=tmp_path / "b" / SNAPSHOTS_DIR, dataset="a"
    )


# --- keywords are folded into the config ---------------------------------------------------


def test_keywords_and_a_config_give_the_same_tracker(
    tmp_path: Path, model_and_tokenizer: tuple[Any, Any]
) -> None:
    model, tokenizer = model_and_tokenizer
    settings = {**CHANGED, "snapshots_dir": tmp_path}
    config = TrackingConfig(**settings)

    by_keywords = SnapshotTracker(model, tokenizer, EXAMPLES, **settings)
    by_config = SnapshotTracker(model, tokenizer, EXAMPLES, config=config)
    for made in (by_keywords, by_config):
        assert made.config == config
        assert made.schedule == Schedule(kind="every", every=3)
        assert made.folder == tmp_path / "d"
        assert made.engine.batch_size == 4 and made.engine.max_new_tokens == 7
    assert [t.example_id for t in by_keywords.tracked] == [t.example_id for t in by_config.tracked]
    assert len(by_config.tracked) == 2

    assert EvolutionCallback(**settings).config == EvolutionCallback(config=config).config == config
    trainable = {name: value for name, value in settings.items() if name != "batch_size"}
    assert TrainConfig("x.jsonl", **trainable).tracking == replace(
        config, batch_size=DEFAULT_BATCH_SIZE
    )
    assert TrainConfig("x.jsonl", tracking=config).tracking == config
    # the old spelling of TrainConfig's dataset still works
    assert TrainConfig("x.jsonl", dataset_name="d").tracking.dataset == "d"


def test_a_keyword_given_with_a_config_overrides_that_setting_only(tmp_path: Path) -> None:
    config = TrackingConfig(snapshots_dir=tmp_path, schedule="every:3", seed=5)
    folded = EvolutionCallback(config=config, seed=6).config
    assert folded == replace(config, seed=6)
    assert tracking_config(config) is config  # nothing to fold: the very same config


def test_the_callback_passes_every_setting_to_its_tracker(
    tmp_path: Path, model_and_tokenizer: tuple[Any, Any]
) -> None:
    model, tokenizer = model_and_tokenizer
    config = TrackingConfig(**{**CHANGED, "snapshots_dir": tmp_path})
    callback = EvolutionCallback(EXAMPLES, config=config)
    _begin(callback, model, tokenizer)
    assert callback.tracker is not None and callback.tracker.config == config
    assert len(callback.tracker.tracked) == 2 and callback.tracker.engine.max_new_tokens == 7


def test_the_cli_flags_become_one_config(tmp_path: Path, fake: FakeTrain) -> None:
    data = tmp_path / "a.jsonl"
    data.write_text(GOOD)
    flags = ["--schedule", "every:3", "--max-examples", "2", "--seed", "5"]
    train_flags = ["--snapshots-dir", str(tmp_path / "s"), "--dataset-name", "d"]
    assert main(["train", str(data), *flags, *train_flags]) == 0
    expected = TrackingConfig(
        schedule="every:3", max_examples=2, seed=5, snapshots_dir=tmp_path / "s", dataset="d"
    )
    assert fake.calls[-1].tracking == expected
    (tmp_path / "b" / "inbox").mkdir(parents=True)
    (tmp_path / "b" / "inbox" / "a.jsonl").write_text(GOOD)
    assert main(["daemon", "--base-dir", str(tmp_path / "b"), "--once", *flags]) == 0
    assert fake.calls[-1].tracking == replace(
        expected, snapshots_dir=tmp_path / "b" / SNAPSHOTS_DIR, dataset="a"
    )


# --- one check, one line -------------------------------------------------------------------


@pytest.mark.parametrize("bad", BAD, ids=lambda bad: "{}={!r}".format(*next(iter(bad.items()))))
def test_a_bad_value_is_the_same_one_line_everywhere(bad: dict[str, Any]) -> None:
    message = _message(bad)
    assert message and "\n" not in message
    assert next(iter(bad)) in message  # the line names the setting
    config = TrackingConfig(**CHANGED)
    places = [
        lambda: EvolutionCallback(**bad),
        lambda: EvolutionCallback(config=config, **bad),
        lambda: SnapshotTracker(None, None, EXAMPLES, **bad),
        lambda: tracking_config(None, **bad),
    ]
    if "batch_size" not in bad:  # TrainConfig's own batch_size is the training batch
        places.append(lambda: TrainConfig("x.jsonl", **bad))
    for make in places:
        with pytest.raises(EvotuiError) as caught:
            make()
        assert str(caught.value) == message


@pytest.mark.parametrize(
    "flags",
    [["--schedule", "every:0"], ["--dataset-name", "../x"]],
    ids=["schedule", "dataset-name"],
)
def test_the_cli_gives_the_same_line_before_anything_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fake: FakeTrain, flags: list[str]
) -> None:
    data = tmp_path / "a.jsonl"
    data.write_text(GOOD)
    setting = {"--schedule": "schedule", "--dataset-name": "dataset"}[flags[0]]
    message = _message({setting: flags[1]})
    commands = [["train", str(data), *flags]]
    if setting == "schedule":
        commands.append(["daemon", "--base-dir", str(tmp_path / "b"), "--once", *flags])
    for argv in commands:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err == f"evotui {argv[0]}: error: {message}\n"
    assert not fake.calls
    assert not (tmp_path / "b").exists()  # the daemon refused before making its folders


def test_an_unknown_setting_is_a_type_error_naming_the_place() -> None:
    with pytest.raises(TypeError, match=r"EvolutionCallback\(\) got an unexpected .*'shedule'"):
        EvolutionCallback(shedule="every:3")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"SnapshotTracker\(\) got an unexpected .*'shedule'"):
        SnapshotTracker(None, None, EXAMPLES, shedule="every:3")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"TrainConfig\(\) got an unexpected .*'shedule'"):
        TrainConfig("x.jsonl", shedule="every:3")
    with pytest.raises(TypeError, match="must be a TrackingConfig"):
        EvolutionCallback(config={"schedule": "every:3"})  # type: ignore[arg-type]
