"""One snapshot: batched teacher-forced loss and batched greedy generation on the tracked examples.

The capture is a guest in someone else's training run, so it
* computes without gradients (``torch.no_grad``, never ``inference_mode``: sharded weights'
  gathered copies, and any buffer a model builds lazily, are reused in training and must not
  become inference tensors), in eval mode, restoring the mode after;
* saves and restores every RNG it could touch (python, numpy, torch CPU and CUDA), so the run
  ends with bit-identical weights to the same run without tracking;
* never raises: any error (a full disk, a read-only folder, out of memory) becomes one log line.

Under ``torch.distributed`` every rank computes an equal share of the examples, rank 0 gathers
the rows and is the only one to write. With sharded weights (FSDP1, FSDP2, ZeRO-3) every forward
is a collective, so all ranks run the same forwards in lockstep and decode until every rank is
done; the ranks agree on the outcome before the gather, so a failure on any rank skips the
snapshot on all of them (see ``tracker/distributed.py``).
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rapidfuzz.distance import Levenshtein

from evotui.names import check_folder_name
from evotui.snapshot import (
    build_snapshot,
    exact_match,
    finite_or_none,
    snapshot_filename,
    snapshot_id,
    write_json_atomic,
)
from tracker.config import DEFAULT_BATCH_SIZE, DEFAULT_MAX_EXAMPLES, LogFn, console
from tracker.data import TrainingExample
from tracker.distributed import (
    Lockstep,
    LockstepModel,
    PeerFailed,
    capture_group,
    dist_info,
    resolve,
)
from tracker.leftovers import clean_stale_temps
from tracker.onepass import AnswerScores, all_done, cache_keyword, score_and_decode

GENERATION_MARGIN = 8  # extra tokens past the longest expected answer, to see run-on output
TOKEN_LOSSES_UP_TO = 32  # per-token losses are stored for answers this short (keeps files small)


@dataclass(frozen=True, slots=True)
class TrackedExample:
    """A training example followed through the run; ``example_id`` is its index in the data.

    ``prompt_ids`` / ``answer_ids``, when given, are the exact token ids to evaluate (inside a
    Trainer: the trainer's own, see ``tracker.trainer_data``); otherwise ``prompt`` and
    ``expected_output`` are tokenised here.
    """

    example_id: int
    input: str
    prompt: str
    expected_output: str
    line: int = 0
    prompt_ids: tuple[int, ...] | None = None
    answer_ids: tuple[int, ...] | None = None


def choose_indices(count: int, max_examples: int | None, seed: int, key: str) -> list[int]:
    """At most ``max_examples`` of ``range(count)`` in order, from the seed and ``key`` alone.

    A private ``random.Random`` leaves the global RNG untouched.
    """
    if max_examples is None or max_examples >= count:
        return list(range(count))
    rng = random.Random(f"evotui:{seed}:{key}")
    return sorted(rng.sample(range(count), max(0, max_examples)))


def select_tracked(
    examples: Sequence[TrainingExample],
    max_examples: int | None = DEFAULT_MAX_EXAMPLES,
    seed: int = 0,
) -> list[TrackedExample]:
    """At most ``max_examples`` examples, chosen from the data and the seed alone, in id order.

    Nothing about the training state goes in, so a run resumed from a checkpoint tracks the same
    set in the same order. A private ``random.Random`` leaves the global RNG untouched.
    """
    count = len(examples)
    key = ""
    if max_examples is not None and max_examples < count:
        digest = hashlib.sha256()
        for example in examples:
            digest.update(example.prompt.encode() + b"\0" + example.output.encode() + b"\0")
        key = digest.hexdigest()
    chosen = choose_indices(count, max_examples, seed, key)
    return [
        TrackedExample(
            example_id=index,
            input=examples[index].input,
            prompt=examples[index].prompt,
            expected_output=examples[index].output,
            line=examples[index].line,
        )
        for index in chosen
    ]


@dataclass(frozen=True, slots=True)
class CaptureResult:
    """What one successful capture produced (rank 0 only)."""

    step: int
    path: Path
    accuracy: float
    avg_loss: float | None
    correct: int
    total: int
    seconds: float
    snapshot: dict[str, Any] = field(repr=False)


# --- RNG and mode hygiene ---------------------------------------------------------------------


@dataclass(slots=True)
class RngState:
    python: Any
    numpy: Any
    torch_cpu: torch.Tensor
    cuda: list[torch.Tensor] | None


def save_rng() -> RngState:
    cuda = None
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda = torch.cuda.get_rng_state_all()
    return RngState(random.getstate(), np.random.get_state(), torch.get_rng_state(), cuda)


def restore_rng(state: RngState) -> None:
    random.setstate(state.python)
    np.random.set_state(state.numpy)
    torch.set_rng_state(state.torch_cpu)
    if state.cuda is not None:
        torch.cuda.set_rng_state_all(state.cuda)


def rank_share(count: int, rank: int, world: int) -> list[int]:
    """This rank's indices: equal-sized contiguous shares, short ones padded with a repeat.

    Equal sizes matter: with a sharded model every rank must run the same number of forwards.
    The repeats are dropped again when rank 0 assembles the rows.
    """
    if count == 0:
        return []
    size = math.ceil(count / world)
    share = list(range(rank * size, min(count, (rank + 1) * size)))
    while len(share) < size:
        share.append(share[-1] if share else count - 1)
    return share


# --- the capture engine -----------------------------------------------------------------------


class CaptureEngine:
    """Computes and writes snapshots of a fixed list of tracked examples."""

    def __init__(
        self,
        tokenizer: Any,
        tracked: Sequence[TrackedExample],
        *,
        dataset: str,
        snapshots_dir: str | os.PathLike[str],
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_new_tokens: int | None = None,
        max_length: int | None = None,
        log: LogFn = console,
        fast_greedy: bool = True,
    ) -> None:
        self.tokenizer = tokenizer
        self.tracked = list(tracked)
        self.dataset = dataset
        self.folder = Path(snapshots_dir) / check_folder_name(dataset)  # never outside the dir
        clean_stale_temps(self.folder, log)  # what a kill -9 mid-write left behind
        self.batch_size = max(1, batch_size)
        self.log = log
        self.pad_id = _pad_id(tokenizer)
        self.eos_id = tokenizer.eos_token_id
        # Where greedy decoding stops; widened per capture by the model's generation config.
        self.stop_ids = stop_ids(None, tokenizer)
        self.vocab_limit = len(tokenizer)
        # The lean greedy loop below; falls back to `model.generate` if a model rejects it, or
        # if the once-per-run check finds it disagrees with `generate`.
        self.fast_greedy = fast_greedy
        self.fast_checked = False
        # One teacher-forced pass whose cache greedy decoding continues from (tracker/onepass.py);
        # off after a failure or if the once-per-run check finds it disagrees with `generate`.
        self.one_pass = fast_greedy
        self.one_pass_checked = False
        # Tokenised once: the same ids every capture, and no tokenizer cost inside training.
        self.prompt_ids = [
            list(ex.prompt_ids)
            if ex.prompt_ids is not None
            else prompt_token_ids(tokenizer, ex.prompt)
            for ex in self.tracked
        ]
        self.answer_ids = [
            list(ex.answer_ids)
            if ex.answer_ids is not None
            else encode_text(tokenizer, ex.expected_output)
            for ex in self.tracked
        ]
        longest = max((len(ids) for ids in self.answer_ids), default=0)
        self.max_new_tokens = max_new_tokens or longest + GENERATION_MARGIN
        if max_length is not None:
            # An answer longer than the context must not push generation past the last position
            # embedding: that fails the whole batch, so one long example would blank every snapshot.
            self.max_new_tokens = max(1, min(self.max_new_tokens, max_length - 1))
        self.max_length = max_length

    # The pure computation: rows for the examples at ``indices``, no RNG, file or mode handling.
    # ``lockstep``: sharded weights, decode in step with the other ranks (``model`` then checks
    # with them before each forward: a LockstepModel).
    def compute_rows(
        self, model: Any, indices: Sequence[int], lockstep: Lockstep | None = None
    ) -> list[dict[str, Any]]:
        if self.one_pass:
            try:
                return self._rows_one_pass(model, indices, lockstep)
            except Exception as exc:
                if lockstep is not None:
                    raise  # the other ranks are mid-loop: this capture fails on all of them
                self.one_pass = False
                self.log(
                    f"   ⚠ one-pass capture failed ({_one_line(exc)}); "
                    "using a separate loss pass and greedy decoding from now on"
                )
        return self._rows_two_passes(model, indices, lockstep)

    def _rows_one_pass(
        self, model: Any, indices: Sequence[int], lockstep: Lockstep | None
    ) -> list[dict[str, Any]]:
        """Loss, per-token measures and greedy output from one teacher-forced pass per batch,
        decoding on from the first divergence (see tracker/onepass.py)."""
        self.stop_ids = stop_ids(model, self.tokenizer)
        if lockstep is None and not self.one_pass_checked and indices:
            self._check_one_pass(model, indices[0])
            if not self.one_pass:
                return self._rows_two_passes(model, indices, lockstep)
        finished = None
        if lockstep is not None:
            finished = lambda done: lockstep.check(bool(done.all()))  # noqa: E731
        # Batches of similar length waste little padding; rows go back in the caller's order.
        order = sorted(
            range(len(indices)),
            key=lambda k: len(self.prompt_ids[indices[k]]) + len(self.answer_ids[indices[k]]),
        )
        rows: list[dict[str, Any]] = [{} for _ in indices]
        for start in range(0, len(order), self.batch_size):
            positions = order[start : start + self.batch_size]
            batch = [indices[k] for k in positions]
            fitted = [self._fit(index) for index in batch]
            started = time.perf_counter()
            scores, produced = score_and_decode(
                model,
                [prompt for prompt, _, _ in fitted],
                [answer for _, answer, _ in fitted],
                max_new_tokens=[budget for _, _, budget in fitted],
                eos_ids=self.stop_ids,
                pad_id=self.pad_id,
                finished=finished,
            )
            seconds = (time.perf_counter() - started) / len(batch)
            texts = self._decode(produced)
            for k, index, score, text in zip(positions, batch, scores, texts, strict=True):
                rows[k] = self._row(index, text, score.token_losses, seconds, score)
        return rows

    def _fit(self, index: int) -> tuple[list[int], list[int], int]:
        """Prompt, answer and decoding budget of one example within the model's context: the
        whole prompt as trained (cut at the front only if prompt + answer do not fit), and as
        many new tokens as the context leaves, up to ``max_new_tokens``."""
        prompt, answer = self._limits(index, 0)
        budget = self.max_new_tokens
        if self.max_length is not None:
            budget = max(1, min(budget, self.max_length - len(prompt)))
        return prompt, answer, budget

    def _decode(self, produced: Sequence[Sequence[int]]) -> list[str]:
        # Models often have more output rows than the tokenizer has tokens (vocabularies padded to
        # a multiple of 64); such ids decode to nothing rather than crash the decoder.
        clean = [[t if t < self.vocab_limit else self.pad_id for t in ids] for ids in produced]
        return self.tokenizer.batch_decode(clean, skip_special_tokens=True)

    def _row(
        self,
        index: int,
        output: str,
        token_losses: list[float],
        seconds: float,
        scores: AnswerScores | None = None,
    ) -> dict[str, Any]:
        example = self.tracked[index]
        answered = len(token_losses)
        loss = sum(token_losses) / answered if answered else math.nan
        row: dict[str, Any] = {
            "example_id": example.example_id,
            "input": example.input,
            "expected_output": example.expected_output,
            "model_output": output,
            "loss": loss,
            "similarity": similarity(output, example.expected_output),
            "exact_match": exact_match(output, example.expected_output),
            "answer_tokens": answered,
            "gold_prob": math.exp(-loss * answered) if answered else None,
            "line": example.line,
            "generation_seconds": round(seconds, 6),
        }
        short = answered <= TOKEN_LOSSES_UP_TO
        if short:
            row["token_losses"] = [round(value, 5) for value in token_losses]
        if scores is not None and answered:
            # How close a wrong answer is (README, "Training dynamics"): from the same pass.
            row["teacher_forced_accuracy"] = sum(r == 1 for r in scores.gold_ranks) / answered
            row["min_gold_prob"] = finite_or_none(min(scores.gold_probs))
            row["margin"] = finite_or_none(sum(scores.margins) / answered)
            row["first_divergence"] = scores.first_divergence
            if short:
                row["gold_probs"] = [float(f"{value:.6g}") for value in scores.gold_probs]
                row["gold_ranks"] = list(scores.gold_ranks)
        return row

    def _check_one_pass(self, model: Any, index: int) -> None:
        """Once per run: the one-pass outputs must be exactly ``model.generate``'s on one example,
        with its own answer as the draft and with a draft wrong from the first token (decoding
        then runs on the cache with the whole draft masked out). No EOS, so the whole budget is
        compared. On any difference: separate passes from now on, said in one line."""
        self.one_pass_checked = True

        prompt, answer, budget = self._fit(index)
        wrong = [(answer[0] + 1) % self.vocab_limit] + answer[1:] if answer else [self.pad_id]
        device = _device(model)
        ids = torch.tensor([prompt], dtype=torch.long, device=device)
        mask = torch.ones_like(ids)
        try:
            stops: list[int] = []
            try:
                reference = _generate(model, ids, mask, _greedy_config(budget, self.pad_id, []))
            except Exception:  # a model whose generate insists on an end token: compare with it
                stops = list(self.stop_ids)
                reference = _generate(model, ids, mask, _greedy_config(budget, self.pad_id, stops))
            _, produced = score_and_decode(
                model,
                [prompt, prompt],
                [answer, wrong],
                max_new_tokens=budget,
                eos_ids=stops,
                pad_id=self.pad_id,
            )
        except Exception as exc:
            self.one_pass = False
            self.log(f"   ⚠ one-pass capture failed ({_one_line(exc)}); using separate passes")
            return
        reference_ids = reference.cpu()[0].tolist()
        # generate pads a row that stopped early: compare the tokens it produced.
        if stops:
            end = next((i for i, t in enumerate(reference_ids) if t in stops), None)
            reference_ids = reference_ids if end is None else reference_ids[: end + 1]
        reference = reference_ids
        if produced[0] != reference or produced[1] != reference:
            self.one_pass = False
            self.log(
                "   ⚠ one-pass capture disagrees with model.generate on example "
                f"{self.tracked[index].example_id}; using separate passes from now on"
            )

    def _rows_two_passes(
        self, model: Any, indices: Sequence[int], lockstep: Lockstep | None = None
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for start in range(0, len(indices), self.batch_size):
            batch = list(indices[start : start + self.batch_size])
            losses = self._batch_losses(model, batch)
            outputs, gen_seconds = self._batch_generate(model, batch, lockstep=lockstep)
            for index, (_, token_losses), output in zip(batch, losses, outputs, strict=True):
                rows.append(self._row(index, output, token_losses, gen_seconds / len(batch)))
        return rows

    def _limits(self, index: int, room_for: int) -> tuple[list[int], list[int]]:
        """Prompt and answer ids cut to fit the model's context, keeping the prompt's end."""
        prompt, answer = self.prompt_ids[index], self.answer_ids[index]
        if self.max_length is None:
            return prompt, answer
        answer = answer[: max(1, self.max_length - 1)]
        keep = max(1, self.max_length - max(room_for, len(answer)))
        return prompt[-keep:], answer

    def _batch_losses(self, model: Any, batch: list[int]) -> list[tuple[float, list[float]]]:
        """Teacher-forced cross-entropy of each answer token, one forward for the whole batch.

        Left padding puts every answer at the end of its row, so only the last ``A + 1`` columns'
        logits are needed (``logits_to_keep``): with a 50k vocabulary the output layer is a large
        share of the forward, and most of it would be spent on prompt positions nobody scores.
        """
        device = _device(model)
        pairs = [self._limits(index, 0) for index in batch]
        width = max(len(prompt) + len(answer) for prompt, answer in pairs)
        ids = torch.full((len(pairs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(pairs), width), dtype=torch.long)
        for row, (prompt, answer) in enumerate(pairs):
            seq = prompt + answer
            ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - len(seq) :] = 1
        # Positions count real tokens only, exactly as for an unpadded row (generate does the same).
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        keep = min(width, max(len(answer) for _, answer in pairs) + 1)
        ids, mask, positions = ids.to(device), mask.to(device), positions.to(device)
        inputs: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "use_cache": False}
        try:
            logits = model(**inputs, position_ids=positions, logits_to_keep=keep).logits
        except TypeError:  # an older model without logits_to_keep: score from the full logits
            logits = model(**inputs, position_ids=positions).logits
        offset = width - logits.shape[1]  # column of logits[:, 0]
        rows, cols, targets = [], [], []
        for row, (prompt, answer) in enumerate(pairs):
            first = width - len(answer)  # column of the first answer token
            for j, token in enumerate(answer):
                if first + j - 1 < first - len(prompt):
                    continue  # nothing before it to predict it from (an empty prompt)
                rows.append(row)
                cols.append(first + j - 1 - offset)  # the column whose logits predict it
                targets.append(token)
        results: list[tuple[float, list[float]]] = [(math.nan, []) for _ in pairs]
        if not targets:
            return results
        picked = logits[torch.tensor(rows, device=device), torch.tensor(cols, device=device)]
        nll = torch.nn.functional.cross_entropy(
            picked.float(), torch.tensor(targets, device=device), reduction="none"
        ).tolist()
        per_row: list[list[float]] = [[] for _ in pairs]
        for owner, value in zip(rows, nll, strict=True):
            per_row[owner].append(value)
        return [(sum(v) / len(v), v) if v else (math.nan, []) for v in per_row]

    def _batch_generate(
        self, model: Any, batch: list[int], *, lockstep: Lockstep | None = None
    ) -> tuple[list[str], float]:
        from transformers import GenerationConfig

        device = _device(model)
        prompts = [self._limits(index, self.max_new_tokens)[0] for index in batch]
        width = max(len(prompt) for prompt in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):  # left padding: all prompts end where output starts
            ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            mask[row, width - len(prompt) :] = 1
        self.stop_ids = stop_ids(model, self.tokenizer)
        config = GenerationConfig(
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            num_beams=1,
            pad_token_id=self.pad_id,
            eos_token_id=self.stop_ids or None,
        )
        started = time.perf_counter()
        new = None
        finished = None
        if lockstep is not None:
            # Sharded: every rank steps until all are done (a finished rank feeds padding).
            finished = lambda done: lockstep.check(bool(done.all()))  # noqa: E731
        elif self.fast_greedy and not self.fast_checked:
            self._check_fast_greedy(model, batch[0], prompts[0], config)
        if lockstep is not None or self.fast_greedy:
            try:
                new = greedy_decode(
                    model,
                    ids.to(device),
                    mask.to(device),
                    self.max_new_tokens,
                    eos_id=self.stop_ids,
                    pad_id=self.pad_id,
                    finished=finished,
                ).cpu()
            except Exception:
                if lockstep is not None:
                    raise  # the other ranks are mid-loop: this capture fails on all of them
                # Some architecture this loop does not suit: `generate` from now on.
                self.fast_greedy = False
        if new is None:
            new = _generate(model, ids.to(device), mask.to(device), config).cpu()
        seconds = time.perf_counter() - started
        # Models often have more output rows than the tokenizer has tokens (vocabularies padded to
        # a multiple of 64); such ids decode to nothing rather than crash the decoder.
        new[new >= self.vocab_limit] = self.pad_id
        texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        return texts, seconds

    def _check_fast_greedy(self, model: Any, index: int, prompt: list[int], config: Any) -> None:
        """Once per run: the lean loop must give exactly ``model.generate``'s tokens on one
        example. A model whose forward drops or misreads the cache (a wrapper, a renamed
        keyword) would otherwise be silently wrong at every snapshot; on any difference,
        ``generate`` it is, said in one line.

        Both run the whole token budget without stopping at EOS: a cache that is lost shows in
        the second token, and an answer that ends after one token would hide it.
        """
        self.fast_checked = True
        device = _device(model)
        ids = torch.tensor([prompt], dtype=torch.long, device=device)
        mask = torch.ones_like(ids)
        try:
            fast = greedy_decode(
                model, ids, mask, self.max_new_tokens, eos_id=None, pad_id=self.pad_id
            )
        except Exception as exc:
            self.fast_greedy = False
            self.log(f"   ⚠ fast greedy decoding failed ({_one_line(exc)}); using model.generate")
            return
        unstopped = config.__class__.from_dict({**config.to_dict(), "eos_token_id": []})
        try:
            reference = _generate(model, ids, mask, unstopped)
        except Exception:  # a model whose generate insists on an EOS: compare as configured
            fast = greedy_decode(
                model, ids, mask, self.max_new_tokens, eos_id=self.stop_ids, pad_id=self.pad_id
            )
            reference = _generate(model, ids, mask, config)
        fast_ids, reference_ids = fast.cpu()[0].tolist(), reference.cpu()[0].tolist()
        # generate stops early when its row is done; pad both to the same length to compare.
        width = max(len(fast_ids), len(reference_ids))
        fast_ids += [self.pad_id] * (width - len(fast_ids))
        reference_ids += [self.pad_id] * (width - len(reference_ids))
        if fast_ids != reference_ids:
            self.fast_greedy = False
            self.log(
                "   ⚠ fast greedy decoding disagrees with model.generate on example "
                f"{self.tracked[index].example_id}; using model.generate from now on"
            )

    def capture(self, model: Any, step: int, *, is_main: bool = True) -> CaptureResult | None:
        """Compute, gather and write the snapshot for ``step``; never raises.

        Returns the result on the writing rank, None elsewhere or on failure (already logged).
        Under torch.distributed every rank must call it at the same step.
        """
        rank, world = dist_info()
        if world == 1 and not is_main:
            return None
        main = rank == 0 if world > 1 else is_main
        started = time.perf_counter()
        if main:
            self.log(f"📸 Capturing evolution snapshot at step {step}")
            self.log(f"   Evaluating {len(self.tracked)} examples...")
        try:
            lockstep = Lockstep(capture_group() if world > 1 else None, rank, world)
        except Exception as exc:  # creating the group is collective: it fails on every rank
            self._failed(step, rank, world, _one_line(exc))
            return None
        rng = save_rng()
        modes: list[tuple[Any, bool]] = [(model, bool(getattr(model, "training", False)))]
        local: list[tuple[int, dict[str, Any]]] = []
        error: str | None = None
        try:
            target = resolve(model)
            if target.call is not model:
                modes.append((target.call, bool(target.call.training)))
            for module, _ in modes:
                module.eval()
            share = rank_share(len(self.tracked), rank, world)
            # no_grad, never inference_mode: an inference tensor that a model caches during the
            # capture (a sharded parameter's storage, a lazily built buffer) breaks the next
            # training step ("Inplace update to inference tensor outside InferenceMode").
            with torch.no_grad():
                if target.sharded:
                    rows = self.compute_rows(LockstepModel(target, lockstep), share, lockstep)
                else:
                    rows = self.compute_rows(target.call, share)
            local = list(zip(share, rows, strict=True))
        except PeerFailed:
            pass  # the closing agreement below already knows which rank failed
        except Exception as exc:  # anything at all: the run must go on
            error = _one_line(exc)
            _free_cuda_memory()
        finally:
            for module, training in reversed(modes):
                module.train(training)
            restore_rng(rng)
        if world == 1:
            if error is not None:
                self._failed(step, rank, world, error)
                return None
            rows = [row for _, row in local]
        else:
            rows = self._agree_and_gather(step, rank, world, lockstep, local, error)
        if not main or rows is None:
            return None
        try:
            return self._write(step, rows, time.perf_counter() - started)
        except Exception as exc:
            self.log(f"   ✗ Snapshot at step {step} not saved: {_one_line(exc)} (training goes on)")
            return None

    def _failed(self, step: int, rank: int, world: int, error: str) -> None:
        who = f"[rank {rank}] " if world > 1 else ""
        self.log(f"   ✗ {who}Snapshot at step {step} failed: {error} (training goes on)")

    def _agree_and_gather(
        self,
        step: int,
        rank: int,
        world: int,
        lockstep: Lockstep,
        local: list[tuple[int, dict[str, Any]]],
        error: str | None,
    ) -> list[dict[str, Any]] | None:
        """All ranks agree on the outcome; then rank 0 gets every row, or every failed rank's error.

        Both the agreement and the gather run on the capture's own group, bounded by its timeout;
        each rank enters the gather only once all have agreed that it will happen.
        """
        import torch.distributed as dist

        try:
            failed = lockstep.agree(error is not None)
        except Exception as exc:  # a timeout: a rank is gone or stuck; nothing more to agree on
            self._failed(step, rank, world, error or f"no agreement: {_one_line(exc)}")
            return None
        group = lockstep.group
        if failed:
            errors: list[Any] | None = [None] * world if rank == 0 else None
            try:
                dist.gather_object(error, errors, dst=0, group=group)
            except Exception:
                if error is not None:
                    self._failed(step, rank, world, error)  # not sent to rank 0: said here
                return None
            if errors is not None:  # rank 0 speaks for every rank, so each error appears once
                for who in failed:
                    self._failed(step, who, world, errors[who] or "no error received")
            return None
        parts: list[Any] | None = [None] * world if rank == 0 else None
        try:
            dist.gather_object(local, parts, dst=0, group=group)
        except Exception as exc:
            self._failed(step, rank, world, f"gather: {_one_line(exc)}")
            return None
        if parts is None:
            return None
        by_index: dict[int, dict[str, Any]] = {}
        for part in parts:
            for index, row in part or []:
                by_index.setdefault(index, row)  # padding repeats are dropped here
        if len(by_index) != len(self.tracked):
            self._failed(
                step, rank, world, f"gathered {len(by_index)} of {len(self.tracked)} examples"
            )
            return None
        return [by_index[index] for index in range(len(self.tracked))]

    def _write(self, step: int, rows: list[dict[str, Any]], seconds: float) -> CaptureResult:
        # Each example names its snapshot too, so the documented
        # `jq '.examples[0] | {step: .snapshot_id, ...}' step_*.json` shows which step it came from.
        tag = snapshot_id(self.dataset, step)
        rows = [{**row, "snapshot_id": tag} for row in rows]
        snapshot = build_snapshot(
            self.dataset,
            step,
            rows,
            summary_extra={
                "capture_seconds": round(seconds, 4),
                "max_new_tokens": self.max_new_tokens,
            },
        )
        path = write_json_atomic(self.folder / snapshot_filename(step), snapshot)
        summary = snapshot["summary"]
        correct, total = summary["correct"], summary["total_examples"]
        self.log(f"   ✓ Snapshot saved: {path.name}")
        self.log(f"   Accuracy: {summary['accuracy']:.0%} ({correct}/{total})")
        avg = summary["avg_loss"]
        self.log(f"   Avg Loss: {avg:.3f}" if avg is not None else "   Avg Loss: n/a")
        return CaptureResult(
            step=step,
            path=path,
            accuracy=summary["accuracy"],
            avg_loss=avg,
            correct=correct,
            total=total,
            seconds=seconds,
            snapshot=snapshot,
        )


def _greedy_config(budget: int, pad_id: int, stops: list[int]) -> Any:
    from transformers import GenerationConfig

    return GenerationConfig(
        max_new_tokens=budget,
        do_sample=False,
        num_beams=1,
        pad_token_id=pad_id,
        eos_token_id=stops,
    )


def _generate(model: Any, ids: torch.Tensor, mask: torch.Tensor, config: Any) -> torch.Tensor:
    """``model.generate``'s new tokens for left-padded prompts."""
    out = model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
    return out[:, ids.shape[1] :]


def stop_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every id greedy decoding stops at: the model's ``generation_config.eos_token_id`` (an int
    or a list, e.g. a chat model's end-of-turn token) and the tokenizer's eos."""
    ids: list[int] = []
    config = getattr(model, "generation_config", None) if model is not None else None
    configured = getattr(config, "eos_token_id", None)
    if isinstance(configured, int):
        configured = [configured]
    for value in [*(configured or []), getattr(tokenizer, "eos_token_id", None)]:
        if isinstance(value, int) and value not in ids:
            ids.append(value)
    return ids


def greedy_decode(
    model: Any,
    ids: torch.Tensor,
    mask: torch.Tensor,
    max_new_tokens: int,
    *,
    eos_id: int | Sequence[int] | None,
    pad_id: int,
    finished: Callable[[torch.Tensor], bool] | None = None,
) -> torch.Tensor:
    """Batched greedy decoding of left-padded prompts with the KV cache: the new tokens only.

    The same tokens as ``model.generate(do_sample=False)`` (finished rows are filled with
    ``pad_id`` after their EOS, any id of ``eos_id``), without its per-step machinery (logits
    processors, stopping criteria, output bookkeeping), which dominates a small model's decoding
    time.

    ``finished(done)`` says whether decoding is over; by default when every row is done. With
    sharded weights it asks all ranks, so that a rank whose rows are done keeps running the
    forwards the others' all-gathers need (``generate(synced_gpus=True)`` does the same).
    """
    cache_arg = cache_keyword(model)
    stops = [eos_id] if isinstance(eos_id, int) else list(eos_id or [])
    stop_tensor = torch.tensor(stops, dtype=torch.long, device=ids.device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    try:
        out = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
        )
    except TypeError:
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
    done = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
    last = positions[:, -1]
    produced: list[torch.Tensor] = []
    for step in range(max_new_tokens):
        token = out.logits[:, -1].argmax(-1)
        token = torch.where(done, torch.full_like(token, pad_id), token)
        produced.append(token)
        if stops:
            done |= torch.isin(token, stop_tensor)
        if step == max_new_tokens - 1 or (finished or all_done)(done):
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        last = last + 1
        cache = out["cache"] if "cache" in out else out["past_key_values"]
        out = model(
            input_ids=token[:, None],
            attention_mask=mask,
            position_ids=last[:, None],
            use_cache=True,
            **{cache_arg: cache},
        )
    if not produced:
        return ids.new_zeros((ids.shape[0], 0))
    return torch.stack(produced, dim=1)


# --- small helpers ----------------------------------------------------------------------------


def similarity(output: str, expected: str) -> float:
    """Normalised Levenshtein similarity in [0, 1] of the trimmed strings (1 = identical)."""
    return float(Levenshtein.normalized_similarity(output.strip(), expected.strip()))


def encode_text(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def prompt_token_ids(tokenizer: Any, prompt: str) -> list[int]:
    """A prompt's ids as the model sees them: the tokenizer's BOS when it adds one by itself,
    but never twice (a chat template that writes ``bos_token`` already put it in the text)."""
    ids = encode_text(tokenizer, prompt)
    prefix = bos_prefix(tokenizer)
    if prefix and ids[:1] == prefix:
        return ids
    return prefix + ids


def bos_prefix(tokenizer: Any) -> list[int]:
    """``[bos]`` for tokenizers that add one by themselves (Llama-style), else nothing."""
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None:
        return []
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return [bos] if ids and ids[0] == bos else []


def _pad_id(tokenizer: Any) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if candidate is not None:
            return int(candidate)
    return 0


def _device(model: Any) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _free_cuda_memory() -> None:
    try:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:
        pass
