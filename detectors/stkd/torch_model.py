"""Networks for STKD (Liu et al., ICIP 2022, tabular/sensor reconstruction; see methods.md §1.6).

Plain ``nn.Module`` classes, no training glue:

- ``MLPAutoEncoder``: the row-view task model (encoder -> small latent -> mirrored decoder).
- ``ConvAutoEncoder``: the window-view task model (1-D conv encoder over time, latent, decoder).
- ``STKDStudent``: a task model plus the linear adapter that maps its latent onto the teacher's
  latent for the knowledge-distillation term.
- ``TeacherEncoder``: a frozen encoder whose latent is standardized by stored buffers, so the KD
  target has unit scale whatever the teacher is.
"""

from __future__ import annotations

import torch
from torch import nn


def default_widths(n_inputs: int) -> tuple[tuple[int, ...], int]:
    """Hidden widths and latent size sized to the input, so small tables get small nets.

    The latent is deliberately narrow (about a third of the inputs): a wide latent lets the
    autoencoder learn the identity and reconstruct anomalies as well as normal rows.
    """
    first = int(min(128, max(32, 2 * n_inputs)))
    latent = int(min(32, max(2, n_inputs // 3)))
    second = max(latent, first // 2)
    return (first, second), latent


class MLPAutoEncoder(nn.Module):
    """d -> hidden... -> latent -> ...hidden -> d with LayerNorm and GELU after hidden layers."""

    def __init__(self, n_features: int, hidden: tuple[int, ...], latent: int) -> None:
        super().__init__()
        enc: list[nn.Module] = []
        width = n_features
        for h in hidden:
            enc += [nn.Linear(width, h), nn.LayerNorm(h), nn.GELU()]
            width = h
        enc.append(nn.Linear(width, latent))
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = []
        width = latent
        for h in reversed(hidden):
            dec += [nn.Linear(width, h), nn.LayerNorm(h), nn.GELU()]
            width = h
        dec.append(nn.Linear(width, n_features))
        self.decoder = nn.Sequential(*dec)
        self.latent_dim = latent

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encoder(x)
        return self.decoder(z), z


class ConvAutoEncoder(nn.Module):
    """A small 1-D conv autoencoder over windows shaped (batch, channels, window)."""

    def __init__(self, n_channels: int, window: int, latent: int = 16, width: int = 32) -> None:
        super().__init__()
        self.window = window
        half = (window + 1) // 2
        self.encoder = nn.Sequential(
            nn.Conv1d(n_channels, width, kernel_size=5, padding=2),
            nn.GELU(),
            nn.Conv1d(width, 2 * width, kernel_size=5, stride=2, padding=2),
            nn.GELU(),
            nn.AdaptiveAvgPool1d(1),
            nn.Flatten(),
            nn.Linear(2 * width, latent),
        )
        self.expand = nn.Linear(latent, 2 * width * half)
        self.decoder = nn.Sequential(
            nn.GELU(),
            nn.Upsample(size=window, mode="linear", align_corners=False),
            nn.Conv1d(2 * width, width, kernel_size=5, padding=2),
            nn.GELU(),
            nn.Conv1d(width, n_channels, kernel_size=5, padding=2),
        )
        self._half = half
        self._width = width
        self.latent_dim = latent

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encoder(x)
        h = self.expand(z).view(x.shape[0], 2 * self._width, self._half)
        return self.decoder(h), z


class STKDStudent(nn.Module):
    """Task autoencoder plus a linear adapter A so that A(z_student) can match the teacher."""

    def __init__(self, autoencoder: nn.Module, teacher_dim: int) -> None:
        super().__init__()
        self.ae = autoencoder
        self.adapter = nn.Linear(autoencoder.latent_dim, teacher_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the reconstruction and the adapted latent."""
        recon, z = self.ae(x)
        return recon, self.adapter(z)


class TeacherEncoder(nn.Module):
    """Frozen encoder; ``forward`` returns its latent standardized with stored mean/std."""

    def __init__(self, encoder: nn.Module, latent_dim: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.register_buffer("mu", torch.zeros(latent_dim))
        self.register_buffer("sd", torch.ones(latent_dim))
        self.latent_dim = latent_dim
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.encoder(x) - self.mu) / self.sd
