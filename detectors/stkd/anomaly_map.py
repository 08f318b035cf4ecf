"""How STKD's parts become one anomaly score.

score = mean over final students of [ z(recon error) + eta * z(student-teacher discrepancy) ]
        + knn_weight * z(distance to the purified pool)

Every z is a robust z-score (median / MAD) taken on the purified training pool, so the parts are
on one scale and a score of ~0 means "typical of what the model kept as normal".

The pool-distance term is our addition to the reconstruction (methods.md marks the STKD design as
[R]): the mean distance to the k nearest of at most ``knn_refs`` samples drawn from the purified
pool. Because the references come from the purified pool, a dense cluster of anomalies (which
makes plain kNN fail under heavy contamination) has few or no references. Cost is O(n * refs * d),
linear in n.
"""

from __future__ import annotations

import numpy as np
import torch


@torch.no_grad()
def knn_distance(
    queries: np.ndarray, refs: torch.Tensor, k: int, batch_size: int = 8192
) -> np.ndarray:
    """Mean Euclidean distance to the k nearest references, ignoring exact self-matches.

    A zero distance is taken to be the query itself (it was drawn as a reference), so the k
    neighbours after it are used; new data never loses more than that one exact duplicate.
    """
    refs = refs.float()
    r2 = refs.pow(2).sum(dim=1)
    kk = min(k + 1, refs.shape[0])
    out = np.empty(len(queries))
    for start in range(0, len(queries), batch_size):
        q = torch.as_tensor(np.asarray(queries[start : start + batch_size], dtype=np.float32))
        d2 = (q.pow(2).sum(dim=1, keepdim=True) - 2.0 * q @ refs.T + r2).clamp_min(0.0)
        near = torch.topk(d2, kk, dim=1, largest=False).values.sqrt()
        self_match = near[:, :1] <= 1e-6
        first_k = near[:, : kk - 1] if kk > 1 else near
        after_self = near[:, 1:kk] if kk > 1 else near
        chosen = torch.where(self_match, after_self, first_k)
        out[start : start + len(q)] = chosen.mean(dim=1).double().numpy()
    return out


def fit_gaussian(pool: np.ndarray, shrinkage: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Mean and shrunk precision matrix of the purified pool (shrinkage keeps it invertible)."""
    pool = np.asarray(pool, dtype=np.float64)
    mu = pool.mean(axis=0)
    cov = np.atleast_2d(np.cov(pool, rowvar=False))
    d = cov.shape[0]
    target = np.trace(cov) / d * np.eye(d)
    cov = (1 - shrinkage) * cov + shrinkage * target + 1e-6 * np.eye(d)
    return mu, np.linalg.inv(cov)


def mahalanobis_distance(
    X: np.ndarray, mu: np.ndarray, precision: np.ndarray, batch_size: int = 16384
) -> np.ndarray:
    """Mahalanobis distance of each row to the pool Gaussian, in bounded-memory batches."""
    out = np.empty(len(X))
    for start in range(0, len(X), batch_size):
        c = np.asarray(X[start : start + batch_size], dtype=np.float64) - mu
        quad = ((c @ precision) * c).sum(axis=1)
        out[start : start + len(c)] = np.sqrt(np.maximum(quad, 0.0))
    return out
