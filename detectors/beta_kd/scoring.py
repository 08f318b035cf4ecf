"""How Beta-KD outputs become scores.

Final student score (methods.md §2.3): s(x) = z(s_hat) + gamma * z(l_data), where s_hat is the
score head's estimate of the teacher's Gaussianized score, l_data the row's reconstruction error
and z(.) a robust z with median / MAD taken on the training rows
(``detectors.common.robust_location_scale``).
"""

from __future__ import annotations

import numpy as np


def combine_scores(
    s_hat: np.ndarray, rec: np.ndarray, stats: list[float], gamma: float
) -> np.ndarray:
    """z(s_hat) + gamma * z(rec) with stored (loc, scale) pairs [sl, ss, rl, rs]."""
    sl, ss, rl, rs = stats
    out = (s_hat - sl) / ss
    if gamma > 0:
        out = out + gamma * (rec - rl) / rs
    return out
