"""Beta-KD losses (methods.md §2.2): two per-sample channels and three ways to weight them.

Channels, per sample: ``data`` = mean squared reconstruction error of the row (self-supervision
from the data), ``score`` = squared error between the student's score head and the teacher's
Gaussianized score (teacher guidance). A channel can be masked per sample (synthetic query rows
have a teacher target but no data target).

Weightings (s = log sigma^2 = -log beta):

- ``equal``: sum of the channel means.
- ``task``: sum_k 1/2 exp(-s_k) mean(l_k) + 1/2 s_k, one learnable s_k per channel
  (``HeteroscedasticUncertainty`` in the official code). At the optimum exp(s_k) = mean(l_k):
  each channel is weighted by the inverse of its own loss.
- ``instance``: mean over samples of sum_k exp(-s_k(x)) l_k(x) + s_k(x), with s(x) from the
  teacher's view of the sample (``InstanceConditionalWeighting``); optimum exp(s_k(x)) = E[l_k | u].
"""

from __future__ import annotations

import torch

WEIGHTINGS = ("equal", "task", "instance")


def channel_losses(
    x: torch.Tensor, recon: torch.Tensor, score: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """(batch, 2) per-sample losses: [reconstruction MSE, squared score error]."""
    data = (x - recon).pow(2).mean(dim=1)
    teach = (score - target).pow(2)
    return torch.stack([data, teach], dim=1)


def weighted_loss(
    losses: torch.Tensor, mask: torch.Tensor, log_vars: torch.Tensor | None, mode: str
) -> torch.Tensor:
    """Combine (batch, K) channel losses under ``mode``; ``mask`` (batch, K) marks valid entries.

    ``log_vars`` is (batch, K): constant rows for ``task``, per-sample for ``instance``.
    """
    mask = mask.to(losses.dtype)
    count = mask.sum(dim=0).clamp_min(1.0)
    if mode == "equal":
        return ((losses * mask).sum(dim=0) / count).sum()
    if log_vars is None:
        raise ValueError(f"weighting {mode!r} needs log-variances")
    if mode == "task":
        s = log_vars[0]
        mean_l = (losses * mask).sum(dim=0) / count
        return (0.5 * torch.exp(-s) * mean_l + 0.5 * s).sum()
    if mode == "instance":
        per = (torch.exp(-log_vars) * losses + log_vars) * mask
        return (per.sum(dim=0) / count).sum()
    raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {mode!r}")
