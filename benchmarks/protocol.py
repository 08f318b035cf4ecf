"""The evaluation protocol (shared/data/README.md): ADBench-style, fully unsupervised.

- inductive: stratified 60/40 split per seed, standardize with train statistics, fit on the 60 %
  without labels, score the 40 %;
- transductive: standardize on all of X, fit on all of X, score all of X;
- ``max_train`` (benchmark option) caps the training part by a stratified subsample, the same
  for every detector, so O(n^2) baselines (OCSVM) fit in a 2-core time budget.

Labels are used only here, to compute ROC-AUC and AP after scoring. Detectors never receive y.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from detectors import create_detector


@dataclass
class Result:
    dataset: str
    group: str
    detector: str
    seed: int
    mode: str
    roc_auc: float
    ap: float
    fit_s: float
    score_s: float
    n_train: int
    train_contamination: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def inductive_split(
    X: np.ndarray, y: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified 60/40 split, then standardization with statistics of the training part."""
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, train_size=0.6, stratify=y, random_state=seed)
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_te), y_tr, y_te


def subsample_contamination(
    X_tr: np.ndarray, y_tr: np.ndarray, share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Keep all training normals and just enough training anomalies for ``share`` contamination.

    Used by the contamination sweep; the test part stays fixed. Needs labels, so it lives here in
    the protocol, never in a detector.
    """
    rng = np.random.default_rng(seed)
    normal = np.flatnonzero(y_tr == 0)
    anomal = np.flatnonzero(y_tr == 1)
    want = int(round(share * len(normal) / max(1e-9, 1 - share)))
    keep_anom = rng.choice(anomal, size=min(want, len(anomal)), replace=False)
    idx = np.sort(np.concatenate([normal, keep_anom]))
    return X_tr[idx], y_tr[idx]


def _safe_metrics(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    if len(np.unique(y)) < 2:
        return float("nan"), float("nan")
    s = np.nan_to_num(np.asarray(s, dtype=np.float64), nan=0.0, posinf=1e300, neginf=-1e300)
    return float(roc_auc_score(y, s)), float(average_precision_score(y, s))


def fit_and_score(
    name: str, params: dict[str, Any], X_fit: np.ndarray, X_score: np.ndarray
) -> tuple[np.ndarray, float, float]:
    """Fit a fresh detector on X_fit (no labels) and score X_score; returns scores and seconds."""
    det = create_detector(name, **params)
    t0 = time.perf_counter()
    det.fit(X_fit)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores = det.decision_function(X_score)
    return np.asarray(scores, dtype=np.float64), fit_s, time.perf_counter() - t0


def evaluate(
    dataset: str,
    group: str,
    X: np.ndarray,
    y: np.ndarray,
    detector: str,
    seed: int,
    mode: str = "inductive",
    params: dict[str, Any] | None = None,
    label: str | None = None,
    train_share: float | None = None,
    max_train: int | None = None,
) -> Result:
    """One (dataset, detector, seed, mode) cell of the benchmark."""
    params = dict(params or {})
    if "random_state" in _seedable(detector):
        params.setdefault("random_state", seed)
    if mode == "inductive":
        X_tr, X_te, y_tr, y_te = inductive_split(X, y, seed)
        if train_share is not None:
            X_tr, y_tr = subsample_contamination(X_tr, y_tr, train_share, seed)
        if max_train is not None and len(X_tr) > max_train:
            X_tr, _, y_tr, _ = train_test_split(
                X_tr, y_tr, train_size=max_train, stratify=y_tr, random_state=seed
            )
    elif mode == "transductive":
        X_tr = X_te = StandardScaler().fit_transform(X)
        y_tr = y_te = y
    else:
        raise ValueError(f"mode must be 'inductive' or 'transductive', got {mode!r}")
    scores, fit_s, score_s = fit_and_score(detector, params, X_tr, X_te)
    auc, ap = _safe_metrics(y_te, scores)
    return Result(
        dataset, group, label or detector, seed, mode, auc, ap, fit_s, score_s,
        len(X_tr), float(np.mean(y_tr)),
    )  # fmt: skip


def _seedable(detector: str) -> set[str]:
    from detectors import create_detector as _create

    det = _create(detector)
    return set(det.get_params(deep=False)) & {"random_state"}
