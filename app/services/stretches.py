"""Where a line's samples stop being one contiguous series: pauses, and scoring around them.

A time-ordered detector (sliding windows, forecasts) reads each row together with the rows
before it. Across a pause (a stop, a missing day, a trusted clean window from weeks ago put in
front of recent data) those rows were never next to each other, and a window that joins them
looks like a fault. So such detectors train on and score each stretch between pauses on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import numpy as np


def pause_breaks(timestamps: Sequence[datetime | None], pause_steps: float) -> np.ndarray:
    """Row indices at which the series resumes after a pause: a step longer than
    ``pause_steps`` times the median step (``Settings.pause_steps``). Sorted; empty when none.

    Rows without a timestamp break nothing: their order is all there is to go by.
    """
    if len(timestamps) < 3 or any(ts is None for ts in timestamps):
        return np.zeros(0, dtype=np.int64)
    seconds = np.array([ts.timestamp() for ts in timestamps], dtype=np.float64)  # type: ignore[union-attr]
    steps = np.diff(seconds)
    positive = steps[steps > 0]
    if len(positive) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(steps > pause_steps * float(np.median(positive))) + 1


def score_by_stretch(
    score: Callable[[np.ndarray, int], np.ndarray],
    X: np.ndarray,
    breaks: np.ndarray,
    n_context: int = 0,
) -> np.ndarray:
    """``score(rows, k)`` for each stretch of ``X`` between ``breaks``, joined in row order.

    The first ``n_context`` rows of ``X`` are history before the rows wanted; ``score`` gets
    each stretch with the history that belongs to it (none after a pause) and its ``k``
    history rows, and returns outputs for the rows after them. History before a pause is
    dropped, since what came before a pause says nothing about the rows after it.
    """
    cuts = [int(b) for b in breaks if 0 < int(b) < len(X)]
    start = max([0, *(b for b in cuts if b <= n_context)])
    edges = [start, *(b for b in cuts if b > n_context), len(X)]
    outputs = []
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        history = max(0, n_context - a) if i == 0 else 0
        outputs.append(np.asarray(score(X[a:b], history)))
    return np.concatenate(outputs)
