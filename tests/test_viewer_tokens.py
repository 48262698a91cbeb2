"""The detail's per-token figures: the token-loss heat strip, the first divergence, and the
tracker's per-token fields when a snapshot has them (older files: nothing shown). Read from the
file in a worker, never on the UI thread."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from evotui import tokens
from evotui.app import EvotuiApp
from evotui.snapshot import build_snapshot, snapshot_filename, write_json_atomic
from evotui.tokens import TokenFigures, figures_of, first_divergence, heat_levels
from evotui.widgets.detail import DetailScreen, token_rows
from tests.test_viewer_app import shown, wait_for


def test_figures_from_a_row_and_what_is_left_out() -> None:
    row = {
        "token_losses": [0.01, 2.5, None],
        "gold_probs": [0.99, 0.08, 0.5],
        "gold_ranks": [1, 4, 1],
        "margin": -0.75,
        "min_gold_prob": 0.08,
        "teacher_forced_accuracy": 2 / 3,
        "first_divergence": 1,
    }
    figures = figures_of(row)
    assert figures is not None
    assert figures.gold_ranks == [1, 4, 1] and figures.first_divergence == 1
    assert figures.token_losses[:2] == [0.01, 2.5]
    assert figures_of({"loss": 0.3}) is None  # an older file: nothing to show
    odd = figures_of({"gold_ranks": ["1"], "margin": "x", "first_divergence": -1, "gold_probs": 3})
    assert odd is None  # wrong types are left out, not shown wrong
    assert heat_levels([0.0, 0.69, 0.71, 100.0, float("nan")]) == [0, 0, 1, 7, None]


def test_first_divergence_of_texts() -> None:
    assert first_divergence("42", "42") is None
    assert first_divergence("42", "43") == 1
    assert first_divergence("42", "4") == 1
    assert first_divergence("", "x") == 0


def test_token_rows_mark_the_first_wrong_token() -> None:
    rows = dict(token_rows(TokenFigures(token_losses=[0.1, 3.0, 0.2], first_divergence=1)))
    strip = rows["token loss"].plain
    assert strip.startswith("▁▅▁") and "3 tokens" in strip
    marker = rows[""].plain
    assert marker.index("^") == 1 and "first wrong token: 1" in marker


@pytest.fixture
def token_run(tmp_path: Path) -> Path:
    folder = tmp_path / "tok"
    folder.mkdir()
    for step, out in ((0, "??"), (10, "43")):
        rows = [
            {
                "example_id": 0,
                "input": "What is 6 * 7?",
                "expected_output": "42",
                "model_output": out,
                "loss": 1.2,
                "similarity": 0.5,
                "exact_match": False,
                "token_losses": [0.05, 2.4],
                "gold_probs": [0.95, 0.09],
                "gold_ranks": [1, 3],
                "margin": -0.4,
                "min_gold_prob": 0.09,
                "teacher_forced_accuracy": 0.5,
                "first_divergence": 1,
            },
            {
                "example_id": 1,
                "input": "old file row",
                "expected_output": "7",
                "model_output": "7",
                "loss": 0.1,
                "similarity": 1.0,
                "exact_match": True,
            },
        ]
        write_json_atomic(folder / snapshot_filename(step), build_snapshot("tok", step, rows))
    return folder


async def test_detail_shows_token_figures_read_off_the_ui_thread(
    token_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ui = threading.current_thread().name
    seen: list[str] = []
    real = tokens.read_token_figures

    def recording(path, example_id):  # type: ignore[no-untyped-def]
        seen.append(threading.current_thread().name)
        return real(path, example_id)

    monkeypatch.setattr(tokens, "read_token_figures", recording)
    app = EvotuiApp(token_run)
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_for(pilot, lambda: app.main.view is not None and app.main.view.step == 10)
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        await wait_for(pilot, lambda: app.screen._tokens is not None)
        text = await shown(pilot, app)
        assert "token loss" in text and "2 tokens" in text
        assert "first wrong token: 1" in text
        assert "gold rank" in text and "1 3" in text
        assert "margin -0.40" in text and "teacher-forced accuracy 50%" in text
        assert "at character 1" in text  # the text's own first divergence
        await pilot.press("n")  # an example without per-token fields: nothing about tokens
        await wait_for(pilot, lambda: app.screen.col == app.main.cols[1])
        await pilot.pause(0.3)
        text = await shown(pilot, app)
        assert "token loss" not in text and "gold rank" not in text
    assert seen and ui not in seen
