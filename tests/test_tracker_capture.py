"""The capture engine on the embedded tiny model: fields, batching, hygiene, never crashing."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from evotui.snapshot import read_snapshot, snapshot_files
from tracker import SnapshotTracker
from tracker.capture import CaptureEngine, rank_share, select_tracked, similarity
from tracker.data import TrainingExample
from tracker.tiny import build_tiny_model, build_tokenizer, load_model_and_tokenizer, save_tiny


def _examples(count: int) -> list[TrainingExample]:
    rng = random.Random(7)
    rows = []
    for index in range(count):
        a, b = rng.randint(0, 99), rng.randint(0, 99)
        # Varied lengths, so that padding is exercised in both directions.
        question = f"What is {a}+{b}?" + " please" * (index % 3)
        rows.append(TrainingExample(index + 1, question, question + "\n", str(a + b)))
    return rows


@pytest.fixture(scope="module")
def tiny() -> tuple[Any, Any]:
    return build_tiny_model(seed=3), build_tokenizer()


def _engine(tokenizer: Any, tmp_path: Path, count: int = 12, **kw: Any) -> CaptureEngine:
    tracked = select_tracked(_examples(count), max_examples=None)
    return CaptureEngine(
        tokenizer, tracked, dataset="arith", snapshots_dir=tmp_path, log=lambda line: None, **kw
    )


def test_selection_is_deterministic_capped_and_leaves_global_rng_alone() -> None:
    examples = _examples(300)
    random.seed(123)
    before = random.getstate()
    first = select_tracked(examples, max_examples=100, seed=5)
    assert random.getstate() == before
    again = select_tracked(examples, max_examples=100, seed=5)
    other_seed = select_tracked(examples, max_examples=100, seed=6)
    ids = [t.example_id for t in first]
    assert len(ids) == 100 and ids == sorted(ids) and len(set(ids)) == 100
    assert ids == [t.example_id for t in again]
    assert ids != [t.example_id for t in other_seed]
    # example_id is the index in the file, and the tracked text is that example's text.
    assert all(t.expected_output == examples[t.example_id].output for t in first)
    assert [t.example_id for t in select_tracked(examples[:40])] == list(range(40))


def test_capture_writes_contract_snapshot_with_agreeing_summary(tiny, tmp_path: Path) -> None:
    model, tokenizer = tiny
    lines: list[str] = []
    engine = _engine(tokenizer, tmp_path)
    engine.log = lines.append
    result = engine.capture(model, 100)
    assert result is not None and result.path == tmp_path / "arith" / "step_000100.json"
    raw = json.loads(result.path.read_text())
    assert raw["schema_version"] == 1 and raw["snapshot_id"] == "arith_step_000100"
    assert raw["dataset"] == "arith" and raw["training_step"] == 100
    # Each example names its snapshot, for `jq '.examples[0] | {step: .snapshot_id, ...}'`.
    assert {e["snapshot_id"] for e in raw["examples"]} == {"arith_step_000100"}
    snap = read_snapshot(result.path)
    assert [e.example_id for e in snap.examples] == list(range(12))
    losses = [e.loss for e in snap.examples]
    assert all(loss > 0 for loss in losses)
    assert snap.summary["avg_loss"] == pytest.approx(sum(losses) / len(losses))
    assert snap.summary["accuracy"] == sum(e.exact_match for e in snap.examples) / 12
    assert snap.summary["total_examples"] == 12
    assert snap.summary["capture_seconds"] > 0
    assert all(0.0 <= e.similarity <= 1.0 for e in snap.examples)
    first = raw["examples"][0]
    assert first["answer_tokens"] == len(first["expected_output"]) == len(first["token_losses"])
    assert lines[0] == "📸 Capturing evolution snapshot at step 100"
    assert lines[1] == "   Evaluating 12 examples..."
    assert lines[2] == "   ✓ Snapshot saved: step_000100.json"
    assert lines[3].startswith("   Accuracy: ") and "/12)" in lines[3]
    assert lines[4].startswith("   Avg Loss: ")
    assert [p.name for p in (tmp_path / "arith").iterdir()] == ["step_000100.json"]


def test_batched_results_equal_one_at_a_time(tiny, tmp_path: Path) -> None:
    model, tokenizer = tiny
    batched = _engine(tokenizer, tmp_path, batch_size=64)
    single = _engine(tokenizer, tmp_path, batch_size=1)
    with torch.inference_mode():
        model.eval()
        together = batched.compute_rows(model, list(range(12)))
        alone = single.compute_rows(model, list(range(12)))
    assert [r["model_output"] for r in together] == [r["model_output"] for r in alone]
    for a, b in zip(together, alone, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-4)


def test_loss_is_teacher_forced_cross_entropy_of_the_answer_only(tiny, tmp_path: Path) -> None:
    model, tokenizer = tiny
    engine = _engine(tokenizer, tmp_path)
    prompt, answer = engine.prompt_ids[0], engine.answer_ids[0]
    ids = torch.tensor([prompt + answer])
    labels = torch.tensor([[-100] * len(prompt) + answer])
    with torch.inference_mode():
        model.eval()
        expected = model(input_ids=ids, labels=labels).loss.item()
        (row,) = engine.compute_rows(model, [0])
    assert row["loss"] == pytest.approx(expected, rel=1e-5)


def test_capture_restores_mode_and_every_rng(tiny, tmp_path: Path) -> None:
    model, tokenizer = tiny
    model.train()
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    states = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state())
    assert _engine(tokenizer, tmp_path).capture(model, 0) is not None
    assert model.training
    assert random.getstate() == states[0]
    assert np.array_equal(np.random.get_state()[1], states[1])
    assert torch.equal(torch.get_rng_state(), states[2])
    model.eval()
    _engine(tokenizer, tmp_path).capture(model, 1)
    assert not model.training


def test_unwritable_folder_is_logged_not_raised(tiny, tmp_path: Path) -> None:
    model, tokenizer = tiny
    (tmp_path / "arith").write_text("a file where the folder should be")
    lines: list[str] = []
    engine = _engine(tokenizer, tmp_path)
    engine.log = lines.append
    model.train()
    assert engine.capture(model, 10) is None
    assert model.training
    assert "✗ Snapshot at step 10 not saved" in lines[-1] and "training goes on" in lines[-1]


def test_failing_model_is_logged_not_raised(tiny, tmp_path: Path) -> None:
    model, tokenizer = tiny

    class Exploding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, **kwargs: Any) -> Any:
            raise RuntimeError("CUDA out of memory\nTried to allocate 2 GiB")

    lines: list[str] = []
    engine = _engine(tokenizer, tmp_path)
    engine.log = lines.append
    broken = Exploding().train()
    assert engine.capture(broken, 5) is None
    assert broken.training
    assert lines[-1] == (
        "   ✗ Snapshot at step 5 failed: RuntimeError: CUDA out of memory Tried to allocate 2 GiB"
        " (training goes on)"
    )
    assert not (tmp_path / "arith").exists()


def test_snapshot_tracker_in_a_plain_loop(tiny, tmp_path: Path) -> None:
    model, tokenizer = tiny
    tracker = SnapshotTracker(
        model,
        tokenizer,
        _examples(5),
        dataset="loop",
        snapshots_dir=tmp_path,
        schedule="every:3",
        final_step=7,
        log=lambda line: None,
    )
    for step in range(0, 8):
        tracker.maybe_capture(step)
    assert tracker.finish(7) is None  # already captured by the schedule
    assert [s for s, _ in snapshot_files(tmp_path / "loop")] == [0, 3, 6, 7]
    assert tracker.last is not None and tracker.last.step == 7


def test_snapshot_tracker_reads_a_file_and_names_the_dataset(tiny, tmp_path: Path) -> None:
    model, tokenizer = tiny
    data = tmp_path / "my_set.jsonl"
    data.write_text('{"question": "1+1?", "answer": "2"}\n')
    tracker = SnapshotTracker(
        model, tokenizer, data, snapshots_dir=tmp_path / "s", log=lambda line: None
    )
    assert tracker.finish(4) is not None
    assert (tmp_path / "s" / "my_set" / "step_000004.json").is_file()


def test_rank_shares_cover_everything_with_equal_sizes() -> None:
    for count in (1, 7, 100):
        for world in (1, 2, 3, 8):
            shares = [rank_share(count, rank, world) for rank in range(world)]
            assert len({len(share) for share in shares}) == 1
            assert set().union(*shares) == set(range(count))


def test_similarity_is_normalised() -> None:
    assert similarity(" 42 ", "42") == 1.0
    assert similarity("", "42") == 0.0
    assert 0.0 < similarity("41", "42") < 1.0


def test_tiny_model_round_trips_through_from_pretrained(tmp_path: Path) -> None:
    folder = save_tiny(tmp_path / "tiny", seed=4)
    assert (folder / "model.safetensors").is_file()
    model, tokenizer = load_model_and_tokenizer(str(folder))
    fresh = build_tiny_model(seed=4)
    assert tokenizer.pad_token_id == 0 and tokenizer.eos_token_id == 1
    assert tokenizer.padding_side == "left"
    assert len(tokenizer) == model.config.vocab_size == 259
    for name, value in fresh.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name
    assert (
        tokenizer.apply_chat_template(
            [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
        )
        == "user: hi\nassistant: "
    )


def test_lean_greedy_loop_matches_generate(tmp_path: Path) -> None:
    tokenizer = build_tokenizer()
    examples = _examples(16)
    for seed in (0, 1):
        model = build_tiny_model(seed=seed).eval()
        fast = CaptureEngine(
            tokenizer,
            select_tracked(examples),
            dataset="a",
            snapshots_dir=tmp_path,
            log=lambda line: None,
        )
        slow = CaptureEngine(
            tokenizer,
            select_tracked(examples),
            dataset="a",
            snapshots_dir=tmp_path,
            log=lambda line: None,
            fast_greedy=False,
        )
        with torch.inference_mode():
            quick = fast.compute_rows(model, list(range(16)))
            reference = slow.compute_rows(model, list(range(16)))
        assert fast.fast_greedy  # it did not fall back
        assert [r["model_output"] for r in quick] == [r["model_output"] for r in reference]


def test_one_answer_longer_than_the_context_does_not_blank_the_snapshot(
    tiny, tmp_path: Path
) -> None:
    model, tokenizer = tiny
    examples = _examples(3) + [TrainingExample(4, "long " * 80, "long " * 80 + "\n", "y" * 300)]
    engine = CaptureEngine(
        tokenizer,
        select_tracked(examples),
        dataset="long",
        snapshots_dir=tmp_path,
        max_length=model.config.n_positions,
        log=lambda line: None,
    )
    result = engine.capture(model, 0)
    assert result is not None  # before: generation ran past position 256 and every row was lost
    snap = read_snapshot(result.path)
    assert len(snap.examples) == 4
    assert all(not np.isnan(e.loss) for e in snap.examples)
    assert engine.max_new_tokens < model.config.n_positions
