"""``XTimeDetector``: extreme-aware forecasting, anomaly scores and early-warning risk (PyOD).

Method (reconstruction of xTime, Li et al., ICDM 2025, for multivariate sensor lines; README.md):
per-sensor rarity bands (normal / rare / extreme quantiles of |robust z|) define experts
E_0..E_K; E_0 forecasts every row with the whole step budget (it is the single forecaster of
equal budget), each rarer E_k re-learns E_0's output layer on its frozen features starting from
E_{k-1}'s, weighs rarer target values more (hierarchical rare penalty), oversamples windows that
reach its level and is distilled from E_{k-1} on the values below its level. A gate on
wavelet/trend features of the window, trained on held-out blocks, fuses the experts; a risk net
gives the hazards for ``extreme_risk``. Anomaly score = standardized residual of the fused
one-step forecast. Rows must be in time order.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any, Self

import numpy as np
import torch
from pyod.models.base import BaseDetector

from detectors.common import (
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
    robust_scale,
    seed_of,
    to_jsonable,
    torch_threads,
)
from detectors.xtime.features import (
    gate_feature_dim,
    gate_features,
    holdout_blocks,
    padded_series,
    rarity_levels,
    rarity_thresholds,
    window_batch,
)
from detectors.xtime.loss import (
    expert_loss,
    gate_loss,
    hazard_nll,
    hazard_to_risk,
    rare_penalty_weights,
)
from detectors.xtime.scoring import aggregate, residual_shares, standardized_residuals
from detectors.xtime.torch_model import (
    ForecastExpert,
    RarityGate,
    XTimeModel,
    extreme_closeness,
    extreme_margins,
)

_INFER_BATCH = 8192
_FORMAT = 2  # kdmon_state layout; 2 = separate risk net with sensor margins
_MAX_THREADS = 8  # n_threads=None: up to this many (capped at the cores)


def _expert_budgets(
    per_expert: int, n_experts: int, base_share: float | None, heads: bool = False
) -> list[int]:
    """Steps per expert. E_0 gets ``base_share`` of ``per_expert * n_experts`` (None: an even
    split). Rare experts share the rest (full networks), or with ``heads`` get ``per_expert``
    head-only steps each on cached E_0 features: a few matrix products, not network steps."""
    total = int(per_expert) * n_experts
    if base_share is None or n_experts == 1:
        return [int(per_expert)] * n_experts
    first = int(round(float(base_share) * total))
    rest = int(per_expert) if heads else (total - first) // (n_experts - 1)
    return [first] + [rest] * (n_experts - 1)


def _steps(pool: int, budget: int, batch: int, max_epochs: float) -> int:
    """Gradient steps: the budget, capped at ``max_epochs`` passes (no memorizing tiny series)."""
    return int(max(1, min(int(budget), math.ceil(max_epochs * pool / max(1, batch)))))


class XTimeDetector(BaseDetector):
    """xTime-style mixture of rarity experts for time-ordered sensor rows (PyOD contract).

    Parameters
    ----------
    contamination : expected anomaly share in (0, 0.5]; sets ``threshold_``.
    window : context rows before each forecast (shorter inputs are left-padded).
    levels : rarity quantiles of |robust z| per sensor (``two_sided``) or of z (upper tail);
        one expert per level plus E_0. ``levels=()`` is the single-forecaster baseline. The last
        level defines an "extreme" value for ``extreme_risk``.
    hidden : expert MLP widths; ``rare_mode``: "head" (rare experts = output layers on E_0's
        frozen features) or "full" (whole warm-started networks); ``base_share``: share of the
        expert budget ``(K+1) * steps_expert`` spent on E_0; ``kd_lambda``: feature-KD weight
        E_{k-1} -> E_k ("full" only); ``kd_output``: output-KD weight on values below level k;
        ``rare_gamma``: rare-penalty step; ``oversample``: share of each E_k batch drawn from
        level >= k windows.
    wavelet_levels : Haar levels in the gate features; ``gate_hidden`` the gate width;
        ``gate_ce`` / ``gate_balance``: level cross-entropy and load-balancing weights;
        ``gate_holdout``: share of rows (in blocks) kept from the rare experts to train routing.
    risk_horizon : steps ahead covered by the hazard head (``extreme_risk`` extrapolates beyond).
    score_agg : "rms" or "max" over sensors of the standardized residual.
    steps_expert, steps_gate : gradient-step budgets per expert and for the gate.
    device : "cpu" (default) or "cuda"; ``n_threads`` torch CPU threads (default 1: the nets
        are small, extra threads cost more in synchronization than they save on shared cores).
    """

    # Scores depend on the rows before: callers scoring a batch pass the preceding rows.
    time_ordered = True

    def __init__(
        self,
        contamination: float = 0.1,
        window: int = 32,
        levels: tuple[float, ...] = (0.80, 0.90, 0.95, 0.99),
        two_sided: bool = True,
        hidden: tuple[int, ...] = (128, 64),
        kd_lambda: float = 0.5,
        kd_output: float = 3.0,
        rare_mode: str = "head",
        base_share: float | None = 1.0,
        rare_gamma: float = 2.0,
        oversample: float = 0.5,
        wavelet_levels: int = 3,
        gate_hidden: int = 32,
        gate_ce: float = 0.1,
        gate_balance: float = 0.01,
        gate_holdout: float = 0.2,
        risk_horizon: int = 30,
        score_agg: str = "rms",
        steps_expert: int = 300,
        steps_gate: int = 400,
        max_epochs: float = 50.0,
        batch_size: int = 128,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        random_state: int | None = None,
        device: str = "cpu",
        n_threads: int | None = 1,
        verbose: bool = False,
    ) -> None:
        self.contamination = contamination
        self.window = window
        self.levels = levels
        self.two_sided = two_sided
        self.hidden = hidden
        self.kd_lambda = kd_lambda
        self.kd_output = kd_output
        self.rare_mode = rare_mode
        self.base_share = base_share
        self.rare_gamma = rare_gamma
        self.oversample = oversample
        self.wavelet_levels = wavelet_levels
        self.gate_hidden = gate_hidden
        self.gate_ce = gate_ce
        self.gate_balance = gate_balance
        self.gate_holdout = gate_holdout
        self.risk_horizon = risk_horizon
        self.score_agg = score_agg
        self.steps_expert = steps_expert
        self.steps_gate = steps_gate
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.device = device
        self.n_threads = n_threads
        self.verbose = verbose

    # ------------------------------------------------------------------ checks and helpers
    def _check_params(self) -> None:
        check_contamination(self.contamination)
        if int(self.window) < 2:
            raise ValueError(f"window must be >= 2, got {self.window}")
        lv = [float(q) for q in self.levels]
        if any(not 0.0 < q < 1.0 for q in lv) or lv != sorted(set(lv)):
            raise ValueError(f"levels must be increasing quantiles in (0, 1), got {self.levels}")
        if self.score_agg not in ("rms", "max"):
            raise ValueError(f"score_agg must be 'rms' or 'max', got {self.score_agg!r}")
        if int(self.risk_horizon) < 1:
            raise ValueError(f"risk_horizon must be >= 1, got {self.risk_horizon}")
        if not 0.0 <= float(self.oversample) < 1.0:
            raise ValueError(f"oversample must be in [0, 1), got {self.oversample}")
        if self.rare_mode not in ("head", "full"):
            raise ValueError(f"rare_mode must be 'head' or 'full', got {self.rare_mode!r}")
        top = 1.0 if self.rare_mode == "head" else 1.0 - 1e-9
        if self.base_share is not None and not 0.0 < float(self.base_share) <= top:
            raise ValueError(
                f"base_share must be None or in (0, 1] ('head') / (0, 1) ('full'), "
                f"got {self.base_share}"
            )
        if not 0.0 <= float(self.gate_holdout) <= 0.5:
            raise ValueError(f"gate_holdout must be in [0, 0.5], got {self.gate_holdout}")

    @staticmethod
    def _check_X(X: Any, n_features: int | None = None, name: str = "X") -> np.ndarray:
        return check_matrix(
            X, n_features, name=name, dtype=np.float32,
            layout="(n_rows, n_sensors) in time order", columns="sensors",
        )  # fmt: skip

    def _scale(self, X: np.ndarray) -> np.ndarray:
        """Robust units in float32 (the networks' dtype)."""
        return apply_robust_scale(X.astype(np.float32, copy=False), self.center_, self.scale_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise RuntimeError("XTimeDetector is not fitted; call fit(X) first")

    def _build_model(self) -> XTimeModel:
        c, w = self.n_features_in_, int(self.window)
        experts = [ForecastExpert(c, w, tuple(self.hidden)) for _ in range(self.n_experts_)]
        gate = RarityGate(
            gate_feature_dim(c, w, int(self.wavelet_levels)),
            self.n_experts_,
            int(self.risk_horizon),
            int(self.gate_hidden),
            n_margin=2 * c,
        )
        return XTimeModel(experts, gate, torch.as_tensor(self.extreme_tau_, dtype=torch.float32))

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None) -> XTimeDetector:
        """Fit on an unlabeled, time-ordered series X (n_rows, n_sensors); ``y`` is ignored."""
        del y  # labels never reach training
        self._check_params()
        X = self._check_X(X)
        n, c = X.shape
        if n < 16:
            raise ValueError(f"xTime needs at least 16 time-ordered rows to fit, got {n}")
        t_start = time.perf_counter()
        seed = seed_of(self.random_state)
        device = resolve_device(self.device)
        self.n_features_in_ = c
        self._set_n_classes(None)
        w, bs = int(self.window), int(self.batch_size)

        self.center_, self.scale_ = robust_center_scale(X)
        self.feature_median_ = self.center_.copy()
        self.feature_scale_ = self.scale_.copy()
        Z = self._scale(X)

        levels = tuple(float(q) for q in self.levels)
        self.n_experts_ = len(levels) + 1
        self.tau_ = rarity_thresholds(Z, levels, bool(self.two_sided))
        ext_q = (levels[-1],) if levels else (0.99,)
        self.extreme_tau_ = rarity_thresholds(Z, ext_q, bool(self.two_sided))[0]
        lv = torch.from_numpy(rarity_levels(Z, self.tau_, bool(self.two_sided)))  # (n, C)
        win_level = lv.max(dim=1).values  # level of each forecast target row
        ext = torch.from_numpy(self._extreme_rows(Z).astype(np.float32))

        series = torch.from_numpy(padded_series(Z, w))
        targets = torch.from_numpy(Z)
        ends = torch.arange(n) + w  # window t = series[t : t + w] precedes row t
        horizon = int(self.risk_horizon)

        def batch(idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
            x = window_batch(series, ends[idx], w)
            fut = idx.unsqueeze(1) + torch.arange(horizon)
            valid = (fut < n).to(torch.float32)
            events = ext[fut.clamp(max=n - 1)] * valid
            return x.to(device), targets[idx].to(device), lv[idx].to(device), events, valid

        rng = torch.Generator().manual_seed(seed)
        all_idx = torch.arange(n)
        held = torch.from_numpy(holdout_blocks(n, float(self.gate_holdout), max(64, 4 * w)))
        fit_idx = all_idx[~held]
        gate_idx = all_idx[held] if bool(held.any()) else all_idx
        lr, wd = float(self.lr), float(self.weight_decay)
        with torch_threads(self.n_threads, _MAX_THREADS):
            torch.manual_seed(seed)
            model = self._build_model().to(device)
            # ---- experts, from the most common level to the rarest, each distilled from the last
            trace: list[dict[str, Any]] = []
            heads = self.rare_mode == "head"
            budgets = _expert_budgets(
                int(self.steps_expert), self.n_experts_, self.base_share, heads
            )
            cached: tuple[torch.Tensor, torch.Tensor] | None = None
            for k, expert in enumerate(model.experts):
                head_only = heads and k > 0
                if k > 0:
                    expert.load_state_dict(model.experts[k - 1].state_dict())
                if head_only and cached is None:  # E_0's features, frozen for every rare head
                    cached = self._cached_features(model.experts[0], series, ends, device)
                teacher = None
                if k > 0 and (float(self.kd_lambda) > 0 or float(self.kd_output) > 0):
                    teacher = copy.deepcopy(model.experts[k - 1]).eval()
                    teacher.requires_grad_(False)
                # E_0 of the head variant sees every row, like the single forecaster
                pool = all_idx if heads and k == 0 else fit_idx
                rare = torch.nonzero((win_level >= k) & ~held).ravel() if k > 0 else pool
                n_rare = int(round(float(self.oversample) * bs)) if k > 0 and len(rare) else 0
                steps = _steps(len(pool), budgets[k], bs, float(self.max_epochs))
                trained = expert.head if head_only else expert
                opt = torch.optim.Adam(trained.parameters(), lr=lr, weight_decay=wd)
                sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
                expert.train()
                last = float("nan")
                for _ in range(steps):
                    pick = pool[torch.randint(len(pool), (bs - n_rare,), generator=rng)]
                    if n_rare:
                        extra = rare[torch.randint(len(rare), (n_rare,), generator=rng)]
                        pick = torch.cat([pick, extra])
                    if head_only and cached is not None:
                        feats, lasts = cached[0][pick], cached[1][pick]
                        yt, lvb = targets[pick].to(device), lv[pick].to(device)
                        pred, h = lasts + expert.head(feats), feats
                        p_t = None if teacher is None else lasts + teacher.head(feats)
                        h_t = None  # same features: nothing to distil there
                    else:
                        x, yt, lvb, _, _ = batch(pick)
                        pred, h = expert(x)
                        p_t, h_t = teacher(x) if teacher is not None else (None, None)
                    wts = rare_penalty_weights(lvb, k, float(self.rare_gamma))
                    loss = expert_loss(
                        pred, yt, wts, h, h_t, float(self.kd_lambda),
                        p_t, (lvb < k).to(pred.dtype), float(self.kd_output),
                    )  # fmt: skip
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(expert.parameters(), 5.0)
                    opt.step()
                    sched.step()
                    last = float(loss.detach())
                expert.eval()
                trace.append({"stage": f"expert{k}", "steps": steps, "rows": len(pool),
                              "head_only": head_only,
                              "rare_windows": int(len(rare)),
                              "last_loss": round(last, 6)})  # fmt: skip
                if self.verbose:
                    print(f"[xtime] expert {k}: {steps} steps, loss {last:.4f}")

            # ---- gate (and hazard head) with the experts frozen
            for e in model.experts:
                e.requires_grad_(False)
            with torch.no_grad():
                preds = torch.cat(
                    [
                        torch.stack([e(batch(i)[0])[0] for e in model.experts], dim=1).cpu()
                        for i in torch.split(all_idx, _INFER_BATCH)
                    ]
                )
            gate = model.gate
            steps = _steps(n, int(self.steps_gate), bs, float(self.max_epochs))
            opt = torch.optim.Adam(gate.parameters(), lr=lr, weight_decay=wd)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
            gate.train()
            k_top = self.n_experts_ - 1

            def gate_pass(pick: torch.Tensor) -> tuple[torch.Tensor, ...]:
                x, yt, lvb, events, valid = batch(pick)
                p_k = preds[pick].to(device)
                phi = gate_features(x, int(self.wavelet_levels))
                x = x.to(device)
                logits, hz = gate(
                    phi.to(device),
                    extreme_closeness(p_k, model.extreme_tau),
                    extreme_margins(x, model.extreme_tau),
                )
                return logits, hz, p_k, yt, lvb, events.to(device), valid.to(device)

            for _ in range(steps):
                # routing on held-out rows (if any); the hazard head on every row
                pick = gate_idx[torch.randint(len(gate_idx), (bs,), generator=rng)]
                logits, hz, p_k, yt, lvb, events, valid = gate_pass(pick)
                fused = (torch.softmax(logits, dim=1).unsqueeze(2) * p_k).sum(1)
                wts = rare_penalty_weights(lvb, k_top, float(self.rare_gamma))
                loss = gate_loss(
                    fused, yt, wts, logits, win_level[pick].to(device),
                    float(self.gate_ce), float(self.gate_balance),
                )  # fmt: skip
                if len(gate_idx) < n:
                    pick = all_idx[torch.randint(n, (bs,), generator=rng)]
                    _, hz, _, _, _, events, valid = gate_pass(pick)
                loss = loss + hazard_nll(hz, events, valid)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(gate.parameters(), 5.0)
                opt.step()
                sched.step()
            gate.eval()
            trace.append(
                {
                    "stage": "gate",
                    "steps": steps,
                    "route_rows": len(gate_idx),
                    "last_loss": round(float(loss.detach()), 6),
                }  # fmt: skip
            )
            model.requires_grad_(False)
            self.model_ = model.eval()

            # ---- residual statistics and training scores
            fused, _, _, _ = self._infer_windows(Z, None)
            resid = Z - fused[:n]
            self.resid_scale_ = robust_scale(resid, axis=0, floor=1e-3)
            raw = aggregate(standardized_residuals(Z, fused[:n], self.resid_scale_), self.score_agg)
            self.score_stats_ = list(robust_location_scale(raw, floor=1e-6, fallback=1e-6))
        self.decision_scores_ = (raw - self.score_stats_[0]) / self.score_stats_[1]
        self.extreme_rate_ = float(ext.mean())
        self.training_trace_ = trace
        self.fit_seconds_ = round(time.perf_counter() - t_start, 4)
        self._process_decision_scores()
        return self

    @staticmethod
    @torch.no_grad()
    def _cached_features(
        expert: ForecastExpert, series: torch.Tensor, ends: torch.Tensor, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """E_0's penultimate features and each window's last reading, for every training row."""
        w = int(series.shape[0] - len(ends))
        expert.eval()
        feats = [
            expert.body(window_batch(series, part, w).to(device))
            for part in torch.split(ends, _INFER_BATCH)
        ]
        return torch.cat(feats), series[ends - 1].to(device)

    def _extreme_rows(self, Z: np.ndarray) -> np.ndarray:
        mag = np.abs(Z) if self.two_sided else Z
        return (mag > self.extreme_tau_[None, :]).any(axis=1)

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def _infer_windows(
        self, Z: np.ndarray, context: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, torch.Tensor]:
        """Outputs for the n + 1 windows ending before rows 0..n (window n follows the last row)."""
        device = resolve_device(self.device)
        w = int(self.window)
        ctx = None if context is None else self._scale(context)
        series = torch.from_numpy(padded_series(Z, w, ctx))
        n = Z.shape[0]
        model = self.model_.to(device)
        fused, preds, gates, hz = [], [], [], []
        for part in torch.split(torch.arange(n + 1) + w, _INFER_BATCH):
            x = window_batch(series, part, w)
            phi = gate_features(x, int(self.wavelet_levels))
            f, p, g, h = model(x.to(device), phi.to(device))
            fused.append(f.cpu())
            preds.append(p.cpu())
            gates.append(g.cpu())
            hz.append(h.cpu())
        return (
            torch.cat(fused).double().numpy(),
            torch.cat(preds).double().numpy(),
            torch.cat(gates).double().numpy(),
            torch.cat(hz),
        )

    def _prepare(self, X: Any, context: Any) -> tuple[np.ndarray, np.ndarray | None]:
        self._check_fitted()
        X = self._check_X(X, self.n_features_in_)
        ctx = None if context is None else self._check_X(context, self.n_features_in_, "context")
        return X, ctx

    def _std_resid(self, X: Any, context: Any) -> np.ndarray:
        X, ctx = self._prepare(X, context)
        Z = self._scale(X)
        with torch_threads(self.n_threads, _MAX_THREADS):
            fused = self._infer_windows(Z, ctx)[0]
        return standardized_residuals(Z, fused[: len(Z)], self.resid_scale_)

    def decision_function(self, X: Any, context: Any = None) -> np.ndarray:
        """Anomaly score per row: standardized residual of its one-step fused forecast.

        ``context``: rows that came right before X (e.g. the previous batch); without it the
        first rows are forecast from a padded history.
        """
        z = self._std_resid(X, context)
        return (aggregate(z, self.score_agg) - self.score_stats_[0]) / self.score_stats_[1]

    def extreme_risk(self, X: Any, horizon: int | None = None, context: Any = None) -> np.ndarray:
        """P(an extreme value on any sensor within the next ``horizon`` rows), after each row.

        An extreme value exceeds the last rarity level's threshold on the training series.
        """
        X, ctx = self._prepare(X, context)
        h = int(self.risk_horizon if horizon is None else horizon)
        if h < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        with torch_threads(self.n_threads, _MAX_THREADS):
            hz = self._infer_windows(self._scale(X), ctx)[3]
        return hazard_to_risk(hz[1:], h).double().numpy()

    def gate_weights(self, X: Any, context: Any = None) -> np.ndarray:
        """Gate weight of each expert (n, K+1) for each row's forecast; last column = rarest."""
        X, ctx = self._prepare(X, context)
        with torch_threads(self.n_threads, _MAX_THREADS):
            return self._infer_windows(self._scale(X), ctx)[2][: len(X)]

    def forecast(self, X: Any, context: Any = None, expert: int | None = None) -> np.ndarray:
        """One-step forecast of each row from the rows before it, in sensor units (n, C).

        ``expert=k`` returns expert k alone instead of the gated fusion.
        """
        X, ctx = self._prepare(X, context)
        with torch_threads(self.n_threads, _MAX_THREADS):
            fused, preds, _, _ = self._infer_windows(self._scale(X), ctx)
        out = fused if expert is None else preds[:, int(expert), :]
        return out[: len(X)] * self.scale_ + self.center_

    def rarity_level(self, X: Any) -> np.ndarray:
        """Highest rarity level reached by any sensor on each row (0 = normal, K = extreme)."""
        self._check_fitted()
        Z = self._scale(self._check_X(X, self.n_features_in_))
        return rarity_levels(Z, self.tau_, bool(self.two_sided)).max(axis=1)

    def is_extreme(self, X: Any) -> np.ndarray:
        """Rows on which some sensor exceeds its extreme threshold (the risk head's event)."""
        self._check_fitted()
        return self._extreme_rows(self._scale(self._check_X(X, self.n_features_in_)))

    def explain(self, X: Any, context: Any = None) -> np.ndarray:
        """Per-sensor share of each row's squared standardized forecast residual, (n, d)."""
        return residual_shares(self._std_resid(X, context))

    # ------------------------------------------------------------------ persistence (no pickle)
    _FITTED = (
        "n_features_in_", "n_experts_", "score_stats_", "threshold_", "extreme_rate_",
        "training_trace_", "fit_seconds_", "_mu", "_sigma", "_classes",
    )  # fmt: skip
    _ARRAYS = ("center_", "scale_", "feature_median_", "feature_scale_", "tau_", "extreme_tau_",
               "resid_scale_")  # fmt: skip

    def kdmon_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """(JSON-able params + fitted numpy state, tensors) for ``detectors.persistence``."""
        self._check_fitted()
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in self.get_params().items()}
        fitted: dict[str, Any] = {k: to_jsonable(getattr(self, k)) for k in self._FITTED}
        fitted.update({k: np.asarray(getattr(self, k)).tolist() for k in self._ARRAYS})
        meta = {"detector": "xtime", "format": _FORMAT, "params": params, "fitted": fitted}
        tensors = module_tensors(self.model_, "model.")
        tensors["fitted.decision_scores"] = torch.from_numpy(np.asarray(self.decision_scores_))
        return meta, tensors

    @classmethod
    def from_kdmon_state(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Self:
        """Rebuild a fitted detector from ``kdmon_state`` output (CPU fallback for cuda models)."""
        if meta.get("format") != _FORMAT:
            raise ValueError(
                f"xtime state format {meta.get('format')!r} is not {_FORMAT} "
                "(the risk net changed in format 2): refit the detector"
            )
        params = dict(meta["params"])
        for k in ("levels", "hidden"):
            params[k] = tuple(params[k])
        params["device"] = loadable_device(params.get("device", "cpu"))
        det = cls(**params)
        fitted = meta["fitted"]
        for k in cls._FITTED:
            setattr(det, k, fitted[k])
        for k in cls._ARRAYS:
            setattr(det, k, np.asarray(fitted[k], dtype=np.float64))
        model = det._build_model()
        model.load_state_dict(prefixed_state(tensors, "model."))
        model.requires_grad_(False)
        det.model_ = model.eval()
        det.decision_scores_ = tensors["fitted.decision_scores"].numpy().astype(np.float64)
        det.labels_ = labels_from_scores(det.decision_scores_, det.threshold_)
        return det
