"""Losses for xTime (methods.md §4.2 [R]).

- ``rare_penalty_weights``: w_k(y) = 1 + gamma * sum_{j<=k} 1[level(y) >= j], per sensor value:
  expert k weighs errors on values at its own rarity and above more heavily.
- ``expert_loss``: rare-penalty weighted MSE + lambda_KD * ||h_k - sg(h_{k-1})||^2 (features)
  + kd_output * ||y_k - sg(y_{k-1})||^2 on values below level k (forecasts): the hierarchical
  distillation from the lower-rarity teacher into the rarer expert.
- ``hazard_nll``: discrete-time survival likelihood of the first extreme step within the risk
  horizon, with right-censoring at the end of the series (the early-warning head).
- ``gate_loss``: base-weighted MSE of the fused forecast + cross-entropy to the target's level
  + a load-balancing term (entropy of the mean routing), experts frozen.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def rare_penalty_weights(levels: torch.Tensor, k: int, gamma: float) -> torch.Tensor:
    """Per-value weights (b, C) for expert ``k`` from per-value levels (b, C)."""
    if k == 0:
        return torch.ones_like(levels, dtype=torch.float32)
    return 1.0 + gamma * levels.clamp(max=k).to(torch.float32)


def expert_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weights: torch.Tensor,
    h: torch.Tensor,
    h_teacher: torch.Tensor | None,
    kd_lambda: float,
    pred_teacher: torch.Tensor | None = None,
    below: torch.Tensor | None = None,
    kd_output: float = 0.0,
) -> torch.Tensor:
    """Rare-weighted MSE + feature KD + output KD on the values below the expert's level.

    The output term keeps a rare expert where its teacher is already good (the common values),
    so its few rare windows only move it where they carry information.
    """
    loss = (weights * (pred - target).pow(2)).sum() / weights.sum()
    if h_teacher is not None and kd_lambda > 0:
        loss = loss + kd_lambda * (h - h_teacher.detach()).pow(2).mean()
    if pred_teacher is not None and below is not None and kd_output > 0:
        gap = (pred - pred_teacher.detach()).pow(2) * below
        loss = loss + kd_output * gap.sum() / below.sum().clamp_min(1.0)
    return loss


def hazard_nll(logits: torch.Tensor, events: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """NLL of per-step hazards; ``events``/``valid`` are (b, H) 0/1 for extreme / observed steps."""
    before = torch.cumsum(events, dim=1) - events  # extremes strictly before step j
    at_risk = valid * (before == 0).to(logits.dtype)
    bce = F.binary_cross_entropy_with_logits(logits, events, reduction="none")
    return (at_risk * bce).sum() / at_risk.sum().clamp_min(1.0)


def hazard_to_risk(logits: torch.Tensor, horizon: int) -> torch.Tensor:
    """P(an extreme within ``horizon`` steps); beyond the head the last hazard repeats."""
    log_surv = F.logsigmoid(-logits)  # log(1 - h_j)
    head = logits.shape[1]
    total = log_surv[:, : min(horizon, head)].sum(dim=1)
    if horizon > head:
        total = total + (horizon - head) * log_surv[:, -1]
    return -torch.expm1(total)


def gate_loss(
    fused: torch.Tensor,
    target: torch.Tensor,
    weights: torch.Tensor,
    route_logits: torch.Tensor,
    level_target: torch.Tensor,
    ce_weight: float,
    balance_weight: float,
) -> torch.Tensor:
    mse = (weights * (fused - target).pow(2)).sum() / weights.sum()
    ce = F.cross_entropy(route_logits, level_target)
    mean_g = torch.softmax(route_logits, dim=1).mean(dim=0)
    neg_entropy = (mean_g * torch.log(mean_g.clamp_min(1e-8))).sum()
    return mse + ce_weight * ce + balance_weight * neg_entropy
