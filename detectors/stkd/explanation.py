"""Which readings drive an STKD score.

Each score term has its own per-feature breakdown (the students' squared reconstruction error,
the gaps to the nearest purified-pool references in the kNN term's space, the Mahalanobis
products). A row's explanation mixes them in proportion to how much each term lifts that row's
score, so a row flagged by the kNN term is explained by the readings that put it far from the
pool, not by a reconstruction error that is typical of the pool.
"""

from __future__ import annotations

import numpy as np


def row_shares(values: np.ndarray) -> np.ndarray:
    """Non-negative per-feature values as shares of their row (a zero row stays zero)."""
    values = np.abs(np.asarray(values, dtype=np.float64))
    total = values.sum(axis=1, keepdims=True)
    return np.divide(values, total, out=np.zeros_like(values), where=total > 0)


def gaussian_feature_terms(xs: np.ndarray, mu: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """|(x - mu)_j (P (x - mu))_j|: each feature's part of the squared Mahalanobis distance
    (the signed parts sum to it; a feature that only offsets another still counts)."""
    centred = np.asarray(xs, dtype=np.float64) - np.asarray(mu, dtype=np.float64)
    return np.abs(centred * (centred @ np.asarray(precision, dtype=np.float64)))


def mix_term_shares(parts: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Per-feature shares from (lift, per-feature values) pairs, one per score term.

    ``lift`` is the term's weighted robust z per row; only a positive lift (the term says
    "more anomalous than the typical pool row") counts. A row no term lifts gets the plain
    mean of the terms' shares. Rows sum to 1 wherever any term has a non-zero feature.
    """
    lifts = np.stack([np.clip(lift, 0.0, None) for lift, _ in parts], axis=1)
    lifts[lifts.sum(axis=1) == 0] = 1.0
    mixed = np.zeros(np.shape(parts[0][1]))
    for j, (_, values) in enumerate(parts):
        share = row_shares(values)
        share *= lifts[:, j : j + 1]
        mixed += share
    return row_shares(mixed)
