"""Small real models and tokenizers for the trainer-fidelity tests, built offline.

A byte-level BPE tokenizer trained here with the ``tokenizers`` library and wrapped in
``PreTrainedTokenizerFast``, with a ChatML template; variants as real models ship them:

* ``qwen``: eos ``<|endoftext|>`` differs from the end-of-turn ``<|im_end|>``; the model's
  ``generation_config.eos_token_id`` lists both (as Qwen2's does);
* ``llama3``: the tokenizer adds ``<|begin_of_text|>`` by itself *and* the chat template writes
  ``{{ bos_token }}`` (as Llama 3's does).

Models are Qwen2 / Llama built from tiny configs.
"""

from __future__ import annotations

from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

CHATML = (
    "{% for m in messages %}"
    "{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|pad|>"]


def sums(count: int = 12) -> list[tuple[str, str]]:
    """``count`` (question, answer) pairs: small sums the tiny models learn in a few dozen steps."""
    pairs = [(a, b) for a in range(1, 10) for b in range(1, 10) if a != b]
    return [(f"What is {a}+{b}?", str(a + b)) for a, b in pairs[:: max(1, 72 // count)][:count]]


def build_tokenizer(kind: str) -> PreTrainedTokenizerFast:
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    corpus = [f"{q} {a}\nuser assistant system" for q, a in sums(72)]
    bpe.train_from_iterator(corpus, trainer)
    bos = kind == "llama3"
    if bos:
        bos_id = bpe.token_to_id("<|begin_of_text|>")
        bpe.post_processor = processors.TemplateProcessing(
            single="<|begin_of_text|> $A",
            pair="<|begin_of_text|> $A $B",
            special_tokens=[("<|begin_of_text|>", bos_id)],
        )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|endoftext|>",
        pad_token="<|pad|>",
        bos_token="<|begin_of_text|>" if bos else None,
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    tokenizer.chat_template = ("{{ bos_token }}" if bos else "") + CHATML
    return tokenizer


def build_model(kind: str, tokenizer: Any, seed: int = 0) -> Any:
    shape = {
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 128,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if kind == "llama3":
            model = LlamaForCausalLM(LlamaConfig(bos_token_id=tokenizer.bos_token_id, **shape))
        else:
            model = Qwen2ForCausalLM(Qwen2Config(**shape))
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    # As the real checkpoints ship it: generation stops at the end of a turn too.
    model.generation_config.eos_token_id = [im_end, tokenizer.eos_token_id]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model
