"""How Beta-KD outputs become scores.

Final student score (methods.md §2.3): s(x) = z(s_hat) + gamma * z(l_data), where s_hat is the
score head's estimate of the teacher's Gaussianized score, l_data the row's reconstruction error
and z(.) a robust z with median / MAD taken on the training rows
(``detectors.common.robust_location_scale``). The default gamma is 0: the score is the
student's imitation of the teacher, which is what the student is for (replacing the teacher at
a fraction of the cost); gamma > 0 mixes in the student's own reconstruction error.
"""

from __future__ import annotations

import numpy as np


def combine_scores(
    s_hat: np.ndarray, rec: np.ndarray | None, stats: list[float], gamma: float
) -> np.ndarray:
    """z(s_hat) + gamma * z(rec) with stored (loc, scale) pairs [sl, ss, rl, rs].

    ``rec`` may be None at ``gamma == 0``: the score is then the teacher imitation alone.
    """
    sl, ss, rl, rs = stats
    out = (s_hat - sl) / ss
    if gamma > 0:
        if rec is None:
            raise ValueError("gamma > 0 needs the reconstruction errors")
        out = out + gamma * (rec - rl) / rs
    return out
