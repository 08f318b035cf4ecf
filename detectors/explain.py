"""Per-feature contributions to each sample's anomaly score, for any registered detector.

``explain(detector, X)`` returns a non-negative (n, d) array whose rows sum to 1 (or are all 0
when a row has nothing to attribute), so the app can show "top contributing features" the same
way for every detector:

- detectors with their own ``explain(X)`` (STKD: share of the squared reconstruction error per
  feature) use it;
- otherwise a generic fallback: the share of each feature's squared robust z-deviation from the
  training median, |x - median| / robust scale, with the statistics stored at fit time
  (``feature_median_``, ``feature_scale_``). It explains "which readings are unusual", not the
  model's internals, and is labelled as such in the UI.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def robust_deviation_shares(X: np.ndarray, median: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Row-normalized squared robust z-deviation of every feature."""
    z2 = ((np.asarray(X, dtype=np.float64) - median) / scale) ** 2
    total = z2.sum(axis=1, keepdims=True)
    return np.divide(z2, total, out=np.zeros_like(z2), where=total > 0)


def explain(detector: Any, X: Any) -> np.ndarray:
    """Contributions of each feature to each row's score, shape (n, d), rows summing to 1."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    own = getattr(detector, "explain", None)
    if callable(own):
        return np.asarray(own(X), dtype=np.float64)
    median = getattr(detector, "feature_median_", None)
    scale = getattr(detector, "feature_scale_", None)
    if median is None or scale is None:
        raise ValueError(
            f"{type(detector).__name__} has no explain() and no stored feature statistics; "
            "create it with detectors.create_detector and fit it first"
        )
    if len(median) != X.shape[1]:
        raise ValueError(f"X has {X.shape[1]} features, the detector was fitted on {len(median)}")
    return robust_deviation_shares(X, median, scale)


def score_and_explain(detector: Any, X: Any) -> tuple[np.ndarray, np.ndarray]:
    """``decision_function(X)`` and ``explain(detector, X)``, as the scoring job stores both.

    Detectors that can share the work between the two have a ``score_and_explain`` of their own
    (STKD's windows view runs each window through its networks once instead of twice).
    """
    own = getattr(detector, "score_and_explain", None)
    if callable(own):
        scores, shares = own(np.asarray(X, dtype=np.float64))
        return np.asarray(scores, dtype=np.float64), np.asarray(shares, dtype=np.float64)
    return np.asarray(detector.decision_function(X), dtype=np.float64), explain(detector, X)
