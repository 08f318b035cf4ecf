"""Windows, rarity levels and gate features for xTime (methods.md §4.2, §6.5).

- ``padded_windows``: the context window before every row. The series is left-padded with its
  first row (or preceded by caller-given context rows), so any number of rows >= 1 is scored.
- ``rarity_thresholds`` / ``rarity_levels``: per-sensor two-sided (|robust z|) or upper-tail
  quantile bands; a value's level is how many thresholds it exceeds (0 = normal, K = extreme).
- ``gate_features``: phi(x) = Haar wavelet band energies of the window, last value, |last| and
  slope per sensor. A Haar transform is written out here (no PyWavelets dependency): it is the
  db1 wavelet, enough for the gate to see "how much fast vs slow movement is in the window".
"""

from __future__ import annotations

import numpy as np
import torch


def padded_series(X: np.ndarray, window: int, context: np.ndarray | None = None) -> np.ndarray:
    """``window`` rows of history in front of X: the caller's context, else the first row."""
    if context is not None and len(context) > 0:
        ctx = np.asarray(context, dtype=np.float32)[-window:]
        if len(ctx) < window:
            ctx = np.concatenate([np.repeat(ctx[:1], window - len(ctx), axis=0), ctx])
    else:
        ctx = np.repeat(X[:1], window, axis=0)
    return np.concatenate([ctx, X], axis=0).astype(np.float32)


def window_batch(series: torch.Tensor, ends: torch.Tensor, window: int) -> torch.Tensor:
    """Windows ``series[e - window : e]`` for each end ``e`` (exclusive), shape (b, window, C)."""
    rows = ends.unsqueeze(1) - window + torch.arange(window)
    return series[rows]


def rarity_thresholds(Z: np.ndarray, levels: tuple[float, ...], two_sided: bool) -> np.ndarray:
    """Per-sensor thresholds tau_k, shape (K, C), non-decreasing in k."""
    if len(levels) == 0:
        return np.zeros((0, Z.shape[1]))
    mag = np.abs(Z) if two_sided else Z
    tau = np.quantile(mag, np.asarray(levels, dtype=np.float64), axis=0)
    return np.maximum.accumulate(tau, axis=0)


def rarity_levels(Z: np.ndarray, tau: np.ndarray, two_sided: bool) -> np.ndarray:
    """Level per value (n, C): the number of thresholds strictly exceeded."""
    mag = np.abs(Z) if two_sided else Z
    if tau.shape[0] == 0:
        return np.zeros(Z.shape, dtype=np.int64)
    return (mag[:, None, :] > tau[None, :, :]).sum(axis=1).astype(np.int64)


def _haar_energies(w: torch.Tensor, n_levels: int) -> torch.Tensor:
    """log1p of mean squared Haar detail coefficients per level, plus the approximation."""
    b, length, c = w.shape
    usable = (length // (2**n_levels)) * (2**n_levels)
    a = w[:, length - usable :, :]
    out = []
    for _ in range(n_levels):
        a = a.reshape(b, -1, 2, c)
        detail = (a[:, :, 1, :] - a[:, :, 0, :]) / np.sqrt(2.0)
        a = (a[:, :, 1, :] + a[:, :, 0, :]) / np.sqrt(2.0)
        out.append(detail.pow(2).mean(dim=1))
    out.append(a.pow(2).mean(dim=1) / float(2**n_levels))
    return torch.log1p(torch.stack(out, dim=1)).reshape(b, -1)


def gate_features(w: torch.Tensor, n_levels: int) -> torch.Tensor:
    """phi(window) for the gate: wavelet energies, last value, |last value| and slope per sensor."""
    length = w.shape[1]
    t = torch.arange(length, dtype=w.dtype) - (length - 1) / 2.0
    slope = (w * t[None, :, None]).sum(dim=1) / t.pow(2).sum().clamp_min(1.0)
    last = w[:, -1, :]
    levels = max(0, min(n_levels, int(np.log2(max(1, length)))))
    parts = [last, last.abs(), slope * length]
    if levels > 0:
        parts.insert(0, _haar_energies(w, levels))
    return torch.cat(parts, dim=1)


def gate_feature_dim(channels: int, window: int, n_levels: int) -> int:
    levels = max(0, min(n_levels, int(np.log2(max(1, window)))))
    return channels * (3 + (levels + 1 if levels > 0 else 0))


def holdout_blocks(n: int, share: float, block: int) -> np.ndarray:
    """Rows kept out of expert training for the gate: every ``1/share``-th block of ``block``
    rows (spread over the series so the gate sees every regime), as a boolean mask (n,).

    Trained on rows the experts never fitted, the gate learns which expert *generalizes* near
    extremes instead of rewarding the one that memorized the few rare training windows.
    """
    mask = np.zeros(n, dtype=bool)
    if share <= 0 or n < 4 * block:
        return mask
    period = max(2, int(round(1.0 / share)))
    blocks = np.arange(n) // block
    mask[blocks % period == period - 1] = True
    return mask
