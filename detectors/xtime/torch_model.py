"""Networks for xTime (Li et al., ICDM 2025, "Extreme Event Prediction with Hierarchical Knowledge
Distillation and Expert Fusion"; tabular/sensor reconstruction in methods.md §4.2, §6.5).

Plain ``nn.Module`` classes, no training glue:

- ``ForecastExpert``: one rarity level's forecaster. Flattened context window -> hidden features
  h -> one-step forecast of every sensor, predicted as a change from the last reading
  (persistence plus a learned correction). With ``rare_mode="head"`` the rare experts keep
  E_0's features frozen and differ only in ``head``; with "full", h is the feature-KD target of
  the next, rarer expert.
- ``RarityGate``: the mixture-of-experts router on window features phi(x). It also carries the
  early-warning risk net: discrete-time hazards of an extreme event at steps 1..risk_horizon
  ahead, from phi, the experts' closeness to the extreme band and each sensor's margin to it.
- ``XTimeModel``: the experts and the gate, fused as y_hat = sum_k g_k(x) * E_k(x).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class ForecastExpert(nn.Module):
    """(b, window, C) -> (forecast (b, C), penultimate features (b, hidden[-1]))."""

    def __init__(self, channels: int, window: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = channels * window
        for h in hidden:
            layers += [nn.Linear(width, h), nn.GELU()]
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, channels)
        nn.init.zeros_(self.head.weight)  # start as the persistence forecast
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return x[:, -1, :] + self.head(h), h


class RarityGate(nn.Module):
    """phi(x) -> routing logits over the K+1 experts. A separate risk net reads phi(x), how
    close each expert forecasts some sensor to its extreme threshold (so the rare experts inform
    the early warning) and each sensor's margin to its band and drift towards it, and gives
    hazard logits for steps 1..H. Kept apart from the routing trunk: routing is trained on
    held-out rows for forecast error, the hazards on every row for the survival likelihood."""

    def __init__(
        self, n_in: int, n_experts: int, risk_horizon: int, hidden: int = 32, n_margin: int = 0
    ) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(n_in)
        self.trunk = nn.Sequential(
            nn.Linear(n_in, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU()
        )
        self.route = nn.Linear(hidden, n_experts)
        self.risk = nn.Sequential(
            nn.Linear(n_in + n_experts + n_margin, hidden), nn.GELU(),
            nn.Linear(hidden, hidden), nn.GELU(),
        )  # fmt: skip
        # Start by trusting E_0 (half the mass): rarer experts must earn their share on data.
        if n_experts > 1:
            nn.init.constant_(self.route.bias, 0.0)
            with torch.no_grad():
                self.route.bias[0] = math.log(n_experts - 1)
        self.hazard = nn.Linear(hidden, risk_horizon)

    def forward(
        self, phi: torch.Tensor, closeness: torch.Tensor, margins: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.norm(phi)
        r = self.risk(torch.cat([p, closeness, margins], dim=1))
        return self.route(self.trunk(p)), self.hazard(r)


def extreme_closeness(preds: torch.Tensor, extreme_tau: torch.Tensor) -> torch.Tensor:
    """Per expert, max over sensors of |forecast| / extreme threshold (b, K+1), log-compressed."""
    ratio = preds.abs() / extreme_tau.clamp_min(1e-3)
    return torch.log1p(ratio.max(dim=2).values)


def extreme_margins(x: torch.Tensor, extreme_tau: torch.Tensor) -> torch.Tensor:
    """Per sensor, in units of its extreme threshold: how far out the last reading is
    (log-compressed) and how fast the window drifts away from the median (b, 2C).

    The precursor of a crossing is a sensor that is already out and still moving out."""
    tau = extreme_tau.clamp_min(1e-3)
    length = x.shape[1]
    t = torch.arange(length, dtype=x.dtype, device=x.device) - (length - 1) / 2.0
    slope = (x * t[None, :, None]).sum(dim=1) / t.pow(2).sum().clamp_min(1.0)
    last = x[:, -1, :]
    outward = (slope * torch.sign(last) * length / tau).clamp(-5.0, 5.0)
    return torch.cat([torch.log1p(last.abs() / tau), outward], dim=1)


class XTimeModel(nn.Module):
    """Experts of increasing rarity plus the gate; ``forward`` returns everything scoring needs."""

    def __init__(
        self, experts: list[ForecastExpert], gate: RarityGate, extreme_tau: torch.Tensor
    ) -> None:
        super().__init__()
        self.experts = nn.ModuleList(experts)
        self.gate = gate
        self.register_buffer("extreme_tau", extreme_tau.to(torch.float32))

    def forward(
        self, x: torch.Tensor, phi: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Fused forecast (b, C), expert forecasts (b, K+1, C), gate weights (b, K+1), hazards."""
        preds = torch.stack([e(x)[0] for e in self.experts], dim=1)
        logits, hazard_logits = self.gate(
            phi,
            extreme_closeness(preds, self.extreme_tau),
            extreme_margins(x, self.extreme_tau),
        )
        g = torch.softmax(logits, dim=1)
        fused = (g.unsqueeze(2) * preds).sum(dim=1)
        return fused, preds, g, hazard_logits
