"""Sample views: what one STKD "sample" is.

- ``RowView``: each row of X is a sample (tabular data, embeddings).
- ``WindowView``: each sliding window of a time-ordered series is a sample, shaped
  (channels, window) for the conv autoencoder. Windows are gathered on demand from the series,
  never materialized all at once, so memory stays O(n * channels).

Helpers map row masks onto windows and window scores back onto rows.
"""

from __future__ import annotations

import numpy as np
import torch


class RowView:
    """Rows of a float32 tensor as samples."""

    def __init__(self, data: torch.Tensor) -> None:
        self.data = data

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        return self.data[idx]

    def flat_features(self) -> np.ndarray:
        """Per-sample features for the parameter-free seed score."""
        return self.data.numpy()


class WindowView:
    """Sliding windows over a (n_rows, channels) series; ``starts`` are the window start rows."""

    def __init__(self, series: torch.Tensor, starts: np.ndarray, window: int) -> None:
        self.series = series
        self.starts = torch.as_tensor(np.asarray(starts, dtype=np.int64))
        self.window = int(window)
        self._offsets = torch.arange(self.window)

    def __len__(self) -> int:
        return int(self.starts.shape[0])

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        rows = self.starts[idx].unsqueeze(1) + self._offsets  # (b, window)
        return self.series[rows].permute(0, 2, 1).contiguous()  # (b, channels, window)


def pad_series(series: np.ndarray, window: int) -> np.ndarray:
    """Edge-replicate the last row so that a short series still holds one full window."""
    n = series.shape[0]
    if n >= window:
        return series
    return np.concatenate([series, np.repeat(series[-1:], window - n, axis=0)], axis=0)


def window_starts(n_rows: int, window: int, stride: int) -> np.ndarray:
    """Start rows of windows with the given stride; the last window always ends at the last row."""
    last = n_rows - window
    starts = np.arange(0, last + 1, max(1, stride), dtype=np.int64)
    if starts[-1] != last:
        starts = np.append(starts, last)
    return starts


def check_breaks(breaks: object, n_rows: int) -> np.ndarray:
    """``breaks`` as sorted unique row indices in 1..n_rows-1: where a new stretch begins.

    A break is a pause in the data (a stop, a missing day, an old clean window put in front of
    recent data): a window across it would join rows that were never next to each other.
    """
    if breaks is None:
        return np.zeros(0, dtype=np.int64)
    arr = np.asarray(breaks)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError("breaks must be a 1-D array of row indices")
    arr = np.unique(arr.astype(np.int64))
    if arr.size and (arr[0] < 1 or arr[-1] > n_rows - 1):
        raise ValueError(f"breaks must lie in 1..{n_rows - 1} (row indices where a stretch begins)")
    return arr


