"""Networks for Mix-KD (Mix-CLAP adapted to tables and sensors; methods.md §3.3, §6.4).

- ``StudentEncoder``: the lightweight student, an MLP d -> h -> D that maps a row onto the
  teacher's embedding. The clean and the noise-augmented students share this shape (the noisy one
  starts as a copy of the clean one).
- ``AETeacher``: the optional deep teacher for sensor data, a wide autoencoder whose encoder
  output is the embedding (the default teacher is PCA, which needs no network).
"""

from __future__ import annotations

import torch
from torch import nn


def student_hidden(n_features: int) -> int:
    """Hidden width sized to the input: 2d, between 32 and 128."""
    return int(min(128, max(32, 2 * n_features)))


class StudentEncoder(nn.Module):
    """d -> hidden -> hidden -> D with GELU; linear output so it can match any teacher scale."""

    def __init__(self, n_features: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_features, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
            nn.Linear(hidden, out_dim),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class AETeacher(nn.Module):
    """Wide MLP autoencoder d -> w -> w -> D -> w -> w -> d; ``encode`` gives the embedding."""

    def __init__(self, n_features: int, width: int, out_dim: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(n_features, width), nn.GELU(), nn.Linear(width, width), nn.GELU(),
            nn.Linear(width, out_dim),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Linear(out_dim, width), nn.GELU(), nn.Linear(width, width), nn.GELU(),
            nn.Linear(width, n_features),
        )  # fmt: skip

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
