"""Capture schedules: default 1-2.5-5 per decade, every-N, explicit lists, always the final step."""

from __future__ import annotations

import pytest

from tracker.schedule import ScheduleError, is_default_step, parse_schedule


def test_default_schedule_for_300_steps() -> None:
    assert parse_schedule("default").steps_until(300) == [0, 10, 25, 50, 100, 250, 300]


def test_default_schedule_goes_on_per_decade() -> None:
    steps = parse_schedule(None).steps_until(30000)
    assert steps == [
        0,
        10,
        25,
        50,
        100,
        250,
        500,
        1000,
        2500,
        5000,
        10000,
        25000,
        30000,
    ]
    assert [s for s in range(0, 30001) if is_default_step(s)] == steps[:-1]


def test_due_agrees_with_steps_until() -> None:
    for spec in ("default", "every:7", "0,3,5,40"):
        schedule = parse_schedule(spec)
        expected = schedule.steps_until(57)
        assert [s for s in range(0, 80) if schedule.due(s, 57)] == expected


def test_every_n_and_lists() -> None:
    assert parse_schedule("every:100").steps_until(350) == [0, 100, 200, 300, 350]
    assert parse_schedule("every 5").steps_until(10) == [0, 5, 10]
    assert parse_schedule("50, 10,10").steps_until(40) == [0, 10, 40]
    assert parse_schedule([5, 1]).steps_until(5) == [0, 1, 5]
    assert parse_schedule("every:4").describe() == "every:4"


@pytest.mark.parametrize("spec", ["every:0", "every:x", "sometimes", "1,-2", "1.5"])
def test_bad_specs_are_one_line_errors(spec: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_schedule(spec)
    assert "\n" not in str(info.value)
