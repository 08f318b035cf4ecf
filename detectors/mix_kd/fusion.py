"""Test-time fusion of the two students and how fused embeddings become scores (methods.md §3.3).

- Pseudo-classes: k-means prototypes of the teacher's embeddings of the training rows;
  p_j(x) = softmax_j(-||z - mu_j|| / tau), tau = temperature * median nearest-prototype
  distance.
  Euclidean, not squared, distances: with squared distances the logit gaps grow with the
  distance from the prototypes, so a row knocked off the manifold by noise would look MORE
  confident; with plain distances the gaps are bounded by the prototype spacing (triangle
  inequality) and an off-manifold row gets a flatter, higher-entropy assignment.
- Parameterized entropy: Renyi of order q (q = 1: Shannon).
- Weight choice per batch, never per row (a row could pick the weight that makes it look
  normal): lambda* = argmin over the grid of the batch's mean entropy EXCESS over the clean
  training rows at the same lambda. The excess, not the raw entropy, because the noise-trained
  student is smoother and has lower entropy even on clean data. The clean student (lambda = 1)
  is the default and is only left when another weight is better by a paired t-test over the
  batch's rows, so clean batches keep the clean student's accuracy.
- Score: mean distance to the k nearest training rows in the fused space at lambda*, robustly
  standardized with that lambda's training scores (leave-self-out) and shifted so that every
  lambda's clean-data (1 - contamination) quantile is the same threshold (the detector's
  ``score_offsets_``); a move away from the clean student is undone when it raises the batch's
  median robust z (``MixKDDetector._guard``).
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors


def prototype_probs(Z: np.ndarray, protos: np.ndarray, tau: float) -> np.ndarray:
    """(n, K) soft assignment to the prototypes from Euclidean distances."""
    dist = np.sqrt(((Z[:, None, :] - protos[None, :, :]) ** 2).sum(-1))
    logits = -dist / tau
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def renyi_entropy(p: np.ndarray, q: float) -> np.ndarray:
    """Row-wise Renyi entropy of order q (Shannon at q = 1)."""
    if abs(q - 1.0) < 1e-9:
        return -(p * np.log(np.clip(p, 1e-12, None))).sum(axis=1)
    return np.log(np.clip((p**q).sum(axis=1), 1e-300, None)) / (1.0 - q)


def entropy_per_weight(
    Zc: np.ndarray, Zn: np.ndarray, grid: np.ndarray, protos: np.ndarray, tau: float, q: float
) -> np.ndarray:
    """(G, n) entropy of each row's prototype assignment at each fusion weight."""
    return np.stack(
        [renyi_entropy(prototype_probs(w * Zc + (1 - w) * Zn, protos, tau), q) for w in grid]
    )


def select_weight(excess: np.ndarray, z_min: float) -> int:
    """Grid index for one batch from its (G, m) per-row entropy excess (grid sorted ascending).

    The clean student (last index) is kept unless another weight lowers the mean excess
    significantly: a paired t-statistic over the batch's rows above ``z_min``. Among the
    significant weights the lowest mean excess wins. A single row (m = 1) takes the plain argmin.
    """
    mean = excess.mean(axis=1)
    base = len(mean) - 1
    m = excess.shape[1]
    if m < 2:
        return int(np.flatnonzero(mean <= mean.min() + 1e-12).max())
    diff = excess[base][None, :] - excess
    se = diff.std(axis=1, ddof=1) / np.sqrt(m)
    t = np.divide(diff.mean(axis=1), se, out=np.zeros(len(mean)), where=se > 0)
    cand = [g for g in range(len(mean)) if g == base or t[g] > z_min]
    return int(min(cand, key=lambda g: (mean[g], -g)))


class KnnBank:
    """Training rows embedded by both students; one kNN index per fusion weight, built lazily."""

    def __init__(self, bank_c: np.ndarray, bank_n: np.ndarray, k: int) -> None:
        self.bank_c = bank_c
        self.bank_n = bank_n
        self.k = int(min(k, max(1, len(bank_c) - 1)))
        self._index: dict[float, NearestNeighbors] = {}

    def _nn(self, w: float) -> NearestNeighbors:
        if w not in self._index:
            self._index[w] = NearestNeighbors().fit(w * self.bank_c + (1 - w) * self.bank_n)
        return self._index[w]

    def neighbours(
        self, Z: np.ndarray, w: float, self_rows: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """k nearest bank rows (distances, indices); ``self_rows`` drops the row itself."""
        extra = 1 if self_rows else 0
        dist, idx = self._nn(w).kneighbors(Z, n_neighbors=self.k + extra)
        return dist[:, extra:], idx[:, extra:]

    def score(self, Z: np.ndarray, w: float, self_rows: bool = False) -> np.ndarray:
        return self.neighbours(Z, w, self_rows)[0].mean(axis=1)
