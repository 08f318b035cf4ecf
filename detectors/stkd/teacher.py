"""The STKD teacher: a frozen encoder that never trained on the contaminated pool.

Three kinds (methods.md §1.6):

- ``seed`` (default): a parameter-free ECOD-style tail score ranks the pool; an autoencoder is
  trained only on the ``seed_frac`` most-normal samples (plus known normals, never known
  anomalies) and its encoder is frozen.
- ``reference``: the same, trained on a trusted clean subset (commissioning window, golden batch).
- ``random``: an untrained, fixed-seed encoder of the same shape (RND-style regularizer).

The teacher latent is standardized with its mean/std on the teacher's own training samples so the
KD term has unit scale.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from detectors.stkd.torch_model import TeacherEncoder
from detectors.stkd.training import encode_samples, train_steps

TEACHER_KINDS = ("seed", "reference", "random")


def tail_counts(col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each value, how many values are <= it and how many are >= it (ties count).

    One argsort and a pass over the runs of equal values, rather than a sort and two binary
    searches of every value: about 4x faster on a million-row column (0.18 s against 0.77 s on
    an AVX2 host), where the searches' scattered reads made the seed ranking a third of STKD's
    fit (README.md, "Faster fits with the same scores").
    """
    n = len(col)
    order = np.argsort(col)
    ordered = col[order]
    run_starts_here = np.empty(n, dtype=bool)
    run_starts_here[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=run_starts_here[1:])
    run = np.cumsum(run_starts_here) - 1
    starts = np.flatnonzero(run_starts_here)
    ends = np.append(starts[1:], n)
    at_most = np.empty(n, dtype=np.int64)
    at_least = np.empty(n, dtype=np.int64)
    at_most[order] = ends[run]
    at_least[order] = n - starts[run]
    return at_most, at_least


def ecod_scores(X: np.ndarray, chunk: int = 8) -> np.ndarray:
    """ECOD-style outlier score (Li et al. 2022): summed -log empirical tail probabilities.

    Per feature, both tails and a skewness-chosen tail are summed; the max of the three sums is
    the score. O(n d log n) time, O(n * chunk) extra memory.
    """
    X = np.asarray(X)
    n, d = X.shape
    left = np.zeros(n)
    right = np.zeros(n)
    auto = np.zeros(n)
    for j0 in range(0, d, chunk):
        cols = np.asarray(X[:, j0 : j0 + chunk], dtype=np.float64)
        for j in range(cols.shape[1]):
            col = cols[:, j]
            at_most, at_least = tail_counts(col)
            f_left = at_most / n
            f_right = at_least / n
            nl = -np.log(np.maximum(f_left, 1.0 / n))
            nr = -np.log(np.maximum(f_right, 1.0 / n))
            left += nl
            right += nr
            mu = col.mean()
            sd = col.std()
            skew = 0.0 if sd == 0 else float(np.mean(((col - mu) / sd) ** 3))
            auto += nl if skew < 0 else nr
    return np.maximum(np.maximum(left, right), auto)


def seed_pool(seed_scores: np.ndarray, candidates: np.ndarray, pinned: np.ndarray, frac: float):
    """The ``frac`` lowest-scoring candidates, plus every pinned (known-normal) candidate."""
    idx = np.flatnonzero(candidates)
    k = max(1, int(round(frac * len(idx))))
    chosen = idx[np.argsort(seed_scores[idx], kind="stable")[:k]]
    mask = np.zeros_like(candidates)
    mask[chosen] = True
    mask |= pinned & candidates
    return np.flatnonzero(mask)


def build_teacher(
    kind: str,
    make_autoencoder: Callable[[], nn.Module],
    batch_fn: Callable[[torch.Tensor], torch.Tensor],
    pool: np.ndarray,
    steps: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    device: torch.device,
) -> tuple[TeacherEncoder, nn.Module | None]:
    """Train (or, for ``random``, only initialize) a teacher on ``pool`` and freeze it.

    Also returns the trained autoencoder (None for ``random``): its reconstruction error is the
    teacher's own verdict on a sample, which purification uses before any student has trained.
    """
    torch.manual_seed(int(seed))
    ae = make_autoencoder().to(device)
    if kind in ("seed", "reference"):
        train_steps(ae, batch_fn, pool, steps, batch_size, lr, weight_decay, seed, device)
    elif kind != "random":
        raise ValueError(f"teacher must be one of {TEACHER_KINDS}, got {kind!r}")
    teacher = TeacherEncoder(ae.encoder, ae.latent_dim).to(device)
    sample = pool
    if len(sample) > 50_000:
        sample = np.random.default_rng(seed).choice(pool, 50_000, replace=False)
    z = encode_samples(ae.encoder, batch_fn, np.sort(sample), device)
    teacher.mu.copy_(z.mean(dim=0).to(device))
    teacher.sd.copy_(z.std(dim=0).clamp_min(1e-3).to(device))
    teacher.eval()
    return teacher, (ae.eval() if kind in ("seed", "reference") else None)