def stretches(n_rows: int, breaks: np.ndarray) -> list[tuple[int, int]]:
    """The contiguous stretches [start, end) that ``breaks`` cut ``n_rows`` rows into."""
    edges = [0, *(int(b) for b in breaks), n_rows]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def window_starts_within(n_rows: int, breaks: np.ndarray, window: int, stride: int) -> np.ndarray:
    """``window_starts`` of every stretch that holds a whole window; none crosses a break.

    A stretch shorter than the window contributes no window (too short to learn from).
    """
    parts = [
        a + window_starts(b - a, window, stride)
        for a, b in stretches(n_rows, breaks)
        if b - a >= window
    ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def windows_crossing(starts: np.ndarray, window: int, breaks: np.ndarray) -> np.ndarray:
    """True for windows holding rows on both sides of a break."""
    if len(breaks) == 0:
        return np.zeros(len(starts), dtype=bool)
    starts = np.asarray(starts, dtype=np.int64)
    first_break_after = np.searchsorted(breaks, starts, side="right")
    ahead = np.append(breaks, np.iinfo(np.int64).max)[first_break_after]
    return ahead < starts + window


def windows_touching(row_mask: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """True for windows containing at least one row of ``row_mask``."""
    csum = np.concatenate([[0], np.cumsum(row_mask.astype(np.int64))])
    return (csum[starts + window] - csum[starts]) > 0


def windows_within(row_mask: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """True for windows whose rows are all in ``row_mask``."""
    csum = np.concatenate([[0], np.cumsum(row_mask.astype(np.int64))])
    return (csum[starts + window] - csum[starts]) == window


def rows_from_windows(
    window_scores: np.ndarray, starts: np.ndarray, window: int, n_rows: int, how: str
) -> np.ndarray:
    """Map window scores to rows.

    "mean" / "max": over the windows covering the row, which centres a short fault on where it
    happened; at a series' ends there are fewer of them (a noisier score), and at a batch's end
    the ones reaching into the next batch are not there yet. "last": each row takes the window
    that ends at it (or the latest one ending before it; rows before the first window's end
    take the first window): final once the row has arrived, one window's score for every row,
    but a short fault lifts the rows after it.
    """
    scores = np.asarray(window_scores, dtype=np.float64)
    if how == "last":
        starts = np.asarray(starts, dtype=np.int64)
        ends = starts + window - 1
        latest = np.searchsorted(ends, np.arange(n_rows), side="right") - 1
        return scores[np.clip(latest, 0, None)]
    if how == "mean":
        total = np.zeros(n_rows + 1)
        count = np.zeros(n_rows + 1)
        np.add.at(total, starts, scores)
        np.add.at(total, starts + window, -scores)
        np.add.at(count, starts, 1.0)
        np.add.at(count, starts + window, -1.0)
        total, count = np.cumsum(total)[:n_rows], np.cumsum(count)[:n_rows]
        return total / np.maximum(count, 1.0)
    if how == "max":
        out = np.full(n_rows, -np.inf)
        for offset in range(window):
            np.maximum.at(out, starts + offset, scores)
        return out
    raise ValueError(f"row aggregation must be 'last', 'mean' or 'max', got {how!r}")


EDGE_LEVELS = np.linspace(0.0, 1.0, 101)
"""Quantile levels of the edge calibration (``edge_quantiles``)."""


def covering_counts(n_rows: int, window: int) -> np.ndarray:
    """How many stride-1 windows of a ``n_rows`` series cover each row (``window`` in the
    middle, fewer within ``window - 1`` rows of either end)."""
    t = np.arange(n_rows)
    return np.minimum(t, n_rows - window) - np.maximum(0, t - window + 1) + 1


def edge_quantiles(window_scores: list[np.ndarray], window: int) -> np.ndarray | None:
    """Quantiles (``EDGE_LEVELS``) of the mean of k consecutive window scores, k = 1..window,
    over stride-1 window scores of training stretches; None when no stretch is long enough.

    A row near either end of a series is the mean of k < window windows: a noisier number than
    the middle rows' mean of ``window``, so more of such rows pass a threshold set on the
    middle ones. At the end of every batch that is 31 rows whose windows into the next batch
    do not exist yet (README.md, "Which window a row's score comes from").
    """
    levels = []
    for k in range(1, window + 1):
        means = [
            (c[k:] - c[:-k]) / k
            for c in (np.concatenate([[0.0], np.cumsum(w)]) for w in window_scores)
            if len(c) > k
        ]
        if not means:
            return None
        q = np.quantile(np.concatenate(means), EDGE_LEVELS)
        levels.append(q + np.arange(len(q)) * 1e-12)  # strictly increasing for interpolation
    return np.array(levels)


def calibrate_edges(scores: np.ndarray, counts: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Map each row's mean of k windows onto the distribution of the full window count's mean
    (quantile matching per k; beyond the fitted range, the gap is scaled by the ratio of the
    two distributions' upper or lower spreads, so an extreme row stays extreme)."""
    out = np.asarray(scores, dtype=np.float64).copy()
    full = table[-1]
    mid = len(EDGE_LEVELS) // 2
    for k in np.unique(counts[counts < len(table)]):
        rows = counts == k
        own = table[k - 1]
        x = out[rows]
        mapped = np.interp(np.interp(x, own, EDGE_LEVELS), EDGE_LEVELS, full)
        up = _spread_ratio(full[-1] - full[mid], own[-1] - own[mid])
        down = _spread_ratio(full[mid] - full[0], own[mid] - own[0])
        above, below = x > own[-1], x < own[0]
        mapped[above] = full[-1] + (x[above] - own[-1]) * up
        mapped[below] = full[0] + (x[below] - own[0]) * down
        out[rows] = mapped
    return out


def _spread_ratio(full: float, own: float) -> float:
    """How much narrower the full count's spread is than k windows' (at most 1)."""
    return float(np.clip(full / own, 0.0, 1.0)) if own > 1e-12 else 1.0


def window_summaries(series: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """Each window as its per-channel mean and standard deviation, shape (n_windows, 2 * channels).

    What state the line is in and how much it moves, with no regard to where in the window a
    pattern falls: two windows of the same operating state are close even when they are not
    aligned. Prefix sums keep it O(n * channels) for any number of windows.
    """
    x = np.asarray(series, dtype=np.float64)
    zero = np.zeros((1, x.shape[1]))
    first = np.concatenate([zero, np.cumsum(x, axis=0)])
    second = np.concatenate([zero, np.cumsum(x * x, axis=0)])
    starts = np.asarray(starts, dtype=np.int64)
    mean = (first[starts + window] - first[starts]) / window
    var = (second[starts + window] - second[starts]) / window - mean**2
    return np.hstack([mean, np.sqrt(np.clip(var, 0.0, None))]).astype(np.float32)


def covering_starts(rows: np.ndarray, window: int, n_rows: int) -> np.ndarray:
    """Starts of every window that covers at least one of ``rows``, sorted and unique.

    A row's score is the mean over the windows covering it, so a verdict on the row is a verdict
    on those windows.
    """
    rows = np.asarray(rows, dtype=np.int64)
    last = max(0, n_rows - window)
    starts = (rows[:, None] - np.arange(window)[None, :]).ravel()
    return np.unique(np.clip(starts, 0, last))
