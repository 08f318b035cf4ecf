"""Pauses in a line's timestamps, and scoring each stretch between them on its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from app.services.stretches import pause_breaks, score_by_stretch

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _minutes(*offsets: int) -> list[datetime]:
    return [T0 + timedelta(minutes=m) for m in offsets]


def test_a_stop_is_a_pause_and_a_few_dropped_readings_are_not():
    steady = _minutes(*range(100))
    assert pause_breaks(steady, 10).tolist() == []
    dropped = _minutes(*range(50), *range(53, 100))  # three readings lost
    assert pause_breaks(dropped, 10).tolist() == []
    assert pause_breaks(dropped, 2).tolist() == [50]  # unless the line says otherwise
    stopped = _minutes(*range(50), *range(50 + 600, 100 + 600), *range(2000, 2010))
    assert pause_breaks(stopped, 10).tolist() == [50, 100]
    # a line without timestamps has only its row order to go by
    assert pause_breaks([None] * 10, 10).tolist() == []
    assert pause_breaks([*stopped[:60], None], 10).tolist() == []


def test_each_stretch_is_scored_with_the_history_that_belongs_to_it():
    calls: list[tuple[list[float], int]] = []

    def score(rows: np.ndarray, history: int) -> np.ndarray:
        calls.append((rows[:, 0].tolist(), history))
        return rows[history:, 0] * 10

    X = np.arange(10, dtype=float).reshape(-1, 1)  # rows 0-2 history, 3-9 wanted
    np.testing.assert_array_equal(score_by_stretch(score, X, np.array([6]), 3), X[3:, 0] * 10)
    assert calls == [([0, 1, 2, 3, 4, 5], 3), ([6, 7, 8, 9], 0)]

    # history cut by a pause: only the part after the pause goes in
    calls.clear()
    np.testing.assert_array_equal(score_by_stretch(score, X, np.array([2]), 3), X[3:, 0] * 10)
    assert calls == [([2, 3, 4, 5, 6, 7, 8, 9], 1)]

    # a pause right where the wanted rows begin leaves them without history
    calls.clear()
    score_by_stretch(score, X, np.array([3]), 3)
    assert calls == [([3, 4, 5, 6, 7, 8, 9], 0)]
