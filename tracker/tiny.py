"""The embedded default model: a tiny GPT-2 built from a config and a byte-level tokenizer.

Nothing here touches the network or needs a downloaded file, so a fresh machine can train and
watch a model learn from nothing. Any other causal LM goes through ``from_pretrained``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    ByT5Tokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from evotui.errors import EvotuiError

# A deliberately plain template: the byte model has to learn it from scratch, so fewer bytes of
# scaffolding means faster learning. The generation prompt is what the answer follows.
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ message['role'] }}: {{ message['content'] }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)

# Sized so that 300 steps on 2 CPU cores take well under a minute and a 40-example arithmetic set
# is mostly learned in that time (see tests/test_tracker_train.py).
TINY_N_EMBD = 128
TINY_N_LAYER = 2
TINY_N_HEAD = 4
TINY_N_POSITIONS = 256
TINY_DEFAULT_LEARNING_RATE = 3e-3


def build_tokenizer() -> PreTrainedTokenizerBase:
    """ByT5's byte tokenizer without sentinel ids: 3 specials (pad=0, eos=1, unk=2) + 256 bytes."""
    tokenizer = ByT5Tokenizer(extra_ids=0)
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    tokenizer.padding_side = "left"  # for batched generation; the loss pass pads by hand
    tokenizer.model_max_length = TINY_N_POSITIONS
    return tokenizer


def tiny_config(tokenizer: PreTrainedTokenizerBase | None = None, **overrides: Any) -> GPT2Config:
    tokenizer = tokenizer or build_tokenizer()
    settings: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "n_positions": TINY_N_POSITIONS,
        "n_embd": TINY_N_EMBD,
        "n_layer": TINY_N_LAYER,
        "n_head": TINY_N_HEAD,
        # No dropout: the tiny model has to memorise a small set fast, and regularisation only
        # slows that down. Bit-identity with dropout on is tested with an explicit config.
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        # The byte tokenizer has no BOS; EOS doubles as one, as in GPT-2.
        "bos_token_id": tokenizer.eos_token_id,
    }
    settings.update(overrides)
    return GPT2Config(**settings)


def build_tiny_model(seed: int = 0, **config_overrides: Any) -> GPT2LMHeadModel:
    """A freshly initialised tiny GPT-2; the same seed gives the same weights.

    The global torch RNG is forked so that building a model does not shift the caller's streams.
    """
    config = tiny_config(**config_overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config)
    model.generation_config.pad_token_id = config.pad_token_id
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.bos_token_id = config.bos_token_id
    return model


def save_tiny(folder: str | os.PathLike[str], seed: int = 0, **config_overrides: Any) -> Path:
    """Save a tiny model and its tokenizer as a normal ``from_pretrained`` folder (safetensors)."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    build_tiny_model(seed, **config_overrides).save_pretrained(path)
    build_tokenizer().save_pretrained(path)
    return path


def check_model_path(name_or_path: str) -> None:
    """Refuse a local path that does not exist, in one line, before anything else happens.

    Only names that are plainly paths are checked; anything else may be a hub id.
    """
    local = name_or_path.startswith(("/", "./", "../", "~")) or name_or_path in (".", "..")
    if local and not Path(name_or_path).expanduser().exists():
        # A path, not a hub id: say so instead of the hub's "Repo id must use ..." complaint.
        raise EvotuiError(f"--model {name_or_path}: no such folder")


def load_tokenizer(name_or_path: str | None) -> PreTrainedTokenizerBase:
    """The tokenizer for a model name/path (None = the embedded byte tokenizer), ready to pad."""
    if name_or_path is None:
        return build_tokenizer()
    check_model_path(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    except Exception as exc:  # OSError, ValueError, hub errors: all mean "cannot use this model"
        problem = f"cannot load tokenizer for {name_or_path!r}: {_first_line(exc)}"
        raise EvotuiError(problem) from None
    if tokenizer.pad_token is None:
        # Padding is masked out everywhere, so any existing special token will do.
        if tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        elif tokenizer.unk_token is not None:
            tokenizer.pad_token = tokenizer.unk_token
        else:
            tokenizer.add_special_tokens({"pad_token": "<pad>"})
    tokenizer.padding_side = "left"
    return tokenizer


def load_model(
    name_or_path: str | None, tokenizer: PreTrainedTokenizerBase, seed: int = 0
) -> PreTrainedModel:
    """The model for a name/path (None = a fresh tiny GPT-2 from ``seed``)."""
    if name_or_path is None:
        return build_tiny_model(seed)
    try:
        model = AutoModelForCausalLM.from_pretrained(name_or_path)
    except Exception as exc:
        raise EvotuiError(f"cannot load model {name_or_path!r}: {_first_line(exc)}") from None
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))  # we may have added a pad token
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model


def load_model_and_tokenizer(
    name_or_path: str | None = None, seed: int = 0
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """``(model, tokenizer)``: the embedded default for None, else ``from_pretrained`` both."""
    tokenizer = load_tokenizer(name_or_path)
    return load_model(name_or_path, tokenizer, seed), tokenizer


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
