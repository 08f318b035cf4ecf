"""The heavy teachers Beta-KD distils (methods.md §2.3) and their calibrated scores.

- ``EnsembleTeacher`` ("ensemble", default): IForest(200) + ECOD + KNN(k=10) from PyOD. Each
  member's score is rank-Gaussianized against its own training scores (``Gaussianizer``), so
  members on different scales count equally and anomalies are not huge-loss outliers; the
  teacher score is the member mean. Its teacher features u(x) for instance weighting are the
  member z-scores plus their standard deviation (member disagreement).
- ``DeepAETeacher`` ("deep_ae"): a wide autoencoder (about 1 M parameters at d = 64) whose
  Gaussianized reconstruction error is the score; u(x) = [z, |latent| z].

A custom teacher can be passed as a list of unfitted PyOD-style members (``fit`` /
``decision_scores_`` / ``decision_function``); it is combined like the default ensemble.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy.stats import norm
from torch import nn

Z_LIMIT = 30.0


class Gaussianizer:
    """Maps a score to Phi^-1(its rank among the training scores), linear beyond the range.

    Beyond the training range the map extends with the slope of its last decile, so test rows
    more extreme than every training row keep their order instead of tying at the maximum.
    """

    def __init__(self, grid: int = 512) -> None:
        self.grid = grid

    def fit(self, scores: np.ndarray) -> Gaussianizer:
        s = np.asarray(scores, dtype=np.float64)
        n = len(s)
        m = int(min(self.grid, n))
        levels = (np.arange(m) + 0.5) / m
        self.q_ = np.quantile(s, levels)
        self.z_ = norm.ppf(levels)
        j = max(0, int(0.9 * m) - 1)
        k = min(m - 1, int(0.1 * m))
        self.slope_hi_ = _slope(self.q_[j], self.q_[-1], self.z_[j], self.z_[-1])
        self.slope_lo_ = _slope(self.q_[0], self.q_[k], self.z_[0], self.z_[k])
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        s = np.asarray(scores, dtype=np.float64)
        z = np.interp(s, self.q_, self.z_)
        hi = s > self.q_[-1]
        lo = s < self.q_[0]
        z[hi] = self.z_[-1] + self.slope_hi_ * (s[hi] - self.q_[-1])
        z[lo] = self.z_[0] + self.slope_lo_ * (s[lo] - self.q_[0])
        return np.clip(z, -Z_LIMIT, Z_LIMIT)


def _slope(q0: float, q1: float, z0: float, z1: float) -> float:
    return float((z1 - z0) / (q1 - q0)) if q1 > q0 else 0.0


def default_members(random_state: int) -> list[Any]:
    """IForest(200) + ECOD + KNN(k=10): three different inductive biases (methods.md §6.3)."""
    from pyod.models.ecod import ECOD
    from pyod.models.iforest import IForest
    from pyod.models.knn import KNN

    return [
        IForest(n_estimators=200, random_state=random_state),
        ECOD(),
        KNN(n_neighbors=10),
    ]


class EnsembleTeacher:
    """A bag of PyOD members, each rank-Gaussianized, combined by the mean."""

    def __init__(self, members: Sequence[Any]) -> None:
        self.members = list(members)

    def fit(self, X: np.ndarray) -> EnsembleTeacher:
        self.gauss_: list[Gaussianizer] = []
        train_z = []
        for m in self.members:
            m.fit(X)
            g = Gaussianizer().fit(m.decision_scores_)
            self.gauss_.append(g)
            train_z.append(g.transform(m.decision_scores_))
        # training rows keep their leave-self-out member scores (KNN excludes the row itself)
        self.train_member_z_ = np.stack(train_z, axis=1)
        return self

    @property
    def names(self) -> list[str]:
        return [type(m).__name__ for m in self.members]

    def member_z(self, X: np.ndarray) -> np.ndarray:
        """(n, M) Gaussianized member scores."""
        cols = [
            g.transform(m.decision_function(X))
            for m, g in zip(self.members, self.gauss_, strict=True)
        ]
        return np.stack(cols, axis=1)

    @staticmethod
    def features(member_z: np.ndarray) -> np.ndarray:
        """u(x): member z-scores and their standard deviation (teacher disagreement)."""
        return np.hstack([member_z, member_z.std(axis=1, keepdims=True)])

    @staticmethod
    def combine(member_z: np.ndarray) -> np.ndarray:
        return member_z.mean(axis=1)

    def score(self, X: np.ndarray) -> np.ndarray:
        """The teacher's anomaly score (what the student replaces at inference)."""
        return self.combine(self.member_z(X))


