"""Review memory: what an engineer dismissed stays dismissed, what they confirmed stays loud.

Pinning a dismissed false alarm keeps it in training, but a handful of samples among thousands
barely moves the students, so its near-duplicates kept alarming after the retrain. The reviewed
samples are kept as references instead, and a sample's score is capped at the robust z of its
distance to the nearest reviewed normal, standardized like the pool's own distances between
neighbours. Only within Tukey's far-out fence of those distances: beyond it the cap also reached
faults that were merely nearer a dismissal than the threshold (README.md, "Reviews that stick").
A sample nearer a confirmed anomaly than to any reviewed normal is never capped.

The rows view measures rows; the windows view measures each window's per-channel mean and
spread (``windows.window_summaries``).
"""

from __future__ import annotations

import numpy as np
import torch

from detectors.common import robust_location_scale


def reach_stats(pool_distances: np.ndarray) -> list[float]:
    """Location and scale of the pool's nearest-reference distances, then their far-out fence."""
    q1, q3 = np.percentile(pool_distances, [25, 75])
    return [*robust_location_scale(pool_distances), float(q3 + 3.0 * (q3 - q1))]


def cap_by_reviews(
    score: torch.Tensor,
    to_review: torch.Tensor,
    to_fault: torch.Tensor | None,
    stats: list[float],
) -> torch.Tensor:
    """``score`` capped where a sample lies within reach of a reviewed normal and no nearer a
    confirmed anomaly; the cap never raises a score."""
    loc, scale, reach = stats
    near = to_review <= reach
    capped = torch.where(near, torch.minimum(score, (to_review - loc) / scale), score)
    if to_fault is not None:
        capped = torch.where(to_fault < to_review, score, capped)
    return capped
