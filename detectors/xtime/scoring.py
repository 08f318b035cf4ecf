"""How xTime's outputs become scores (methods.md §4.3 option 1 [R]).

- Anomaly score: the fused forecast's residual per sensor, divided by that sensor's robust
  residual scale on the training series, aggregated over sensors ("rms" or "max"), then
  standardized by the median / MAD of the training scores (§6.1), so 0 is a typical row
  (``detectors.common.robust_scale`` / ``robust_location_scale``).
- Explanation: each sensor's share of the squared standardized residual.
- Extreme risk: 1 - prod_j (1 - hazard_j) over the horizon (``loss.hazard_to_risk``).
"""

from __future__ import annotations

import numpy as np

from detectors.common import row_shares


def standardized_residuals(
    target: np.ndarray, forecast: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    return (target - forecast) / scale


def aggregate(z: np.ndarray, how: str) -> np.ndarray:
    """Row score from per-sensor standardized residuals (n, C)."""
    if how == "rms":
        return np.sqrt(np.mean(z**2, axis=1))
    if how == "max":
        return np.max(np.abs(z), axis=1)
    raise ValueError(f"score_agg must be 'rms' or 'max', got {how!r}")


def residual_shares(z: np.ndarray) -> np.ndarray:
    """Per-sensor share of the squared standardized residual; rows sum to 1 (or are all 0)."""
    return row_shares(z.astype(np.float64) ** 2)