class _WideAE(nn.Module):
    def __init__(self, d: int, width: int, latent: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(d, width), nn.GELU(), nn.Linear(width, width), nn.GELU(),
            nn.Linear(width, latent),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Linear(latent, width), nn.GELU(), nn.Linear(width, width), nn.GELU(),
            nn.Linear(width, d),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encoder(x)
        return self.decoder(z), z


class DeepAETeacher:
    """A wide MLP autoencoder trained for ``steps`` Adam steps; score = reconstruction error."""

    def __init__(self, width: int = 512, steps: int = 1500, seed: int = 0) -> None:
        self.width = width
        self.steps = steps
        self.seed = seed

    def fit(self, X: np.ndarray) -> DeepAETeacher:
        torch.manual_seed(self.seed)
        d = X.shape[1]
        self.ae_ = _WideAE(d, self.width, max(2, min(32, d // 2)))
        data = torch.as_tensor(X, dtype=torch.float32)
        gen = torch.Generator().manual_seed(self.seed)
        opt = torch.optim.Adam(self.ae_.parameters(), lr=1e-3, weight_decay=1e-5)
        b = min(256, len(data))
        for _ in range(self.steps):
            x = data[torch.randint(len(data), (b,), generator=gen)]
            recon, _ = self.ae_(x)
            loss = (recon - x).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        self.ae_.eval()
        raw = self._raw(X)
        self.gauss_ = [Gaussianizer().fit(raw[:, 0]), Gaussianizer().fit(raw[:, 1])]
        self.train_member_z_ = self._to_z(raw)
        return self

    @property
    def names(self) -> list[str]:
        return ["DeepAE"]

    @torch.no_grad()
    def _raw(self, X: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(X, dtype=torch.float32)
        recon, z = self.ae_(x)
        return torch.stack([(recon - x).pow(2).mean(1), z.norm(dim=1)], 1).double().numpy()

    def _to_z(self, raw: np.ndarray) -> np.ndarray:
        return np.stack([g.transform(raw[:, i]) for i, g in enumerate(self.gauss_)], axis=1)

    def member_z(self, X: np.ndarray) -> np.ndarray:
        """(n, 2): Gaussianized reconstruction error and latent norm."""
        return self._to_z(self._raw(X))

    @staticmethod
    def features(member_z: np.ndarray) -> np.ndarray:
        return member_z

    @staticmethod
    def combine(member_z: np.ndarray) -> np.ndarray:
        return member_z[:, 0]

    def score(self, X: np.ndarray) -> np.ndarray:
        return self.combine(self.member_z(X))


def build_teacher(teacher: Any, random_state: int) -> EnsembleTeacher | DeepAETeacher:
    """Teacher object for the ``teacher`` parameter (a name or a list of unfitted members)."""
    if isinstance(teacher, str):
        if teacher == "ensemble":
            return EnsembleTeacher(default_members(random_state))
        if teacher == "deep_ae":
            return DeepAETeacher(seed=random_state)
        raise ValueError(
            f"teacher must be 'ensemble', 'deep_ae' or a list of members, got {teacher!r}"
        )
    if isinstance(teacher, Sequence) and len(teacher) > 0:
        from sklearn.base import clone

        return EnsembleTeacher([clone(m) for m in teacher])
    raise ValueError(f"teacher must be 'ensemble', 'deep_ae' or a list of members, got {teacher!r}")
