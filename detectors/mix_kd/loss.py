"""Mix-KD distillation loss (methods.md §3.3): match the teacher's embedding of the CLEAN row.

L = mean ||S(x) - e_T(x)||^2 / D + alpha * (1 - cos(S(x), e_T(x))).

The squared term leads (alpha = 0.1) rather than the cosine: PCA and AE codes are centred, so
normal rows sit near the origin, where the cosine is ill-defined and a pure cosine loss would
leave distances (which the kNN score uses) unconstrained.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def distill_loss(pred: torch.Tensor, target: torch.Tensor, alpha: float = 0.1) -> torch.Tensor:
    mse = (pred - target).pow(2).mean(dim=1)
    cos = F.cosine_similarity(pred, target, dim=1, eps=1e-6)
    return (mse + alpha * (1.0 - cos)).mean()
