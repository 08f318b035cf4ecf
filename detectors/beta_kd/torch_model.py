"""Networks for Beta-KD (Sun et al., CVPR 2026, adapted to tabular AD; methods.md §2.3, §6.3).

Plain ``nn.Module`` classes, no training glue:

- ``BetaKDStudent``: the compact scorer kept at inference. A small MLP encoder feeds a decoder
  (data channel: reconstruction) and a score head (teacher channel: regress the teacher's
  Gaussianized score). One network, one forward pass per row.
- ``TaskLogVars``: one learnable log-variance s_k per loss channel (task-level Beta-KD).
- ``InstanceLogVars``: s_k(x) = b_k + delta_max * tanh(g(u(x))), predicted from the teacher's view
  u(x) of a sample (instance-level Beta-KD). The per-sample deviation from the task-level base is
  bounded, so no sample can be down-weighted by more than exp(delta_max) relative to the base
  (the AD safeguard: true anomalies are the hard, high-loss samples).
"""

from __future__ import annotations

import torch
from torch import nn


def student_widths(n_features: int) -> tuple[int, int]:
    """(hidden, latent) sized to the input: d -> 64 -> 32 at most, latent about d / 2.

    The latent must stay narrower than the input, or the decoder learns the identity and the
    data channel (reconstruction) stops carrying any anomaly signal.
    """
    hidden = int(min(64, max(16, 2 * n_features)))
    latent = int(min(32, max(2, n_features // 2)))
    return hidden, latent


class BetaKDStudent(nn.Module):
    """Encoder d -> h -> z, decoder z -> h -> d, score head z -> 16 -> 1."""

    def __init__(self, n_features: int, hidden: int, latent: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(n_features, hidden), nn.GELU(), nn.Linear(hidden, latent), nn.GELU()
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent, hidden), nn.GELU(), nn.Linear(hidden, n_features)
        )
        self.score_head = nn.Sequential(nn.Linear(latent, 16), nn.GELU(), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (reconstruction, predicted teacher score)."""
        z = self.encoder(x)
        return self.decoder(z), self.score_head(z).squeeze(-1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted teacher score only: the decoder is skipped when its output is not used."""
        return self.score_head(self.encoder(x)).squeeze(-1)


class TaskLogVars(nn.Module):
    """s_k = log sigma_k^2 per channel, initialized at 0 and clamped to ``bounds``."""

    def __init__(self, n_channels: int, bounds: tuple[float, float]) -> None:
        super().__init__()
        self.raw = nn.Parameter(torch.zeros(n_channels))
        self.bounds = (float(bounds[0]), float(bounds[1]))

    def forward(self, n: int) -> torch.Tensor:
        return self.raw.clamp(*self.bounds).unsqueeze(0).expand(n, -1)


class InstanceLogVars(nn.Module):
    """s(x) = clamp(b) + delta_max * tanh(MLP(u)); u = teacher features (never the raw row)."""

    def __init__(
        self, n_inputs: int, n_channels: int, bounds: tuple[float, float], delta_max: float
    ) -> None:
        super().__init__()
        self.base = TaskLogVars(n_channels, bounds)
        self.net = nn.Sequential(nn.Linear(n_inputs, 32), nn.ReLU(), nn.Linear(32, n_channels))
        nn.init.zeros_(self.net[2].weight)
        nn.init.zeros_(self.net[2].bias)
        self.delta_max = float(delta_max)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.base(u.shape[0]) + self.delta_max * torch.tanh(self.net(u))
