"""``BetaKDDetector``: a compact student distilled from a heavy detector with Beta-KD weighting.

Method (methods.md §2, §6.3; reconstruction for tables): a heavy teacher (PyOD ensemble or deep
AE) is fitted once; a small MLP student learns two channels at once: reconstructing the row
(data) and regressing the teacher's Gaussianized score (teacher). Beta-KD balances the channels
by learned log-variances: one per channel (``task``) or one per channel and sample from the
teacher's own view of the sample (``instance``). Distillation also queries the teacher on
synthetic rows around the data (jitter and pair interpolation), so the student learns the
teacher's score surface between and beyond the training rows, not only at them. Scoring uses
the student alone: one forward pass through encoder and score head, no teacher.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import torch
from pyod.models.base import BaseDetector
from scipy.stats import spearmanr
from torch import nn

from detectors.beta_kd.loss import WEIGHTINGS, channel_losses, weighted_loss
from detectors.beta_kd.scoring import combine_scores
from detectors.beta_kd.teacher import build_teacher
from detectors.beta_kd.torch_model import (
    BetaKDStudent,
    InstanceLogVars,
    TaskLogVars,
    student_widths,
)
from detectors.common import (
    SCALE_CLIP,
    apply_robust_scale,
    check_contamination,
    check_matrix,
    labels_from_scores,
    loadable_device,
    module_tensors,
    prefixed_state,
    resolve_device,
    robust_center_scale,
    robust_location_scale,
    row_shares,
    seed_of,
    torch_threads,
)

CHANNELS = ("data", "score")
TARGET_CLIP = 8.0
WEIGHT_LR_FACTOR = 50.0
STATE_VERSION = 1


@dataclass
class DistillSet:
    """Everything the student trains on, computed once per (X, teacher): reusable for ablations."""

    Xs: np.ndarray  # scaled real rows, then synthetic rows
    n_real: int
    target: np.ndarray  # teacher score per row (Gaussianized member mean)
    features: np.ndarray  # teacher features u(x) per row
    teacher: Any
    center: np.ndarray
    scale: np.ndarray
    teacher_seconds: float


class BetaKDDetector(BaseDetector):
    """Beta-KD student detector (PyOD contract).

    Parameters
    ----------
    contamination : expected anomaly share in (0, 0.5]; sets ``threshold_``.
    teacher : "ensemble" (IForest(200) + ECOD + KNN(10), rank-Gaussianized mean), "deep_ae",
        or a list of unfitted PyOD detectors combined like the ensemble.
    weighting : "task" (default), "instance" or "equal" (methods.md §2.2).
    gamma : weight of the student's own reconstruction z-score in the final score. Default 0:
        the student exists to replace the teacher, so it scores with its teacher imitation
        alone (and skips the decoder); ``gamma=0.3`` is methods.md's optional mix.
    augment : synthetic teacher queries per training row, at least ``min_augment`` and at most
        ``max_augment`` rows in all.
    steps, batch_size, lr, weight_decay : Adam step budget (cost independent of n).
    s_bounds : clamp of the task-level log-variances; ``delta_max`` bound of the per-sample
        deviation from them (instance weighting): no sample's weight moves by more than
        exp(delta_max) from its channel's base, so hard (anomalous) rows keep a say.
    hidden, latent : student widths (default sized to the features: d -> 64 -> 32 at most).
    device : "cpu" (default) or "cuda"; ``n_threads`` torch CPU threads (default 1).
    """

    def __init__(
        self,
        contamination: float = 0.1,
        teacher: Any = "ensemble",
        weighting: str = "task",
        gamma: float = 0.0,
        augment: float = 2.0,
        min_augment: int = 4_000,
        max_augment: int = 20_000,
        steps: int = 1500,
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        s_bounds: tuple[float, float] = (-6.0, 6.0),
        delta_max: float = 2.0,
        hidden: int | None = None,
        latent: int | None = None,
        random_state: int | None = None,
        device: str = "cpu",
        n_threads: int | None = None,
    ) -> None:
        self.contamination = contamination
        self.teacher = teacher
        self.weighting = weighting
        self.gamma = gamma
        self.augment = augment
        self.min_augment = min_augment
        self.max_augment = max_augment
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.s_bounds = s_bounds
        self.delta_max = delta_max
        self.hidden = hidden
        self.latent = latent
        self.random_state = random_state
        self.device = device
        self.n_threads = n_threads

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        check_contamination(self.contamination)
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")
        if int(self.steps) < 1 or int(self.batch_size) < 1:
            raise ValueError("steps and batch_size must be >= 1")
        if float(self.augment) < 0 or float(self.gamma) < 0:
            raise ValueError("augment and gamma must be >= 0")

    def _scale(self, X: np.ndarray) -> np.ndarray:
        return apply_robust_scale(X, self.center_, self.scale_)

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None) -> BetaKDDetector:
        """Fit the teacher on unlabeled X, then distil it. ``y`` is ignored (never stored)."""
        del y  # labels never reach training
        self._check_params()
        return self.fit_prepared(self.prepare(X))

    def prepare(self, X: Any) -> DistillSet:
        """Fit the teacher and collect its targets on real and synthetic rows (the costly part).

        Public so that ablations over ``weighting`` or ``gamma`` reuse one teacher fit.
        """
        X = check_matrix(X)
        n = X.shape[0]
        if n < 8:
            raise ValueError(f"need at least 8 rows to fit, got {n}")
        seed = seed_of(self.random_state)
        center, scale = robust_center_scale(X)
        Xs = apply_robust_scale(X, center, scale)
        t0 = time.perf_counter()
        teacher = build_teacher(self.teacher, seed)
        teacher.fit(Xs)
        real_z = teacher.train_member_z_
        m = _n_synthetic(n, float(self.augment), int(self.min_augment), int(self.max_augment))
        Xa = _synthetic_rows(Xs, m, seed)
        parts_x, parts_z = [Xs], [real_z]
        if len(Xa):
            parts_x.append(Xa)
            parts_z.append(teacher.member_z(Xa))
        member_z = np.vstack(parts_z)
        return DistillSet(
            Xs=np.vstack(parts_x).astype(np.float32),
            n_real=n,
            target=teacher.combine(member_z),
            features=teacher.features(member_z),
            teacher=teacher,
            center=center,
            scale=scale,
            teacher_seconds=time.perf_counter() - t0,
        )

    def fit_prepared(self, ds: DistillSet) -> BetaKDDetector:
        """Train the student on a ``DistillSet`` from ``prepare`` (same X, any weighting)."""
        self._check_params()
        t_start = time.perf_counter()
        seed = seed_of(self.random_state)
        device = resolve_device(self.device)
        d = ds.Xs.shape[1]
        self.n_features_in_ = d
        self._set_n_classes(None)
        self.center_, self.scale_ = ds.center, ds.scale
        self.feature_median_, self.feature_scale_ = ds.center.copy(), ds.scale.copy()
        hidden, latent = student_widths(d)
        self.hidden_ = int(self.hidden or hidden)
        self.latent_ = int(self.latent or latent)
        self.teacher_ = ds.teacher
        self.teacher_names_ = list(ds.teacher.names)

        with torch_threads(self.n_threads):
            torch.manual_seed(seed)
            student = BetaKDStudent(d, self.hidden_, self.latent_).to(device)
            weights = self._make_weighting(ds.features.shape[1])
            if weights is not None:
                weights = weights.to(device)
            log_vars = self._train(student, weights, ds, seed, device)
            self.student_ = student.eval()
            s_hat, rec = self._student_outputs(ds.Xs[: ds.n_real], device)

        real_t = ds.target[: ds.n_real]
        sl, ss = robust_location_scale(s_hat)
        rl, rs = robust_location_scale(rec)
        self.score_stats_ = [sl, ss, rl, rs]
        self.decision_scores_ = combine_scores(s_hat, rec, self.score_stats_, float(self.gamma))
        self.fidelity_spearman_ = float(spearmanr(s_hat, real_t).statistic)
        beta = np.exp(-log_vars)
        self.train_log_vars_ = log_vars  # (n_real, 2): s_k per training row
        self.channel_weights_ = {c: float(beta[:, k].mean()) for k, c in enumerate(CHANNELS)}
        self.teacher_seconds_ = round(float(ds.teacher_seconds), 4)
        self.fit_seconds_ = round(time.perf_counter() - t_start + ds.teacher_seconds, 4)
        self._process_decision_scores()
        return self

    def _make_weighting(self, n_features_u: int) -> nn.Module | None:
        bounds = (float(self.s_bounds[0]), float(self.s_bounds[1]))
        if self.weighting == "task":
            return TaskLogVars(len(CHANNELS), bounds)
        if self.weighting == "instance":
            return InstanceLogVars(n_features_u, len(CHANNELS), bounds, float(self.delta_max))
        return None

    def _train(
        self,
        student: BetaKDStudent,
        weights: nn.Module | None,
        ds: DistillSet,
        seed: int,
        device: torch.device,
    ) -> np.ndarray:
        """Adam for ``steps`` minibatches; returns the final log-variances on the real rows."""
        X = torch.from_numpy(ds.Xs)
        target = torch.from_numpy(np.clip(ds.target, -TARGET_CLIP, TARGET_CLIP).astype(np.float32))
        u_mu = ds.features[: ds.n_real].mean(axis=0)
        u_sd = ds.features[: ds.n_real].std(axis=0) + 1e-6
        self.u_stats_ = [u_mu.tolist(), u_sd.tolist()]
        U = torch.from_numpy(((ds.features - u_mu) / u_sd).astype(np.float32))
        real = torch.zeros(len(X), dtype=torch.bool)
        real[: ds.n_real] = True
        groups: list[dict[str, Any]] = [{"params": student.parameters()}]
        if weights is not None:
            # the log-variances must track their channel losses within a small step budget:
            # Adam moves a parameter about lr per step, and log-losses span several units
            groups.append({"params": weights.parameters(), "lr": WEIGHT_LR_FACTOR * float(self.lr)})
        opt = torch.optim.Adam(groups, lr=float(self.lr), weight_decay=float(self.weight_decay))
        steps = int(self.steps)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
        gen = torch.Generator().manual_seed(seed)
        b = int(min(int(self.batch_size), len(X)))
        student.train()
        for _ in range(steps):
            idx = torch.randint(len(X), (b,), generator=gen)
            x = X[idx].to(device)
            recon, s_hat = student(x)
            losses = channel_losses(x, recon, s_hat, target[idx].to(device))
            mask = torch.stack([real[idx], torch.ones(b, dtype=torch.bool)], 1).to(device)
            log_vars = self._log_vars(weights, U[idx].to(device), b)
            loss = weighted_loss(losses, mask, log_vars, self.weighting)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(student.parameters(), 5.0)
            opt.step()
            sched.step()
        student.eval()
        self.weighting_ = weights.eval() if weights is not None else None
        with torch.no_grad():
            lv = self._log_vars(weights, U[: ds.n_real].to(device), ds.n_real)
        if lv is None:
            return np.zeros((ds.n_real, len(CHANNELS)))
        return lv.double().cpu().numpy()

    def _log_vars(self, weights: nn.Module | None, u: torch.Tensor, n: int) -> torch.Tensor | None:
        if self.weighting == "task":
            return weights(n)
        if self.weighting == "instance":
            return weights(u)
        return None

    # ------------------------------------------------------------------ scoring
    def _check_fitted(self) -> None:
        if not hasattr(self, "student_"):
            raise RuntimeError("BetaKDDetector is not fitted; call fit(X) first")

    @torch.no_grad()
    def _student_outputs(
        self, Xs: np.ndarray, device: torch.device, with_rec: bool = True, batch: int = 65536
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(score head, reconstruction error); ``with_rec=False`` skips the decoder entirely."""
        s_out, r_out = [], []
        for start in range(0, len(Xs), batch):
            x = torch.as_tensor(Xs[start : start + batch], dtype=torch.float32, device=device)
            if not with_rec:
                s_out.append(self.student_.score(x).double().cpu().numpy())
                continue
            recon, s_hat = self.student_(x)
            s_out.append(s_hat.double().cpu().numpy())
            r_out.append((x - recon).pow(2).mean(1).double().cpu().numpy())
        return np.concatenate(s_out), (np.concatenate(r_out) if with_rec else None)

    def decision_function(self, X: Any) -> np.ndarray:
        """Student-only anomaly score per row (higher = more anomalous); no teacher call.

        At ``gamma=0`` (default) only the encoder and score head run: the decoder is a training
        aid (the data channel) and costs nothing at scoring time.
        """
        self._check_fitted()
        X = check_matrix(X, self.n_features_in_)
        gamma = float(self.gamma)
        with torch_threads(self.n_threads):
            s_hat, rec = self._student_outputs(
                self._scale(X).astype(np.float32), resolve_device(self.device), gamma > 0
            )
        return combine_scores(s_hat, rec, self.score_stats_, gamma)

    def teacher_score(self, X: Any) -> np.ndarray:
        """The heavy teacher's score (only in the fitting process; not persisted)."""
        self._check_fitted()
        if getattr(self, "teacher_", None) is None:
            raise RuntimeError("the teacher is not kept with a loaded model; refit to compare")
        X = check_matrix(X, self.n_features_in_)
        return self.teacher_.score(self._scale(X))

    def explain(self, X: Any) -> np.ndarray:
        """Per-feature share of |d score / d x_j * (x_j - median_j)| (gradient x input), (n, d)."""
        self._check_fitted()
        X = check_matrix(X, self.n_features_in_)
        device = resolve_device(self.device)
        sl, ss, rl, rs = self.score_stats_
        with torch_threads(self.n_threads):
            x = torch.as_tensor(self._scale(X), dtype=torch.float32, device=device)
            x.requires_grad_(True)
            recon, s_hat = self.student_(x)
            score = s_hat / ss + float(self.gamma) * (x - recon).pow(2).mean(1) / rs
            (grad,) = torch.autograd.grad(score.sum(), x)
            contrib = (grad * x).detach().abs().double().cpu().numpy()
        return row_shares(contrib)

    # ------------------------------------------------------------------ persistence
    def kdmon_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """(JSON-serializable meta, tensors) for pickle-free saving; the teacher is not kept."""
        self._check_fitted()
        params = self.get_params(deep=False)
        if not isinstance(params["teacher"], str):
            params["teacher"] = "custom:" + "+".join(self.teacher_names_)
        params["s_bounds"] = [float(v) for v in params["s_bounds"]]
        fitted = {
            "n_features_in_": int(self.n_features_in_),
            "hidden_": self.hidden_,
            "latent_": self.latent_,
            "center_": self.center_.tolist(),
            "scale_": self.scale_.tolist(),
            "score_stats_": [float(v) for v in self.score_stats_],
            "threshold_": float(self.threshold_),
            "_mu": float(self._mu),
            "_sigma": float(self._sigma),
            "channel_weights_": self.channel_weights_,
            "teacher_names_": self.teacher_names_,
            "fidelity_spearman_": self.fidelity_spearman_,
            "teacher_seconds_": self.teacher_seconds_,
            "fit_seconds_": self.fit_seconds_,
        }
        meta = {"detector": "beta_kd", "state_version": STATE_VERSION, "params": params}
        meta["fitted"] = fitted
        tensors = module_tensors(self.student_, "student.")
        tensors["fitted.decision_scores"] = torch.from_numpy(
            np.ascontiguousarray(self.decision_scores_)
        )
        tensors["fitted.train_log_vars"] = torch.from_numpy(
            np.ascontiguousarray(self.train_log_vars_)
        )
        return meta, tensors

    @classmethod
    def from_kdmon_state(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Self:
        """Rebuild a fitted detector from ``kdmon_state`` output (no pickle, no teacher)."""
        if meta.get("detector") != "beta_kd" or meta.get("state_version") != STATE_VERSION:
            raise ValueError("not a beta_kd state (or an unsupported state_version)")
        params = dict(meta["params"])
        params["s_bounds"] = tuple(params["s_bounds"])
        params["device"] = loadable_device(params.get("device", "cpu"))
        det = cls(**params)
        f = meta["fitted"]
        det.n_features_in_ = int(f["n_features_in_"])
        det.hidden_, det.latent_ = int(f["hidden_"]), int(f["latent_"])
        det.center_ = np.asarray(f["center_"], dtype=np.float64)
        det.scale_ = np.asarray(f["scale_"], dtype=np.float64)
        det.feature_median_, det.feature_scale_ = det.center_.copy(), det.scale_.copy()
        det.score_stats_ = [float(v) for v in f["score_stats_"]]
        det.threshold_ = float(f["threshold_"])
        det._mu, det._sigma = float(f["_mu"]), float(f["_sigma"])
        for k in ("channel_weights_", "teacher_names_", "fidelity_spearman_"):
            setattr(det, k, f[k])
        det.teacher_seconds_, det.fit_seconds_ = f["teacher_seconds_"], f["fit_seconds_"]
        det._set_n_classes(None)
        student = BetaKDStudent(det.n_features_in_, det.hidden_, det.latent_)
        student.load_state_dict(prefixed_state(tensors, "student."))
        det.student_ = student.to(det.device).eval()
        det.teacher_ = None
        det.decision_scores_ = tensors["fitted.decision_scores"].numpy().astype(np.float64)
        det.train_log_vars_ = tensors["fitted.train_log_vars"].numpy().astype(np.float64)
        det.labels_ = labels_from_scores(det.decision_scores_, det.threshold_)
        return det


def _n_synthetic(n: int, ratio: float, floor: int, cap: int) -> int:
    """``ratio * n`` teacher queries, raised to ``floor`` and lowered to ``cap`` (0 if ratio is 0).

    The floor matters for small, wide sets (MVTec: ~200 rows of 512 features), where a per-row
    ratio leaves the student too few teacher answers to learn the score off the training rows.
    """
    if ratio <= 0:
        return 0
    return int(min(max(cap, 0), max(floor, round(ratio * n))))


def _synthetic_rows(Xs: np.ndarray, m: int, seed: int) -> np.ndarray:
    """Teacher queries around the data: half jittered rows, half interpolations between pairs.

    Jitter (sd uniform in [0.05, 1] robust units) teaches the score's growth off the data;
    pair interpolation teaches it in the gaps between clusters, where anomalies often sit.
    """
    n, d = Xs.shape
    if m <= 0:
        return np.empty((0, d))
    rng = np.random.default_rng(seed + 17)
    half = m // 2
    i = rng.integers(n, size=half)
    sd = rng.uniform(0.05, 1.0, size=(half, 1))
    jitter = Xs[i] + sd * rng.standard_normal((half, d))
    a, b = rng.integers(n, size=m - half), rng.integers(n, size=m - half)
    lam = rng.uniform(0.0, 1.0, size=(m - half, 1))
    mix = Xs[a] + lam * (Xs[b] - Xs[a])
    return np.clip(np.vstack([jitter, mix]), -SCALE_CLIP, SCALE_CLIP)
