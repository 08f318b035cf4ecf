"""Networks for xTime (Li et al., ICDM 2025, "Extreme Event Prediction with Hierarchical Knowledge
Distillation and Expert Fusion"; tabular/sensor reconstruction in methods.md §4.2, §6.5).

Plain ``nn.Module`` classes, no training glue:

- ``ForecastExpert``: one rarity level's forecaster. Flattened context window -> hidden features
  h (the KD target of the next, rarer expert) -> one-step forecast of every sensor, predicted as
  a change from the last reading (persistence plus a learned correction).
- ``RarityGate``: the mixture-of-experts router on window features phi(x). It also carries the
  early-warning head: discrete-time hazards of an extreme event at steps 1..risk_horizon ahead.
- ``XTimeModel``: the experts and the gate, fused as y_hat = sum_k g_k(x) * E_k(x).
"""

from __future__ import annotations

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
    """phi(x) -> routing logits over the K+1 experts; phi(x) + how close each expert forecasts
    some sensor to its extreme threshold -> hazard logits for steps 1..H (so the rare experts
    inform the early warning)."""

    def __init__(self, n_in: int, n_experts: int, risk_horizon: int, hidden: int = 32) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(n_in)
        self.trunk = nn.Sequential(
            nn.Linear(n_in, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU()
        )
        self.route = nn.Linear(hidden, n_experts)
        self.hazard = nn.Linear(hidden + n_experts, risk_horizon)

    def forward(
        self, phi: torch.Tensor, closeness: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.trunk(self.norm(phi))
        return self.route(t), self.hazard(torch.cat([t, closeness], dim=1))


def extreme_closeness(preds: torch.Tensor, extreme_tau: torch.Tensor) -> torch.Tensor:
    """Per expert, max over sensors of |forecast| / extreme threshold (b, K+1), log-compressed."""
    ratio = preds.abs() / extreme_tau.clamp_min(1e-3)
    return torch.log1p(ratio.max(dim=2).values)


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
        logits, hazard_logits = self.gate(phi, extreme_closeness(preds, self.extreme_tau))
        g = torch.softmax(logits, dim=1)
        fused = (g.unsqueeze(2) * preds).sum(dim=1)
        return fused, preds, g, hazard_logits
