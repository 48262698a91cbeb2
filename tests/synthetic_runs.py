"""A synthetic run whose examples have known histories, written with the real snapshot writer.

Used by the dynamics tests; also runnable by hand: ``python tests/synthetic_runs.py /tmp/synth``.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

from evotui.snapshot import build_snapshot, snapshot_filename, write_json_atomic

STEPS: list[int] = [0, 10, 25, 50, 100, 250, 500]
DATASET = "synthetic"


@dataclass(frozen=True)
class Story:
    """One example's whole history: right/wrong and loss at every step of STEPS."""

    example_id: int
    name: str
    input: str
    expected_output: str
    correct: tuple[bool, ...]
    loss: tuple[float, ...]
    learned_at_step: int | None
    forgetting_events: int


T, F = True, False

STORIES: list[Story] = [
    Story(
        0,
        "learned early",
        "What is 2+2?",
        "4",
        (F, T, T, T, T, T, T),
        (1.0, 0.2, 0.1, 0.05, 0.03, 0.02, 0.01),
        10,
        0,
    ),
    Story(
        1,
        "learned late",
        'Say "hi", then\nwave',
        "hi, 👋",
        (F, F, F, F, F, T, T),
        (3.0, 2.8, 2.5, 2.0, 1.2, 0.3, 0.1),
        250,
        0,
    ),
    Story(
        2,
        "forgotten and relearned",
        "Capital of France?",
        "Paris",
        (F, T, T, F, F, T, T),
        (2.0, 0.3, 0.2, 2.0, 2.5, 0.2, 0.1),
        250,
        1,
    ),
    Story(
        3,
        "never learned",
        "Spell onomatopoeia backwards",
        "aieopotamono",
        (F, F, F, F, F, F, F),
        (4.0, 3.8, 3.6, 3.5, 3.4, 3.3, 3.3),
        None,
        0,
    ),
    Story(
        4,
        "always right",
        "Say yes",
        "yes",
        (T, T, T, T, T, T, T),
        (0.2, 0.1, 0.05, 0.04, 0.03, 0.02, 0.02),
        0,
        0,
    ),
    Story(
        5,
        "forgotten for good",
        "Colour of the sky?",
        "blue",
        (F, T, T, T, F, F, F),
        (2.0, 0.3, 0.2, 0.2, 2.0, 2.5, 3.0),
        None,
        1,
    ),
    Story(
        6,
        "flip-flopper",
        "Heads or tails?",
        "heads",
        (T, F, T, F, T, F, T),
        (0.1, 2.0, 0.1, 2.0, 0.1, 2.0, 0.1),
        500,
        3,
    ),
    Story(
        7,
        "never learned either",
        "Recite pi to 50 places",
        "3.14159265358979323846",
        (F, F, F, F, F, F, F),
        (3.0, 2.9, 2.9, 2.8, 2.8, 2.7, 2.7),
        None,
        0,
    ),
]

EASY_IDS = [0, 4]  # easy-to-learn
AMBIGUOUS_IDS = [1, 2, 5, 6]
NEVER_LEARNED_IDS = [3, 7]


def example_at(story: Story, index: int) -> dict[str, object]:
    right = story.correct[index]
    return {
        "example_id": story.example_id,
        "input": story.input,
        "expected_output": story.expected_output,
        "model_output": story.expected_output if right else f'wrong #{index}, "{story.name}"',
        "loss": story.loss[index],
        "similarity": 1.0 if right else round(0.1 * index, 3),
        "exact_match": right,
    }


def snapshot_at(index: int, dataset: str = DATASET) -> dict[str, object]:
    return build_snapshot(dataset, STEPS[index], [example_at(s, index) for s in STORIES])


def write_snapshot(folder: Path, index: int, dataset: str = DATASET) -> Path:
    return write_json_atomic(folder / snapshot_filename(STEPS[index]), snapshot_at(index, dataset))


def write_run(folder: Path, count: int | None = None, dataset: str = DATASET) -> Path:
    """Write the first ``count`` snapshots (all by default) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(len(STEPS) if count is None else count):
        write_snapshot(folder, index, dataset)
    return folder


def expected_confidence(story: Story) -> float:
    """Mean gold probability over the training snapshots (the step-0 baseline is left out)."""
    training = story.loss[1:]
    return sum(math.exp(-x) for x in training) / len(training)


def expected_correctness(story: Story) -> float:
    return sum(story.correct[1:]) / (len(STEPS) - 1)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "synthetic_run")
    write_run(target)
    print(f"wrote {len(STEPS)} snapshots of {len(STORIES)} examples to {target}")
