"""PEFT LoRA under the Hugging Face Trainer: the capture of a ``PeftModel`` is the capture of the
merged model, passes the KV cache by the keyword the model inside takes, and is never silently
wrong when that keyword changes (it falls back to ``generate`` and says so)."""

from __future__ import annotations

import copy
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import Trainer, TrainingArguments

import tracker.capture as capture_module
import tracker.onepass as onepass_module
from tracker.callback import EvolutionCallback
from tracker.capture import CaptureEngine
from tracker.data import TrainingExample
from tracker.train import _ExampleDataset, _PadCollator, tokenize_examples

sys.path.insert(0, str(Path(__file__).parent))
from trl_models import build_model, build_tokenizer, sums  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, EvolutionCallback]:
    """A LoRA-adapted tiny Llama after a few Trainer steps, with its callback's tracker."""
    tmp = tmp_path_factory.mktemp("peft")
    tokenizer = build_tokenizer("llama3")
    base = build_model("llama3", tokenizer, seed=1)
    model = get_peft_model(
        base, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "o_proj"])
    )
    examples = [TrainingExample(i + 1, q, q + "\n", a) for i, (q, a) in enumerate(sums(8))]
    rows = tokenize_examples(examples, tokenizer, None)
    callback = EvolutionCallback(
        dataset="peft", snapshots_dir=tmp / "snaps", schedule="0", log=lambda line: None
    )
    args = TrainingArguments(
        output_dir=str(tmp / "out"),
        max_steps=6,
        per_device_train_batch_size=4,
        learning_rate=2e-2,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
        remove_unused_columns=False,
        seed=0,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=_ExampleDataset(rows),
        data_collator=_PadCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=[callback],
    )
    trainer.train()
    model.eval()
    return model, tokenizer, callback


def _engine(callback: EvolutionCallback, tokenizer: Any, log: Any = None) -> CaptureEngine:
    assert callback.tracker is not None, callback.setup_error
    return CaptureEngine(
        tokenizer,
        callback.tracker.tracked,
        dataset="peft",
        snapshots_dir="unused",
        log=log or (lambda line: None),
    )


def _rows(engine: CaptureEngine, model: Any) -> list[dict[str, Any]]:
    with torch.no_grad():
        model.eval()
        return engine.compute_rows(model, list(range(len(engine.tracked))))


def _generated(engine: CaptureEngine, model: Any) -> list[str]:
    """An independent one-example ``generate`` on each tracked prompt."""
    texts = []
    for prompt in engine.prompt_ids:
        with torch.no_grad():
            out = model.generate(
                input_ids=torch.tensor([prompt]),
                attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                max_new_tokens=engine.max_new_tokens,
                do_sample=False,
            )
        texts.append(engine.tokenizer.decode(out[0, len(prompt) :], skip_special_tokens=True))
    return texts


@pytest.mark.slow
def test_capture_of_the_peft_model_equals_capture_of_the_merged_model(trained) -> None:
    model, tokenizer, callback = trained
    merged = copy.deepcopy(model).merge_and_unload()
    engine = _engine(callback, tokenizer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        adapted = _rows(engine, model)
    # The cache goes in by the name the Llama inside takes (not the deprecated one).
    assert not [w for w in caught if "past_key_values" in str(w.message)]
    plain = _rows(_engine(callback, tokenizer), merged)
    assert [r["model_output"] for r in adapted] == [r["model_output"] for r in plain]
    for a, b in zip(adapted, plain, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-4)
    assert engine.fast_greedy  # the check against generate passed: the fast path stayed on
    assert [r["model_output"] for r in adapted] == _generated(engine, model)
    # LoRA changed the model: the adapted capture is not the bare base model's.
    with model.disable_adapter():
        bare = _rows(_engine(callback, tokenizer), model)
    assert [r["loss"] for r in bare] != pytest.approx([r["loss"] for r in adapted], abs=1e-3)


def _drop_legacy_cache_keyword(model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """transformers without the ``past_key_values`` alias, simulated: the old keyword is
    silently ignored by the model inside the PeftModel (its forward names neither keyword)."""
    inner = model.get_base_model()
    forward = inner.forward

    def without_alias(*args: Any, **kwargs: Any) -> Any:
        kwargs.pop("past_key_values", None)
        return forward(*args, **kwargs)

    monkeypatch.setattr(inner, "forward", without_alias)


@pytest.mark.slow
def test_without_the_legacy_cache_keyword_capture_still_equals_generate(
    trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, tokenizer, callback = trained
    _drop_legacy_cache_keyword(model, monkeypatch)
    lines: list[str] = []
    engine = _engine(callback, tokenizer, lines.append)
    rows = _rows(engine, model)
    assert [r["model_output"] for r in rows] == _generated(engine, model)
    assert engine.fast_greedy and not lines


@pytest.mark.slow
def test_a_cache_that_is_silently_dropped_falls_back_to_generate(
    trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, tokenizer, callback = trained
    _drop_legacy_cache_keyword(model, monkeypatch)
    # The lean loop picks the name that no longer works (what the code before did for a
    # PeftModel, whose own forward names neither): its cache is lost without an error.
    monkeypatch.setattr(capture_module, "cache_keyword", lambda model: "past_key_values")
    monkeypatch.setattr(onepass_module, "cache_keyword", lambda model: "past_key_values")
    lines: list[str] = []
    engine = _engine(callback, tokenizer, lines.append)
    rows = _rows(engine, model)
    # Both cache users are caught by their once-per-run check against generate, each said once.
    assert not engine.one_pass and not engine.fast_greedy
    assert len(lines) == 2, lines
    assert "one-pass capture disagrees with model.generate" in lines[0]
    assert "fast greedy decoding disagrees with model.generate" in lines[1]
    assert [r["model_output"] for r in rows] == _generated(engine, model)
