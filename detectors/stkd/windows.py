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

    "last": each row takes the window that ends at it (or the latest one ending before it; rows
    before the first window's end take the first window). A row's score is then final once the
    row has arrived, and every row's score is one window's, so the threshold means the same
    for a batch's last rows as for any other. "mean" / "max": over the windows covering the
    row, which at a series' ends are fewer (a noisier score) and at a batch's end not all there
    yet.
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
