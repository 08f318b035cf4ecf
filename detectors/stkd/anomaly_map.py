"""How STKD's parts become one anomaly score.

score = mean over final students of [ z(recon error) + eta * z(student-target discrepancy) ]
        + knn_weight * z(mean distance to the k nearest purified-pool references)
        + gauss_weight * z(Mahalanobis distance to the purified pool)

(defaults: eta 0, knn_weight 4, k 5, gauss_weight 0: the kNN term carries most of the score).

Every z is a robust z-score (median / MAD) taken on the purified training pool, so the parts are
on one scale and a score of ~0 means "typical of what the model kept as normal".

The pool-distance terms are our addition to the reconstruction (methods.md marks the STKD design
as [R]). The kNN term measures the mean distance to the k nearest of at most ``knn_refs`` samples
drawn from the purified pool. Because the references come from the purified pool, a dense cluster
of anomalies (which makes plain kNN fail under heavy contamination) has few or no references.
By default it measures in the *angular* view (``angle_frame`` / ``to_angle_t``): each row
rescaled to its share of the fitted range from the per-feature minimum, then divided by its
length plus three median row lengths. That weighs the mix of readings more, and their level less
the higher it is, than the Mahalanobis and reconstruction terms do (README.md, "The angular kNN
term"). Cost is O(n * refs * d), linear in n; five neighbours cost a partial sort per batch
(README.md, "Five neighbours, no Gaussian term").
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

SELF_TOL = 1e-5  # squared distance (relative to 1 + |q|^2) below which a reference is the query
ANGLE_SOFTENING = 3.0  # added to row lengths in the angular view, in median row lengths


@torch.no_grad()
def knn_distance_t(
    q: torch.Tensor, refs: torch.Tensor, r2: torch.Tensor, k: int, skip_self: bool = True
) -> torch.Tensor:
    """Mean distance of each row of ``q`` to its ``k`` nearest ``refs`` (float32, one batch).

    With ``skip_self``, a reference at (numerically) zero distance is taken to be the query
    itself, or an exact duplicate of it, and skipped; the float32 expansion |q|^2 - 2 q.r + |r|^2
    leaves ~1e-6 relative error, hence the relative tolerance. Reviews turn it off: a reviewed
    row is its own nearest review. ``k`` = 1 uses a plain minimum (``amin``: values only, 4x
    cheaper than ``min``, 40x cheaper than ``topk`` on CPU), larger ``k`` a partial sort.

    With ``skip_self`` and k > 1 the query is looked for among the k + 1 nearest only, not
    masked out of every distance: the same k references, without a comparison and a fill over
    the whole batch x refs matrix (about 7 % of scoring's time at 1M rows on an AVX2 host). Rows
    with two or more references at zero distance (duplicates of the query) take the masked path.
    """
    kk = min(int(k), refs.shape[0])
    if not skip_self or kk == 1 or kk == refs.shape[0]:
        d2 = _squared_distances(q, refs, r2, skip_self)
        near = d2.amin(dim=1, keepdim=True) if kk == 1 else _k_smallest(d2, kk)
        return _mean_distance(near)
    d2 = _squared_distances(q, refs, r2, skip_self=False)
    near = _k_smallest(d2, kk + 1)
    tol = _self_tolerance(q.pow(2).sum(dim=1, keepdim=True))
    is_self = near <= tol
    near = near.masked_fill_(is_self, float("inf")).sort(dim=1).values[:, :kk]
    twins = torch.nonzero(is_self.sum(dim=1) > 1).flatten()
    if len(twins):
        d2_twins = d2[twins]
        d2_twins.masked_fill_(d2_twins <= tol[twins], float("inf"))
        near[twins] = _k_smallest(d2_twins, kk)
    return _mean_distance(near)


def _mean_distance(near: torch.Tensor) -> torch.Tensor:
    """Mean distance from the k smallest squared distances of each row (consumed); a row whose
    references were all the query itself (inf) is at distance 0."""
    near = torch.where(torch.isinf(near), torch.zeros_like(near), near)
    return near.clamp_min_(0.0).sqrt_().mean(dim=1)


def _squared_distances(
    q: torch.Tensor, refs: torch.Tensor, r2: torch.Tensor, skip_self: bool
) -> torch.Tensor:
    """Squared distances (queries x refs); with ``skip_self``, the query itself is at inf."""
    q2 = q.pow(2).sum(dim=1, keepdim=True)
    d2 = torch.addmm(r2, q, refs.T, alpha=-2.0).add_(q2)
    if skip_self:
        d2.masked_fill_(d2 <= _self_tolerance(q2), float("inf"))
    return d2


def _self_tolerance(q2: torch.Tensor) -> torch.Tensor:
    """Squared distance at or below which a reference is the query itself, per query."""
    return SELF_TOL * (1.0 + q2)


@torch.no_grad()
def knn_distance_and_gaps(
    queries: np.ndarray,
    refs: torch.Tensor,
    k: int,
    space: Callable[[torch.Tensor], torch.Tensor] | None = None,
    batch_size: int = 16384,
) -> tuple[np.ndarray, np.ndarray]:
    """``knn_distance`` (skipping the query itself), and per feature the mean squared gap to
    the same ``k`` references, measured where the kNN term measures (``space``): a row's gaps
    say which readings put it far from the purified pool.

    One distance pass for both. The references within the k-th distance are a mask, and their
    gaps come from two products with it (|q|^2 - 2 q r + r^2 per feature) rather than from
    their indices, which cost 3x as much to find on CPU; references tied at the k-th distance
    all count.
    """
    refs = refs.float() if space is None else space(refs.float())
    r2 = refs.pow(2).sum(dim=1)
    kk = min(int(k), refs.shape[0])
    dist = np.empty(len(queries))
    gaps = np.empty(np.shape(queries))
    for start in range(0, len(queries), batch_size):
        q = torch.as_tensor(np.asarray(queries[start : start + batch_size], dtype=np.float32))
        if space is not None:
            q = space(q)
        d2 = _squared_distances(q, refs, r2, skip_self=True)
        near = _k_smallest(d2, kk)
        kth = near.amax(dim=1, keepdim=True)  # inf when fewer than k references are not self
        kth.clamp_max_(torch.finfo(d2.dtype).max)  # so the query itself (inf) is never chosen
        chosen = (d2 <= kth).to(q.dtype)
        count = chosen.sum(dim=1, keepdim=True)
        g = q.pow(2) * count - 2.0 * q * (chosen @ refs) + chosen @ refs.pow(2)
        gaps[start : start + len(q)] = (g.clamp_min_(0.0) / count.clamp_min(1.0)).double().numpy()
        dist[start : start + len(q)] = _mean_distance(near).double().numpy()
    return dist, gaps


def _k_smallest(d2: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k`` smallest entries of each row of ``d2``, in no particular order.

    On CPU numpy's partial sort is 5x faster than ``topk`` (k = 5 of 256, 16k rows, one thread:
    7 ms against 34 ms), which decides whether scoring keeps up with IForest at 1M rows.
    """
    if d2.device.type == "cpu":
        return torch.from_numpy(np.partition(d2.numpy(), k - 1, axis=1)[:, :k])
    return torch.topk(d2, k, dim=1, largest=False, sorted=False).values


@torch.no_grad()
def knn_distance(
    queries: np.ndarray,
    refs: torch.Tensor,
    k: int,
    batch_size: int = 16384,
    skip_self: bool = True,
    space: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> np.ndarray:
    """``knn_distance_t`` over a numpy array, in bounded-memory batches.

    ``space`` maps each batch of queries (and the refs, once) into the space the distance is
    measured in, so a transformed copy of all queries is never held at once.
    """
    refs = refs.float() if space is None else space(refs.float())
    r2 = refs.pow(2).sum(dim=1)
    out = np.empty(len(queries))
    for start in range(0, len(queries), batch_size):
        q = torch.as_tensor(np.asarray(queries[start : start + batch_size], dtype=np.float32))
        if space is not None:
            q = space(q)
        out[start : start + len(q)] = knn_distance_t(q, refs, r2, k, skip_self).double().numpy()
    return out


def angle_frame(Xs: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """The frame of the angular view: per-feature minimum and range of the fitted rows, and the
    softening length.

    The origin is the corner of the fitted data, not its centre, so a direction says how each
    reading sits within its own range relative to the others. Near the corner (a machine idling
    with every reading low) a direction is mostly noise, so lengths get ``ANGLE_SOFTENING`` x the
    median row length added before dividing: rows shrink toward the corner the nearer they are
    to it instead of scattering over the sphere, and a row of median length lands at a quarter
    of the unit length. The softening is the smallest that kept a line idling at the corner 10 %
    of the time as quiet as the Euclidean term did (README.md, "The angular kNN term"). A
    constant feature gets range 1.
    """
    lo = Xs.min(axis=0).astype(np.float32)
    span = (Xs.max(axis=0) - lo).astype(np.float32)
    span[~(span > 0)] = 1.0
    sample = Xs
    if len(Xs) > 50_000:
        sample = Xs[np.sort(np.random.default_rng(seed).choice(len(Xs), 50_000, replace=False))]
    lengths = np.linalg.norm(np.clip((sample - lo) / span, 0.0, None), axis=1)
    return lo, span, float(ANGLE_SOFTENING * np.median(lengths))


@torch.no_grad()
def to_angle_t(x: torch.Tensor, lo: torch.Tensor, span: torch.Tensor, soft: float) -> torch.Tensor:
    """Rows in the angular view: their share of the fitted range (below it clipped to 0), divided
    by their length plus ``soft``: toward unit length far from the corner, toward 0 near it."""
    u = ((x - lo) / span).clamp_min_(0.0)
    return u / (u.norm(dim=1, keepdim=True) + soft).clamp_min_(1e-6)


def fit_gaussian(pool: np.ndarray, shrinkage: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Mean and shrunk precision matrix of the purified pool (shrinkage keeps it invertible)."""
    pool = np.asarray(pool, dtype=np.float64)
    mu = pool.mean(axis=0)
    cov = np.atleast_2d(np.cov(pool, rowvar=False))
    d = cov.shape[0]
    target = np.trace(cov) / d * np.eye(d)
    cov = (1 - shrinkage) * cov + shrinkage * target + 1e-6 * np.eye(d)
    return mu, np.linalg.inv(cov)


def whitening_factor(precision: np.ndarray) -> torch.Tensor:
    """L with L L^T = precision, as float32: then |(x - mu) L| is the Mahalanobis distance."""
    return torch.from_numpy(np.linalg.cholesky(np.asarray(precision, dtype=np.float64))).float()


@torch.no_grad()
def mahalanobis_distance_t(q: torch.Tensor, mu: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Mahalanobis distance of each row of ``q`` (float32, one batch) via the Cholesky factor."""
    return (q - mu).matmul(factor).pow_(2).sum(dim=1).sqrt_()


def mahalanobis_distance(
    X: np.ndarray, mu: np.ndarray, precision: np.ndarray, batch_size: int = 16384
) -> np.ndarray:
    """Mahalanobis distance of each row to the pool Gaussian, in bounded-memory batches."""
    factor = whitening_factor(precision)
    mu_t = torch.as_tensor(np.asarray(mu), dtype=torch.float32)
    out = np.empty(len(X))
    for start in range(0, len(X), batch_size):
        q = torch.as_tensor(np.asarray(X[start : start + batch_size], dtype=np.float32))
        out[start : start + len(q)] = mahalanobis_distance_t(q, mu_t, factor).double().numpy()
    return out
