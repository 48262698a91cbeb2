"""`evotui train` end to end: learning, the snapshot set, bit-identical weights, refusals."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerControl, TrainerState, TrainingArguments

from evotui.cli import main
from evotui.snapshot import read_snapshot, snapshot_files
from tracker.callback import EvolutionCallback
from tracker.tiny import build_tiny_model, build_tokenizer, save_tiny
from tracker.train import TrainConfig, train


def arithmetic_file(path: Path, count: int = 40, seed: int = 1) -> Path:
    rng = random.Random(seed)
    pairs: list[tuple[int, int]] = []
    while len(pairs) < count:
        pair = (rng.randint(0, 9), rng.randint(0, 9))
        if pair not in pairs:
            pairs.append(pair)
    rows = [{"input": f"What is {a}+{b}?", "output": str(a + b)} for a, b in pairs]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.mark.slow
def test_train_300_steps_learns_and_writes_the_schedule(tmp_path: Path, capsys) -> None:
    data = arithmetic_file(tmp_path / "arith.jsonl")
    snaps, out = tmp_path / "D", tmp_path / "M"
    code = main(
        [
            "train",
            str(data),
            "--steps",
            "300",
            "--seed",
            "0",
            "--no-progress",
            "--snapshots-dir",
            str(snaps),
            "--output-dir",
            str(out),
        ]
    )
    assert code == 0
    folder = snaps / "arith"
    assert [step for step, _ in snapshot_files(folder)] == [0, 10, 25, 50, 100, 250, 300]
    assert sorted(p.name for p in folder.iterdir()) == [
        f"step_{s:06d}.json" for s in (0, 10, 25, 50, 100, 250, 300)
    ]  # nothing else: no temp files left behind
    snapshots = [read_snapshot(path) for _, path in snapshot_files(folder)]
    order = [[e.example_id for e in s.examples] for s in snapshots]
    assert all(ids == list(range(40)) for ids in order)
    assert all(
        [e.input for e in s.examples] == [e.input for e in snapshots[0].examples] for s in snapshots
    )
    for snap in snapshots:
        losses = [e.loss for e in snap.examples]
        assert snap.summary["avg_loss"] == pytest.approx(sum(losses) / len(losses))
        assert snap.accuracy == sum(e.exact_match for e in snap.examples) / 40
    base, final = snapshots[0], snapshots[-1]
    assert final.accuracy > base.accuracy
    assert final.accuracy >= 0.5  # most answers right, not just "better than nothing"
    assert final.avg_loss <= base.avg_loss / 2
    assert (out / "model.safetensors").is_file() and (out / "tokenizer_config.json").is_file()
    printed = capsys.readouterr().out
    assert "📸 Capturing evolution snapshot at step 250" in printed
    assert "✓ Snapshot saved: step_000300.json" in printed


@pytest.mark.slow
def test_weights_are_bit_identical_with_and_without_tracking(tmp_path: Path) -> None:
    # Dropout on, and a schedule that captures often: every capture would shift the dropout
    # masks and the data order if it touched the RNG streams.
    model_dir = save_tiny(
        tmp_path / "tiny_dropout", seed=2, resid_pdrop=0.1, attn_pdrop=0.1, embd_pdrop=0.1
    )
    data = arithmetic_file(tmp_path / "arith.jsonl", count=20)
    weights = []
    for track in (True, False):
        out = tmp_path / f"out_{track}"
        result = train(
            TrainConfig(
                data_path=data,
                model=str(model_dir),
                steps=24,
                seed=3,
                snapshots_dir=tmp_path / "s",
                output_dir=out,
                schedule="every:3",
                track=track,
                learning_rate=1e-3,
                batch_size=8,
                progress=False,
                log=lambda line: None,
            )
        )
        assert result.steps == 24
        assert (result.snapshot_dir is not None) == track
        weights.append(load_file(out / "model.safetensors"))
    tracked, plain = weights
    assert tracked.keys() == plain.keys()
    assert all(torch.equal(tracked[name], plain[name]) for name in tracked)
    assert len(snapshot_files(tmp_path / "s" / "arith")) == 9  # 0, 3, ..., 24
    # And training did change the weights (so the comparison means something).
    fresh = build_tiny_model(seed=2)
    assert not torch.equal(
        fresh.state_dict()["transformer.wte.weight"], tracked["transformer.wte.weight"]
    )


@pytest.mark.slow
def test_chat_data_trains_with_the_template(tmp_path: Path) -> None:
    data = tmp_path / "chat.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"echo {i}"},
                {"role": "assistant", "content": str(i)},
            ]
        }
        for i in range(6)
    ]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = train(
        TrainConfig(
            data,
            steps=3,
            snapshots_dir=tmp_path / "s",
            progress=False,
            log=lambda line: None,
            max_examples=4,
        )
    )
    assert result.final_accuracy is not None and result.snapshots_written == 2
    snap = read_snapshot(tmp_path / "s" / "chat" / "step_000003.json")
    assert [e.input for e in snap.examples] == [
        rows[e.example_id]["messages"][0]["content"] for e in snap.examples
    ]
    assert len(snap.examples) == 4


def test_bad_data_is_one_line_exit_2_and_nothing_trained(tmp_path: Path, capsys) -> None:
    data = tmp_path / "broken.jsonl"
    data.write_text('{"input": "a", "output": "b"}\n{"input": "a", "oops": 1}\n')
    code = main(
        [
            "train",
            str(data),
            "--snapshots-dir",
            str(tmp_path / "s"),
            "--output-dir",
            str(tmp_path / "m"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == f"evotui train: error: {data}:2: missing 'output'"
    assert not (tmp_path / "s").exists() and not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("content", "args", "problem"),
    [
        ("", [], "no training examples"),
        ('{"input": "a", "output": "b"}\n', ["--schedule", "often"], "schedule 'often'"),
    ],
)
def test_other_refusals_are_one_line(tmp_path: Path, capsys, content, args, problem) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text(content)
    assert main(["train", str(data), "--snapshots-dir", str(tmp_path / "s"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert problem in err and "\n" not in err
    assert not (tmp_path / "s").exists()
    assert main(["train", str(tmp_path / "absent.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_resumed_run_keeps_baseline_and_example_order(tmp_path: Path) -> None:
    data = arithmetic_file(tmp_path / "arith.jsonl", count=30)
    model, tokenizer = build_tiny_model(seed=0), build_tokenizer()
    args = TrainingArguments(output_dir=str(tmp_path / "t"), report_to="none")

    def run(global_step: int) -> EvolutionCallback:
        callback = EvolutionCallback(
            data,
            tokenizer=tokenizer,
            snapshots_dir=tmp_path / "s",
            max_examples=10,
            seed=4,
            log=lambda line: None,
        )
        state = TrainerState(global_step=global_step, max_steps=60)
        callback.on_train_begin(args, state, TrainerControl(), model=model)
        return callback

    first = run(0)
    assert [s for s, _ in snapshot_files(tmp_path / "s" / "arith")] == [0]
    baseline = (tmp_path / "s" / "arith" / "step_000000.json").read_bytes()
    resumed = run(30)  # as if resumed from a checkpoint at step 30
    assert (tmp_path / "s" / "arith" / "step_000000.json").read_bytes() == baseline
    assert resumed.tracker is not None and first.tracker is not None
    assert resumed.tracker.tracked == first.tracker.tracked
    state = TrainerState(global_step=50, max_steps=60)
    resumed.on_step_end(args, state, TrainerControl(), model=model)
    state.global_step = 60
    resumed.on_train_end(args, state, TrainerControl(), model=model)
    steps = [s for s, _ in snapshot_files(tmp_path / "s" / "arith")]
    assert steps == [0, 50, 60]
    final = read_snapshot(tmp_path / "s" / "arith" / "step_000060.json")
    ids = [e.example_id for e in final.examples]
    assert ids == [t.example_id for t in first.tracker.tracked] and len(ids) == 10


def test_refusals_before_training_are_one_line(tmp_path: Path, capsys) -> None:
    data = arithmetic_file(tmp_path / "arith.jsonl", count=4)
    (tmp_path / "afile").write_text("")
    cases = [
        ([str(tmp_path)], "is a directory"),
        ([str(data), "--output-dir", str(tmp_path / "afile")], "cannot use as --output-dir"),
    ]
    for args, problem in cases:
        assert main(["train", *args, "--snapshots-dir", str(tmp_path / "s")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert problem in err[-1] and "Traceback" not in "".join(err)
        assert not (tmp_path / "s").exists()  # nothing captured, nothing trained
    with pytest.raises(SystemExit) as exit_info:  # argparse refuses it: usage + one error line
        main(["train", str(data), "--seed", "-1", "--snapshots-dir", str(tmp_path / "s")])
    assert exit_info.value.code == 2
    assert "argument --seed" in capsys.readouterr().err.strip().splitlines()[-1]


def test_log_is_one_readable_line_per_entry_and_long_examples_are_reported(
    tmp_path: Path, capsys
) -> None:
    data = tmp_path / "mixed.jsonl"
    rows = [{"input": f"{i}+1", "output": str(i + 1)} for i in range(3)]
    rows.append({"input": "x" * 400, "output": "y"})
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    lines: list[str] = []
    result = train(
        TrainConfig(data, steps=4, snapshots_dir=tmp_path / "s", progress=False, log=lines.append)
    )
    printed = capsys.readouterr()
    assert "{'" not in printed.out + printed.err  # no raw Trainer dicts (PrinterCallback)
    assert "sequence length is longer" not in printed.out + printed.err
    assert any(line.startswith("   step 2/4  loss ") and " lr " in line for line in lines)
    assert any(line.startswith("⚠ 1 example(s) longer than") and "line 4" in line for line in lines)
    assert result.snapshots_written == 2


@pytest.mark.slow
def test_real_trainer_checkpoint_resume_keeps_baseline_and_examples(tmp_path: Path) -> None:
    from transformers import Trainer

    from tracker.data import load_examples
    from tracker.train import _ExampleDataset, _PadCollator, tokenize_examples

    data = arithmetic_file(tmp_path / "arith.jsonl", count=20)
    tokenizer = build_tokenizer()
    rows = tokenize_examples(load_examples(data, tokenizer), tokenizer, 256)
    snaps = tmp_path / "s" / "arith"

    def run(resume: str | None) -> tuple[EvolutionCallback, list[str]]:
        lines: list[str] = []
        args = TrainingArguments(
            output_dir=str(tmp_path / "ck"),
            max_steps=8,
            save_strategy="steps",
            save_steps=4,
            per_device_train_batch_size=4,
            report_to="none",
            use_cpu=True,
            disable_tqdm=True,
            logging_steps=100,
        )
        callback = EvolutionCallback(
            data,
            tokenizer=tokenizer,
            snapshots_dir=tmp_path / "s",
            schedule="every:2",
            max_examples=6,
            seed=1,
            log=lines.append,
        )
        trainer = Trainer(
            model=build_tiny_model(0),
            args=args,
            train_dataset=_ExampleDataset(rows),
            data_collator=_PadCollator(0),
            processing_class=tokenizer,
            callbacks=[callback],
        )
        trainer.train(resume_from_checkpoint=resume)
        return callback, lines

    first, _ = run(None)
    baseline = (snaps / "step_000000.json").read_bytes()
    for step in (6, 8):
        (snaps / f"step_{step:06d}.json").unlink()
    resumed, lines = run(str(tmp_path / "ck" / "checkpoint-4"))
    captured = [line for line in lines if "Capturing" in line]
    assert [line.rsplit(" ", 1)[-1] for line in captured] == ["6", "8"]  # no new baseline
    assert (snaps / "step_000000.json").read_bytes() == baseline
    assert first.tracker is not None and resumed.tracker is not None
    assert resumed.tracker.tracked == first.tracker.tracked
    assert [s for s, _ in snapshot_files(snaps)] == [0, 2, 4, 6, 8]
    ids = [e.example_id for e in read_snapshot(snaps / "step_000008.json").examples]
    assert ids == [t.example_id for t in first.tracker.tracked] and len(ids) == 6
