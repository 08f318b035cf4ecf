"""``MixKDDetector``: clean + noise-augmented students of one teacher, fused per batch.

Method (Mix-CLAP, NEC Labs, adapted to tables and sensors; methods.md §3.3, §6.4, README.md
here): a teacher embeds clean rows; a clean student learns to reproduce that embedding; a
noisy student, initialized from it, learns to reproduce the CLEAN embedding from corrupted rows
(jitter, sensor dropout, bias drift, quantization). At scoring time each batch (a time window
in production) is embedded by both students, and the fusion weight lambda (on the clean
student) is the grid value that minimizes the batch's prototype-assignment entropy excess over
clean training data. The score is a kNN distance in the fused space at that lambda.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any, Self

import numpy as np
import torch
from pyod.models.base import BaseDetector
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from torch import nn

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
from detectors.mix_kd.fusion import KnnBank, entropy_per_weight, select_weight
from detectors.mix_kd.loss import distill_loss
from detectors.mix_kd.noise import corrupt_batch, noise_config
from detectors.mix_kd.torch_model import AETeacher, StudentEncoder, student_hidden

TEACHERS = ("pca", "ae")
FUSIONS = ("batch", "sample")
STATE_VERSION = 2  # 2 added score_offsets_; version 1 states load with zero offsets


class MixKDDetector(BaseDetector):
    """Noise-aware two-student distillation detector (PyOD contract).

    Parameters
    ----------
    contamination : expected anomaly share in (0, 0.5]; sets ``threshold_``.
    teacher : "pca" (default; PCA to ``embed_dim`` on the training rows, distance-preserving
        when d <= embed_dim) or "ae" (a wide autoencoder's encoder, for sensor data).
    noise : overrides of the training corruption family (``noise.NOISE_DEFAULTS``).
    steps : (clean student, noisy student) gradient-step budgets.
    n_prototypes, entropy_q : pseudo-classes for the entropy and the Renyi order.
    lambda_grid : candidate weights on the clean student (1 = clean only, 0 = noisy only).
    fusion_batch : rows per fusion decision (consecutive rows: a time window for sensors).
    fusion : "batch" (default) or "sample" (per-row choice; an ablation, not for production).
    temperature : tau as a multiple of the median nearest-prototype distance (smaller =
        sharper assignments, more sensitive to noise).
    select_z : paired t-statistic a weight needs to beat the clean student on a batch.
    k, bank_size : kNN neighbours and the most training rows kept as the reference bank.
    device : "cpu" (default) or "cuda"; ``n_threads`` torch CPU threads (default 1).

    After ``decision_function``: ``last_fusion_weight_`` (lambda of the last batch scored) and
    ``last_fusion_weights_`` (one per batch, in order).
    """

    def __init__(
        self,
        contamination: float = 0.1,
        teacher: str = "pca",
        embed_dim: int = 64,
        hidden: int | None = None,
        noise: dict[str, float] | None = None,
        steps: tuple[int, int] = (1500, 1000),
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        n_prototypes: int = 16,
        entropy_q: float = 2.0,
        lambda_grid: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0),
        fusion_batch: int = 256,
        fusion: str = "batch",
        temperature: float = 0.5,
        select_z: float = 3.0,
        k: int = 5,
        bank_size: int = 20_000,
        random_state: int | None = None,
        device: str = "cpu",
        n_threads: int | None = None,
    ) -> None:
        self.contamination = contamination
        self.teacher = teacher
        self.embed_dim = embed_dim
        self.hidden = hidden
        self.noise = noise
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.n_prototypes = n_prototypes
        self.entropy_q = entropy_q
        self.lambda_grid = lambda_grid
        self.fusion_batch = fusion_batch
        self.fusion = fusion
        self.temperature = temperature
        self.select_z = select_z
        self.k = k
        self.bank_size = bank_size
        self.random_state = random_state
        self.device = device
        self.n_threads = n_threads

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        check_contamination(self.contamination)
        if self.teacher not in TEACHERS:
            raise ValueError(f"teacher must be one of {TEACHERS}, got {self.teacher!r}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        grid = np.asarray(self.lambda_grid, dtype=np.float64)
        if grid.ndim != 1 or len(grid) < 1 or grid.min() < 0 or grid.max() > 1:
            raise ValueError("lambda_grid must be a non-empty sequence of weights in [0, 1]")
        if len(tuple(self.steps)) != 2:
            raise ValueError("steps must be (clean_student_steps, noisy_student_steps)")
        noise_config(self.noise)

    def _scale(self, X: np.ndarray) -> np.ndarray:
        return apply_robust_scale(X, self.center_, self.scale_)

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None) -> MixKDDetector:
        """Fit teacher, both students, prototypes and the reference bank. ``y`` is ignored."""
        del y  # labels never reach training
        self._check_params()
        X = check_matrix(X)
        n, d = X.shape
        if n < 16:
            raise ValueError(f"need at least 16 rows to fit, got {n}")
        t_start = time.perf_counter()
        seed = seed_of(self.random_state)
        device = resolve_device(self.device)
        self.n_features_in_ = d
        self._set_n_classes(None)
        self.center_, self.scale_ = robust_center_scale(X)
        self.feature_median_, self.feature_scale_ = self.center_.copy(), self.scale_.copy()
        Xs = self._scale(X).astype(np.float32)
        self.grid_ = np.sort(np.asarray(self.lambda_grid, dtype=np.float64))
        self.hidden_ = int(self.hidden or student_hidden(d))

        with torch_threads(self.n_threads):
            E = self._teacher_embed(Xs, seed, device)
            self.embed_dim_ = int(E.shape[1])
            torch.manual_seed(seed)
            clean = StudentEncoder(d, self.hidden_, self.embed_dim_).to(device)
            s_clean, s_noisy = (int(s) for s in self.steps)
            self._distil(clean, Xs, E, s_clean, seed + 1, device, corrupt=False)
            noisy = copy.deepcopy(clean)
            self._distil(noisy, Xs, E, s_noisy, seed + 2, device, corrupt=True)
            self.student_clean_, self.student_noisy_ = clean.eval(), noisy.eval()
            Zc, Zn = self._embed(Xs)

        # pseudo-classes on the teacher's clean embedding
        k_proto = int(min(self.n_prototypes, max(2, n // 8)))
        km = KMeans(n_clusters=k_proto, n_init=3, random_state=seed).fit(E)
        self.prototypes_ = km.cluster_centers_.astype(np.float64)
        near = np.sqrt(((E[:, None, :] - self.prototypes_[None]) ** 2).sum(-1)).min(axis=1)
        self.tau_ = float(max(float(self.temperature) * np.median(near), 1e-6))
        H = entropy_per_weight(Zc, Zn, self.grid_, self.prototypes_, self.tau_, self.entropy_q)
        self.entropy_ref_ = H.mean(axis=1)

        # reference bank and per-weight standardization (leave-self-out on bank rows)
        rng = np.random.default_rng(seed)
        bank = (
            np.arange(n)
            if n <= self.bank_size
            else np.sort(rng.choice(n, self.bank_size, replace=False))
        )
        self.bank_ = KnnBank(Zc[bank], Zn[bank], int(self.k))
        in_bank = np.zeros(n, dtype=bool)
        in_bank[bank] = True
        raw = np.empty((len(self.grid_), n))
        for g, w in enumerate(self.grid_):
            raw[g, in_bank] = self.bank_.score(self._fuse(Zc[bank], Zn[bank], w), w, self_rows=True)
            if (~in_bank).any():
                raw[g, ~in_bank] = self.bank_.score(self._fuse(Zc[~in_bank], Zn[~in_bank], w), w)
        self.score_stats_ = [list(robust_location_scale(raw[g])) for g in range(len(self.grid_))]
        self.score_offsets_ = [0.0] * len(self.grid_)
        z = np.stack([self._standardize(raw[g], g) for g in range(len(self.grid_))])
        c = float(self.contamination)
        own = [float(np.percentile(s, 100 * (1 - c))) for s in z]
        # align every weight's clean-data threshold on the clean student's: a batch scored at
        # any weight then has exactly that weight's own clean-data false-alarm rate
        self.score_offsets_ = [t - own[-1] for t in own]
        self.train_scores_ = z - np.asarray(self.score_offsets_)[:, None]
        self.weight_thresholds_ = [own[-1]] * len(self.grid_)

        choice = self._guard(self._choose(H - self.entropy_ref_[:, None]), lambda g, r: z[g, r])
        self.train_fusion_weights_ = self.grid_[np.unique(choice)].tolist()
        self.decision_scores_ = self.train_scores_[choice, np.arange(n)]
        self.fit_seconds_ = round(time.perf_counter() - t_start, 4)
        self._process_decision_scores()
        # the fused training scores mix weights; the common clean-data threshold is the rule
        self.threshold_ = float(self.weight_thresholds_[-1])
        self.labels_ = labels_from_scores(self.decision_scores_, self.threshold_)
        return self

    def _teacher_embed(self, Xs: np.ndarray, seed: int, device: torch.device) -> np.ndarray:
        """Clean-row teacher embedding over one global scale (distances keep their ratios)."""
        n, d = Xs.shape
        dim = int(min(self.embed_dim, d, n - 1))
        if self.teacher == "pca":
            E = PCA(n_components=dim, random_state=seed).fit_transform(Xs)
        else:
            torch.manual_seed(seed)
            ae = AETeacher(d, 512, dim).to(device)
            data = torch.from_numpy(Xs)
            gen = torch.Generator().manual_seed(seed)
            opt = torch.optim.Adam(ae.parameters(), lr=1e-3, weight_decay=1e-5)
            b = min(256, n)
            for _ in range(2000):
                x = data[torch.randint(n, (b,), generator=gen)].to(device)
                loss = (ae(x) - x).pow(2).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            with torch.no_grad():
                E = ae.eval().encode(data.to(device)).double().cpu().numpy()
            E = E - E.mean(axis=0)
        self.teacher_scale_ = float(np.sqrt((E**2).sum(axis=1).mean()) + 1e-9)
        return (E / self.teacher_scale_ * np.sqrt(E.shape[1])).astype(np.float32)

    def _distil(
        self,
        student: StudentEncoder,
        Xs: np.ndarray,
        E: np.ndarray,
        steps: int,
        seed: int,
        device: torch.device,
        corrupt: bool,
    ) -> None:
        """Adam steps on S(x) -> e_T(x), or S(noise(x)) -> e_T(x) for the noisy student."""
        X, T = torch.from_numpy(Xs), torch.from_numpy(E)
        gen = torch.Generator().manual_seed(seed)
        cfg = noise_config(self.noise)
        opt = torch.optim.Adam(
            student.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay)
        )
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
        b = int(min(int(self.batch_size), len(X)))
        student.train()
        for _ in range(int(steps)):
            idx = torch.randint(len(X), (b,), generator=gen)
            x = X[idx]
            if corrupt:
                x = corrupt_batch(x, cfg, gen, SCALE_CLIP)
            loss = distill_loss(student(x.to(device)), T[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(student.parameters(), 5.0)
            opt.step()
            sched.step()
        student.eval()

    # ------------------------------------------------------------------ scoring
    def _check_fitted(self) -> None:
        if not hasattr(self, "student_clean_"):
            raise RuntimeError("MixKDDetector is not fitted; call fit(X) first")

    @torch.no_grad()
    def _embed(self, Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        device = resolve_device(self.device)
        x = torch.as_tensor(Xs, dtype=torch.float32, device=device)
        zc = self.student_clean_(x).double().cpu().numpy()
        zn = self.student_noisy_(x).double().cpu().numpy()
        return zc, zn

    @staticmethod
    def _fuse(Zc: np.ndarray, Zn: np.ndarray, w: float) -> np.ndarray:
        return w * Zc + (1 - w) * Zn

    def _standardize(self, raw: np.ndarray, g: int, aligned: bool = True) -> np.ndarray:
        """Robust z on the weight's own training scores, minus its threshold offset."""
        loc, sc = self.score_stats_[g]
        return (raw - loc) / sc - (float(self.score_offsets_[g]) if aligned else 0.0)

    def _guard(
        self, choice: np.ndarray, z_at: Callable[[int, np.ndarray], np.ndarray]
    ) -> np.ndarray:
        """Undo a batch's move away from the clean student when the batch looks MORE atypical
        at the new weight (median robust z over the batch, each weight against its own clean
        training scores): moving is meant to stop noise-driven alarms, not to add them.

        ``z_at(g, rows)`` gives the unaligned robust z of ``rows`` at grid index ``g``. Batch
        mode only: per row, the check would let each row pick its most normal-looking weight.
        """
        base = len(self.grid_) - 1
        if self.fusion != "batch":
            return choice
        out = choice.copy()
        fb = int(self.fusion_batch)
        for start in range(0, len(choice), fb):
            g = int(choice[start])
            if g == base:
                continue
            rows = np.arange(start, min(start + fb, len(choice)))
            if np.median(z_at(g, rows)) > np.median(z_at(base, rows)):
                out[rows] = base
        return out

    def _choose(self, excess: np.ndarray) -> np.ndarray:
        """Grid index per row: one choice per consecutive ``fusion_batch`` rows (or per row)."""
        n = excess.shape[1]
        z = float(self.select_z)
        if self.fusion == "sample":
            return np.array([select_weight(excess[:, i : i + 1], z) for i in range(n)], dtype=int)
        out = np.empty(n, dtype=int)
        fb = int(self.fusion_batch)
        for start in range(0, n, fb):
            out[start : start + fb] = select_weight(excess[:, start : start + fb], z)
        return out

    def _excess(self, Zc: np.ndarray, Zn: np.ndarray) -> np.ndarray:
        H = entropy_per_weight(
            Zc, Zn, self.grid_, self.prototypes_, self.tau_, float(self.entropy_q)
        )
        return H - self.entropy_ref_[:, None]

    def decision_function(self, X: Any) -> np.ndarray:
        """Fused kNN score per row (higher = more anomalous), one fusion weight per batch."""
        self._check_fitted()
        X = check_matrix(X, self.n_features_in_)
        with torch_threads(self.n_threads):
            Zc, Zn = self._embed(self._scale(X))
        choice = self._guard(self._choose(self._excess(Zc, Zn)), self._z_rows(Zc, Zn))
        out = np.empty(len(X))
        for g in np.unique(choice):
            rows = choice == g
            w = float(self.grid_[g])
            out[rows] = self._standardize(self.bank_.score(self._fuse(Zc[rows], Zn[rows], w), w), g)
        starts = np.arange(0, len(X), int(self.fusion_batch))
        per_batch = self.grid_[choice[starts]] if self.fusion == "batch" else self.grid_[choice]
        self.last_fusion_weights_ = per_batch.tolist()
        self.last_fusion_weight_ = float(per_batch[-1])
        return out

    def _z_rows(self, Zc: np.ndarray, Zn: np.ndarray) -> Callable[[int, np.ndarray], np.ndarray]:
        """Unaligned robust z of chosen rows at a grid index (for ``_guard``)."""

        def z_at(g: int, rows: np.ndarray) -> np.ndarray:
            w = float(self.grid_[g])
            raw = self.bank_.score(self._fuse(Zc[rows], Zn[rows], w), w)
            return self._standardize(raw, g, aligned=False)

        return z_at

    def score_at(self, X: Any, weight: float) -> np.ndarray:
        """Score with a fixed fusion weight from the grid (1.0 = clean student alone)."""
        self._check_fitted()
        X = check_matrix(X, self.n_features_in_)
        g = int(np.argmin(np.abs(self.grid_ - float(weight))))
        if abs(self.grid_[g] - float(weight)) > 1e-9:
            raise ValueError(f"weight must be one of {self.grid_.tolist()}, got {weight}")
        with torch_threads(self.n_threads):
            Zc, Zn = self._embed(self._scale(X))
        w = float(self.grid_[g])
        return self._standardize(self.bank_.score(self._fuse(Zc, Zn, w), w), g)

    def threshold_at(self, weight: float) -> float:
        """Clean-data threshold of a fixed fusion weight (``contamination`` quantile)."""
        g = int(np.argmin(np.abs(self.grid_ - float(weight))))
        return float(self.weight_thresholds_[g])

    def explain(self, X: Any) -> np.ndarray:
        """Per-feature share of |gradient x (x - median)| of each row's fused kNN distance.

        The row's neighbours and the batch's fusion weight are held fixed; (n, d), rows sum to 1.
        """
        self._check_fitted()
        X = check_matrix(X, self.n_features_in_)
        Xs = self._scale(X)
        device = resolve_device(self.device)
        with torch_threads(self.n_threads):
            Zc, Zn = self._embed(Xs)
            choice = self._guard(self._choose(self._excess(Zc, Zn)), self._z_rows(Zc, Zn))
            contrib = np.zeros_like(Xs)
            for g in np.unique(choice):
                rows = np.flatnonzero(choice == g)
                w = float(self.grid_[g])
                _, idx = self.bank_.neighbours(self._fuse(Zc[rows], Zn[rows], w), w)
                bank = torch.as_tensor(
                    self._fuse(self.bank_.bank_c, self.bank_.bank_n, w)[idx], dtype=torch.float32
                )
                x = torch.as_tensor(Xs[rows], dtype=torch.float32, device=device).requires_grad_(
                    True
                )
                z = w * self.student_clean_(x) + (1 - w) * self.student_noisy_(x)
                dist = (z[:, None, :] - bank.to(device)).norm(dim=2).mean(dim=1)
                (grad,) = torch.autograd.grad(dist.sum(), x)
                contrib[rows] = (grad * x).detach().abs().double().cpu().numpy()
        return row_shares(contrib)

    # ------------------------------------------------------------------ persistence
    def kdmon_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """(JSON-serializable meta, tensors) for pickle-free saving; the teacher is not needed."""
        self._check_fitted()
        params = self.get_params(deep=False)
        params["steps"] = [int(s) for s in params["steps"]]
        params["lambda_grid"] = [float(v) for v in params["lambda_grid"]]
        fitted = {
            "n_features_in_": int(self.n_features_in_),
            "hidden_": self.hidden_,
            "embed_dim_": self.embed_dim_,
            "center_": self.center_.tolist(),
            "scale_": self.scale_.tolist(),
            "grid_": self.grid_.tolist(),
            "tau_": self.tau_,
            "entropy_ref_": self.entropy_ref_.tolist(),
            "score_stats_": self.score_stats_,
            "score_offsets_": self.score_offsets_,
            "weight_thresholds_": self.weight_thresholds_,
            "train_fusion_weights_": self.train_fusion_weights_,
            "teacher_scale_": self.teacher_scale_,
            "k_": self.bank_.k,
            "threshold_": float(self.threshold_),
            "_mu": float(self._mu),
            "_sigma": float(self._sigma),
            "fit_seconds_": self.fit_seconds_,
        }
        meta = {
            "detector": "mix_kd",
            "state_version": STATE_VERSION,
            "params": params,
            "fitted": fitted,
        }
        tensors: dict[str, torch.Tensor] = {}
        for name, net in (("clean", self.student_clean_), ("noisy", self.student_noisy_)):
            tensors.update(module_tensors(net, f"student_{name}."))
        for key, arr in (
            ("prototypes", self.prototypes_),
            ("bank_clean", self.bank_.bank_c),
            ("bank_noisy", self.bank_.bank_n),
            ("decision_scores", self.decision_scores_),
            ("train_scores", self.train_scores_),
        ):
            tensors[f"fitted.{key}"] = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float64))
        return meta, tensors

    @classmethod
    def from_kdmon_state(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Self:
        """Rebuild a fitted detector from ``kdmon_state`` output (no pickle)."""
        if meta.get("detector") != "mix_kd" or meta.get("state_version") not in (1, STATE_VERSION):
            raise ValueError("not a mix_kd state (or an unsupported state_version)")
        params = dict(meta["params"])
        params["steps"] = tuple(params["steps"])
        params["lambda_grid"] = tuple(params["lambda_grid"])
        params["device"] = loadable_device(params.get("device", "cpu"))
        det = cls(**params)
        f = meta["fitted"]
        det.n_features_in_ = int(f["n_features_in_"])
        det.hidden_, det.embed_dim_ = int(f["hidden_"]), int(f["embed_dim_"])
        det.center_ = np.asarray(f["center_"], dtype=np.float64)
        det.scale_ = np.asarray(f["scale_"], dtype=np.float64)
        det.feature_median_, det.feature_scale_ = det.center_.copy(), det.scale_.copy()
        det.grid_ = np.asarray(f["grid_"], dtype=np.float64)
        det.entropy_ref_ = np.asarray(f["entropy_ref_"], dtype=np.float64)
        for key in ("tau_", "score_stats_", "weight_thresholds_", "train_fusion_weights_"):
            setattr(det, key, f[key])
        det.score_offsets_ = f.get("score_offsets_", [0.0] * len(det.grid_))
        det.teacher_scale_, det.fit_seconds_ = f["teacher_scale_"], f["fit_seconds_"]
        det.threshold_, det._mu, det._sigma = (
            float(f["threshold_"]),
            float(f["_mu"]),
            float(f["_sigma"]),
        )
        det._set_n_classes(None)
        for name in ("clean", "noisy"):
            net = StudentEncoder(det.n_features_in_, det.hidden_, det.embed_dim_)
            net.load_state_dict(prefixed_state(tensors, f"student_{name}."))
            setattr(det, f"student_{name}_", net.to(det.device).eval())

        def arr(key: str) -> np.ndarray:
            return tensors[f"fitted.{key}"].numpy().astype(np.float64)

        det.prototypes_ = arr("prototypes")
        det.bank_ = KnnBank(arr("bank_clean"), arr("bank_noisy"), int(f["k_"]))
        det.decision_scores_ = arr("decision_scores")
        det.train_scores_ = arr("train_scores")
        det.labels_ = labels_from_scores(det.decision_scores_, det.threshold_)
        return det
