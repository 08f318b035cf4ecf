"""STKD losses (methods.md §1.6): reconstruction task loss plus a KD regularizer.

Both are returned per sample so the same functions serve training (mean over the batch) and
scoring (one error per sample). Per-feature variants feed ``explain``.
"""

from __future__ import annotations

import torch
from torch import nn


def reconstruction_error(x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """Mean squared error per sample over every non-batch axis."""
    return (x - recon).pow(2).flatten(1).mean(dim=1)


def kd_discrepancy(student_latent: torch.Tensor, teacher_latent: torch.Tensor) -> torch.Tensor:
    """Mean squared distance per sample between the adapted student latent and the teacher's.

    The teacher target is detached: the teacher is frozen and must not move towards the student.
    """
    return (student_latent - teacher_latent.detach()).pow(2).mean(dim=1)


class STKDLoss(nn.Module):
    """L = mean[ L_AD + lambda_kd * L_KD ] over the batch."""

    def __init__(self, lambda_kd: float) -> None:
        super().__init__()
        self.lambda_kd = float(lambda_kd)

    def forward(
        self,
        x: torch.Tensor,
        recon: torch.Tensor,
        student_latent: torch.Tensor,
        teacher_latent: torch.Tensor | None,
    ) -> torch.Tensor:
        loss = reconstruction_error(x, recon).mean()
        if teacher_latent is not None and self.lambda_kd > 0:
            loss = loss + self.lambda_kd * kd_discrepancy(student_latent, teacher_latent).mean()
        return loss
