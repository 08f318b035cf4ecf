"""PyOD baselines behind kdmon's registry, with the small additions kdmon needs.

Each class subclasses the PyOD model unchanged and only:

- never forwards ``y`` to the PyOD ``fit`` (labels never reach training);
- records the training median and robust scale of every feature (``feature_median_``,
  ``feature_scale_``) so ``detectors.explain`` can explain any baseline;
- for DeepSVDD, fills ``n_features`` from X at fit time (PyOD 3 wants it in the constructor).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pyod.models.auto_encoder import AutoEncoder
from pyod.models.copod import COPOD
from pyod.models.deep_svdd import DeepSVDD
from pyod.models.dif import DIF
from pyod.models.ecod import ECOD
from pyod.models.hbos import HBOS
from pyod.models.iforest import IForest
from pyod.models.inne import INNE
from pyod.models.knn import KNN
from pyod.models.lof import LOF
from pyod.models.ocsvm import OCSVM
from pyod.models.pca import PCA


def robust_feature_stats(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature median and a robust scale (IQR/1.349, falling back to std, then 1)."""
    X = np.asarray(X, dtype=np.float64)
    med = np.median(X, axis=0)
    q75, q25 = np.percentile(X, [75, 25], axis=0)
    scale = (q75 - q25) / 1.349
    sd = X.std(axis=0)
    scale = np.where(scale > 1e-8, scale, sd)
    return med, np.where(scale > 1e-8, scale, 1.0)


class _KdmonBaseline:
    """Mixin: label-free fit plus the feature statistics used by the generic explanation."""

    def fit(
        self, X: Any, y: Any = None, known_normal: Any = None, known_anomaly: Any = None
    ) -> Any:
        """Fit without labels. ``known_anomaly`` rows are left out of training (then scored like
        any row, so ``decision_scores_`` still covers all of X); ``known_normal`` is accepted for
        a uniform API and has no effect on these models."""
        del y, known_normal  # unsupervised: labels never reach the model
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] < 2:
            raise ValueError(f"X must be a 2-D array with at least 2 rows, got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or infinite values; impute or drop them first")
        train = X
        if known_anomaly is not None:
            mask = np.asarray(known_anomaly)
            if mask.dtype != bool or mask.shape != (len(X),):
                raise ValueError(f"known_anomaly must be a boolean mask of length {len(X)}")
            train = X[~mask]
        self._before_fit(train)
        super().fit(train)  # type: ignore[misc]
        self.feature_median_, self.feature_scale_ = robust_feature_stats(train)
        if train is not X:
            self.decision_scores_ = np.asarray(self.decision_function(X)).ravel()
            self.labels_ = (self.decision_scores_ > self.threshold_).astype(int)
        return self

    def _before_fit(self, X: np.ndarray) -> None:
        """Hook for models that need the data shape before fitting."""


class IForestDetector(_KdmonBaseline, IForest):
    pass


class ECODDetector(_KdmonBaseline, ECOD):
    pass


class COPODDetector(_KdmonBaseline, COPOD):
    pass


class HBOSDetector(_KdmonBaseline, HBOS):
    pass


class KNNDetector(_KdmonBaseline, KNN):
    pass


class LOFDetector(_KdmonBaseline, LOF):
    pass


def spanned_dimensions(X: np.ndarray, rel_tol: float = 1e-10) -> int:
    """Principal components of standardized X with non-negligible variance (at least 1)."""
    X = np.asarray(X, dtype=np.float64)
    sd = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    eig = np.linalg.eigvalsh(Z.T @ Z / len(Z))
    return max(1, int((eig > rel_tol * max(float(eig.max()), 1e-300)).sum()))


class PCADetector(_KdmonBaseline, PCA):
    """PyOD's PCA weights each component's distance by 1 / its explained variance, so a column
    that is constant in the training rows (cardio and fault have some in a 60 % split) makes a
    zero-variance component and every score infinite: a constant ranking, ROC-AUC 0.5, or not,
    depending on the rounding of the eigen solver. Unless ``n_components`` is given, fit keeps
    only the components the training rows span."""

    def fit(
        self, X: Any, y: Any = None, known_normal: Any = None, known_anomaly: Any = None
    ) -> Any:
        asked = self.n_components
        try:
            return super().fit(X, y, known_normal, known_anomaly)
        finally:
            self.n_components = asked  # the fit-time rank is not a user setting

    def _before_fit(self, X: np.ndarray) -> None:
        if self.n_components is None:
            self.n_components = spanned_dimensions(X)


class OCSVMDetector(_KdmonBaseline, OCSVM):
    pass


class INNEDetector(_KdmonBaseline, INNE):
    pass


class DIFDetector(_KdmonBaseline, DIF):
    pass


class AutoEncoderDetector(_KdmonBaseline, AutoEncoder):
    pass


class DeepSVDDDetector(_KdmonBaseline, DeepSVDD):
    """PyOD DeepSVDD whose ``n_features`` may be left as None and is taken from X at fit."""

    def __init__(
        self,
        n_features: int | None = None,
        c: Any = None,
        use_ae: bool = False,
        hidden_neurons: list[int] | None = None,
        hidden_activation: str = "relu",
        output_activation: str = "sigmoid",
        optimizer: str = "adam",
        epochs: int = 100,
        batch_size: int = 32,
        dropout_rate: float = 0.2,
        l2_regularizer: float = 0.5e-6,
        validation_size: float = 0.1,
        preprocessing: bool = True,
        verbose: int = 1,
        random_state: int | None = None,
        contamination: float = 0.1,
        learning_rate: float = 1e-4,
    ) -> None:
        super().__init__(
            n_features=n_features, c=c, use_ae=use_ae, hidden_neurons=hidden_neurons,
            hidden_activation=hidden_activation, output_activation=output_activation,
            optimizer=optimizer, epochs=epochs, batch_size=batch_size,
            dropout_rate=dropout_rate, l2_regularizer=l2_regularizer,
            validation_size=validation_size, preprocessing=preprocessing, verbose=verbose,
            random_state=random_state, contamination=contamination, learning_rate=learning_rate,
        )  # fmt: skip

    def _before_fit(self, X: np.ndarray) -> None:
        if self.n_features is None or self.n_features != X.shape[1]:
            self.n_features = X.shape[1]


# name -> (class, default params). Deep baselines are kept cheap by default (few epochs,
# larger batches, quiet); every model that takes a seed gets random_state=0.
BASELINES: dict[str, tuple[type, dict[str, Any]]] = {
    "iforest": (IForestDetector, {"random_state": 0}),
    "ecod": (ECODDetector, {}),
    "copod": (COPODDetector, {}),
    "hbos": (HBOSDetector, {}),
    "knn": (KNNDetector, {}),
    "lof": (LOFDetector, {}),
    "pca": (PCADetector, {"random_state": 0}),
    "ocsvm": (OCSVMDetector, {}),
    "inne": (INNEDetector, {"random_state": 0}),
    "dif": (DIFDetector, {"random_state": 0, "n_ensemble": 20, "device": "cpu"}),
    "autoencoder": (
        AutoEncoderDetector,
        {"random_state": 0, "epoch_num": 10, "batch_size": 128, "verbose": 0, "device": "cpu"},
    ),
    "deepsvdd": (
        DeepSVDDDetector,
        {"random_state": 0, "epochs": 20, "batch_size": 128, "verbose": 0},
    ),
}
