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
    """Map window scores to rows by the mean or max over the windows covering each row."""
    scores = np.asarray(window_scores, dtype=np.float64)
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
    raise ValueError(f"row aggregation must be 'mean' or 'max', got {how!r}")


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
