"""Losses for Fed-PSE (methods.md §5.3 [R]): unsupervised, so the client loss is reconstruction.

- ``reconstruction_error``: per-sample mean squared error over features (also the anomaly score).
- ``proximal``: FedProx's mu/2 * ||w - w_g||^2 (mu = 0 is plain FedAvg).
"""

from __future__ import annotations

import torch
from torch import nn


def reconstruction_error(x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    return (x - recon).pow(2).mean(dim=1)


def proximal(model: nn.Module, anchor: dict[str, torch.Tensor], mu: float) -> torch.Tensor:
    total = torch.zeros(())
    for name, p in model.named_parameters():
        total = total + (p - anchor[name]).pow(2).sum()
    return 0.5 * mu * total
