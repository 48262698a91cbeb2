"""Score and decode in one pass: the gold answer is a free draft for greedy decoding.

A capture needs two things per example: the teacher-forced loss of the gold answer and the model's
own greedy answer. Both start with the same forward over the prompt. Run prompt + gold answer once
(teacher forced) and keep its key/value cache: at every answer position that pass already gives the
greedy token, and wherever it equals the gold token, greedy decoding would have produced exactly the
gold prefix (speculative decoding, with the gold answer as the draft and every draft token checked
at once). So decoding starts at the first divergence, with the cache the pass left, and the gold
tokens after the divergence masked out. An example that is fully right is finished by the pass
itself when its gold answer ends in an end token, and otherwise needs the one token after it, which
the pass also predicted. Late in training, when most examples are right, a capture costs about one
forward.

The same pass yields the per-token measures of how close a wrong answer is (see
:class:`AnswerScores`), for the logits of the answer positions only.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True, slots=True)
class AnswerScores:
    """Teacher-forced measures of one gold answer, one value per answer token.

    ``token_losses``: cross-entropy of each gold token (nats); ``gold_probs``: its probability;
    ``gold_ranks``: its rank among all tokens (1 = the model's top choice; Tirumala et al., 2022
    call the share of rank-1 tokens exact memorization); ``margins``: gold logit minus the best
    other logit (Pleiss et al., 2020, area under the margin); ``first_divergence``: the first
    answer position where the greedy token differs from the gold one (None when none does).
    """

    token_losses: list[float]
    gold_probs: list[float]
    gold_ranks: list[int]
    margins: list[float]
    first_divergence: int | None


def unwrap_model(model: Any) -> Any:
    """The transformers model inside wrappers (PEFT's ``PeftModel``, DDP's ``.module``)."""
    for _ in range(8):
        if hasattr(model, "get_base_model") and callable(model.get_base_model):
            inner = model.get_base_model()
        elif isinstance(getattr(model, "module", None), torch.nn.Module):
            inner = model.module
        else:
            return model
        if inner is model:
            return model
        model = inner
    return model


def cache_keyword(model: Any) -> str:
    """The keyword the model's forward takes its KV cache by.

    transformers 5 renamed ``past_key_values`` to ``cache`` (the old name warns, then goes
    away). A wrapper's own forward (``PeftModel``) passes ``**kwargs`` on and names neither, so
    the model inside it is asked; a forward that names neither gets ``cache``, the name
    ``generate`` itself uses.
    """
    for candidate in (model, unwrap_model(model)):
        try:
            names = inspect.signature(candidate.forward).parameters
        except (TypeError, ValueError):
            continue
        if "cache" in names:
            return "cache"
        if "past_key_values" in names:
            return "past_key_values"
    return "cache"


def _left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max((len(row) for row in rows), default=0)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, row in enumerate(rows):
        if row:
            ids[r, width - len(row) :] = torch.tensor(list(row), dtype=torch.long)
            mask[r, width - len(row) :] = 1
    return ids, mask


def all_done(done: torch.Tensor) -> bool:
    """The default end of decoding: every row is done (sharded models ask every rank instead)."""
    return bool(done.all())


def score_and_decode(
    model: Any,
    prompts: Sequence[Sequence[int]],
    answers: Sequence[Sequence[int]],
    *,
    max_new_tokens: int | Sequence[int],
    eos_ids: Collection[int],
    pad_id: int,
    finished: Callable[[torch.Tensor], bool] | None = None,
) -> tuple[list[AnswerScores], list[list[int]]]:
    """Scores of each gold answer and each prompt's greedy continuation (token ids, eos included).

    ``prompts`` are non-empty. The continuation equals ``model.generate(do_sample=False,
    max_new_tokens=max_new_tokens, eos_token_id=eos_ids)``; ``max_new_tokens`` may be one budget
    per row (a long prompt near the model's context gets fewer). ``finished(done)`` says whether
    decoding is over (default: every row is done); under sharded weights it asks all ranks, so a
    rank whose rows are all done keeps running the forwards the others need.
    """
    device = next(model.parameters()).device
    count = len(prompts)
    if any(not prompt for prompt in prompts):
        raise ValueError("every prompt needs at least one token (nothing predicts the first)")
    budgets = [max_new_tokens] * count if isinstance(max_new_tokens, int) else list(max_new_tokens)
    ids, mask = _left_pad(
        [list(p) + list(a) for p, a in zip(prompts, answers, strict=True)], pad_id
    )
    ids, mask = ids.to(device), mask.to(device)
    width = ids.shape[1]
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    longest = max((len(a) for a in answers), default=0)
    # Column c's logits predict column c + 1: the answer needs the last len(answer) + 1 columns
    # (the extra one predicts the token after the answer).
    keep = min(width, longest + 1)
    inputs: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "position_ids": positions}
    try:
        out = model(**inputs, use_cache=True, logits_to_keep=keep)
    except TypeError:  # no logits_to_keep: slice the full logits
        out = model(**inputs, use_cache=True)
    logits = out.logits[:, -keep:]
    offset = width - keep  # column of logits[:, 0]

    # Every (row, answer position) at once: gold logits, ranks, margins, greedy tokens.
    rows_idx, cols, targets = [], [], []
    for r, answer in enumerate(answers):
        first = width - len(answer)
        for j, token in enumerate(answer):
            rows_idx.append(r)
            cols.append(first + j - 1 - offset)
            targets.append(token)
    scores: list[AnswerScores] = []
    greedy_at: list[list[int]] = [[] for _ in range(count)]
    if targets:
        picked = logits[
            torch.tensor(rows_idx, device=device), torch.tensor(cols, device=device)
        ].float()
        gold = torch.tensor(targets, device=device)
        # A few passes over the (positions x vocabulary) logits and no full-size copies: with a
        # 50k vocabulary these are most of what scoring costs beyond the forward itself.
        gold_logit = picked.gather(1, gold[:, None])[:, 0]
        nll = torch.logsumexp(picked, dim=-1) - gold_logit
        rank = (picked > gold_logit[:, None]).sum(-1) + 1
        top = picked.topk(2, dim=-1)
        best_other = torch.where(top.indices[:, 0] == gold, top.values[:, 1], top.values[:, 0])
        greedy = picked.argmax(-1)  # argmax, as greedy decoding breaks ties
        margin = gold_logit - best_other
        # float64 on the CPU: some accelerators (Apple's MPS) have no float64.
        prob = torch.exp(-nll.detach().cpu().double())
        per_row: list[list[tuple[float, int, float, int, float]]] = [[] for _ in range(count)]
        for owner, values in zip(
            rows_idx,
            zip(
                nll.tolist(),
                rank.tolist(),
                margin.tolist(),
                greedy.tolist(),
                prob.tolist(),
                strict=True,
            ),
            strict=True,
        ):
            per_row[owner].append(values)
        for r in range(count):
            greedy_at[r] = [v[3] for v in per_row[r]]
    else:
        per_row = [[] for _ in range(count)]
    # The token after each full answer, predicted from the answer's last column.
    after = logits[:, -1].argmax(-1).tolist()
    for r, answer in enumerate(answers):
        values = per_row[r]
        divergence = next((j for j, g in enumerate(greedy_at[r]) if g != answer[j]), None)
        scores.append(
            AnswerScores(
                token_losses=[v[0] for v in values],
                gold_probs=[v[4] for v in values],
                gold_ranks=[v[1] for v in values],
                margins=[v[2] for v in values],
                first_divergence=divergence,
            )
        )

    # Greedy prefixes read off the pass: the gold prefix up to the divergence, then the model's
    # own token there (or the token after a fully right answer).
    eos_set = set(int(e) for e in eos_ids)
    outputs: list[list[int]] = []
    resume: list[int | None] = []  # answer position decoding resumes after (None: row is done)
    for r, answer in enumerate(answers):
        d = scores[r].first_divergence
        d = len(answer) if d is None else d
        prefix = list(answer[:d]) + [greedy_at[r][d] if d < len(answer) else after[r]]
        stop = next((i for i, t in enumerate(prefix) if t in eos_set), None)
        if stop is not None:
            outputs.append(prefix[: stop + 1][: budgets[r]])
            resume.append(None)
        elif len(prefix) >= budgets[r]:
            outputs.append(prefix[: budgets[r]])
            resume.append(None)
        else:
            outputs.append(prefix)
            resume.append(d)
    done = torch.tensor([d is None for d in resume], dtype=torch.bool, device=device)
    if (finished or all_done)(done):
        return scores, outputs

    # Continue every unfinished row from its divergence: the cache holds the whole gold answer,
    # so the gold tokens after the divergence are masked out; positions count real tokens only.
    cache = out["cache"] if "cache" in out else out["past_key_values"]
    keyword = cache_keyword(model)
    mask = mask.clone()
    last = torch.zeros(count, dtype=torch.long, device=device)
    token = torch.full((count,), pad_id, dtype=torch.long, device=device)
    for r, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
        d = resume[r]
        if d is None:
            continue
        if d < len(answer):
            mask[r, width - len(answer) + d :] = 0
        last[r] = len(prompt) + d  # the position of the model's own token at the divergence
        token[r] = outputs[r][-1]
    while not (finished or all_done)(done):
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        out = model(
            input_ids=token[:, None],
            attention_mask=mask,
            position_ids=last[:, None],
            use_cache=True,
            **{keyword: cache},
        )
        cache = out["cache"] if "cache" in out else out["past_key_values"]
        last = last + 1
        # Rows already done (here, or all of this rank's under a synced ``finished``) are fed pad
        # tokens: every row gains a token per step until done, so this ends within
        # max_new_tokens steps on every rank.
        token = torch.where(done, pad_id, out.logits[:, -1].argmax(-1))
        chosen = token.tolist()  # one copy to Python per step, not one per row
        for r in (~done).nonzero().flatten().tolist():
            outputs[r].append(chosen[r])
            if chosen[r] in eos_set or len(outputs[r]) >= budgets[r]:
                done[r] = True
    return scores, outputs
