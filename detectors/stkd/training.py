"""Step-budgeted training and batched scoring shared by the teacher and the students.

Training is budgeted in minibatch *steps* (sampled with replacement from the pool), not epochs:
cost is then independent of n, which is what keeps STKD linear at a million rows. Small pools
are capped at ``max_epochs`` passes so a few hundred rows are not memorized.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from detectors.stkd.loss import STKDLoss, kd_discrepancy, reconstruction_error

CLIP_NORM = 5.0  # gradient-norm clip per model and step, so one odd batch cannot throw it off


def steps_for(pool_size: int, budget: int, batch_size: int, max_epochs: float) -> int:
    """Gradient steps for a pool: the budget, capped at ``max_epochs`` passes over the pool."""
    by_epochs = math.ceil(max_epochs * pool_size / max(1, batch_size))
    return int(max(1, min(budget, by_epochs)))


def train_steps(
    model: nn.Module,
    batch_fn: Callable[[torch.Tensor], torch.Tensor],
    pool: np.ndarray,
    steps: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    device: torch.device,
    teacher: nn.Module | None = None,
    lambda_kd: float = 0.0,
) -> float:
    """Train ``model`` for a fixed number of Adam steps on samples drawn from ``pool``.

    ``model`` is either an autoencoder (returns recon, z) or an ``STKDStudent`` (returns recon and
    the adapted latent); the KD term is used only when a teacher is given. Returns the last loss.
    """
    model.train()
    gen = torch.Generator().manual_seed(int(seed))
    pool_t = torch.as_tensor(pool, dtype=torch.int64)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
    loss_fn = STKDLoss(lambda_kd if teacher is not None else 0.0)
    b = int(min(batch_size, max(1, len(pool))))
    last = float("nan")
    for _ in range(int(steps)):
        pick = pool_t[torch.randint(len(pool_t), (b,), generator=gen)]
        x = batch_fn(pick).to(device, non_blocking=True)
        recon, latent = model(x)
        t_latent = None
        if teacher is not None and lambda_kd > 0:
            with torch.no_grad():
                t_latent = teacher(x)
        loss = loss_fn(x, recon, latent, t_latent)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
        opt.step()
        sched.step()
        last = float(loss.detach())
    model.eval()
    return last


def train_ensemble_steps(
    models: Sequence[nn.Module],
    batch_fn: Callable[[torch.Tensor], torch.Tensor],
    pools: Sequence[np.ndarray],
    steps: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seeds: Sequence[int],
    device: torch.device,
    teacher: nn.Module | None = None,
    lambda_kd: float = 0.0,
    max_norm: float = CLIP_NORM,
) -> list[float]:
    """``train_steps`` for several models of one architecture at once, each on its own pool.

    The same training as calling ``train_steps`` on each model in turn: model j draws its
    batches from ``pools[j]`` with its own generator (``seeds[j]``), has its own Adam state,
    cosine schedule and gradient clipping. One stacked forward and backward per step serves all
    of them, which is the point: a student is small enough that a step's cost is mostly per-call
    overhead, so three students cost about twice one (README.md, "Faster fits with the same
    scores"). The trained weights are written back into ``models``; returns each model's last
    loss.
    """
    k = len(models)
    if not (k == len(pools) == len(seeds)) or k == 0:
        raise ValueError("train_ensemble_steps needs one pool and one seed per model")
    sizes = {int(min(batch_size, max(1, len(p)))) for p in pools}
    if len(sizes) != 1:
        raise ValueError("every pool must give the same batch size (train smaller pools alone)")
    b = sizes.pop()
    params, buffers = stack_module_state(list(models))
    template = copy.deepcopy(models[0]).to("meta")
    loss_fn = STKDLoss(lambda_kd if teacher is not None else 0.0)
    use_kd = teacher is not None and lambda_kd > 0

    def one_loss(p, buf, x, t_latent):
        recon, latent = functional_call(template, (p, buf), (x,))
        return loss_fn(x, recon, latent, t_latent)

    batched_loss = vmap(one_loss, in_dims=(0, 0, 0, 0 if use_kd else None))
    leaves = list(params.values())
    opt = torch.optim.Adam(leaves, lr=lr, weight_decay=weight_decay, fused=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    pools_t = [torch.as_tensor(p, dtype=torch.int64) for p in pools]
    losses = torch.full((k,), float("nan"))
    for _ in range(int(steps)):
        picks = [
            p[torch.randint(len(p), (b,), generator=g)] for p, g in zip(pools_t, gens, strict=True)
        ]
        flat = batch_fn(torch.cat(picks)).to(device, non_blocking=True)
        x = flat.view(k, b, *flat.shape[1:])
        t_latent = None
        if use_kd:
            with torch.no_grad():
                t_latent = teacher(flat).view(k, b, -1)
        losses = batched_loss(params, buffers, x, t_latent)
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()
        _clip_each(leaves, max_norm)
        opt.step()
        sched.step()
    with torch.no_grad():
        for j, model in enumerate(models):
            for name, tensor in model.named_parameters():
                tensor.copy_(params[name][j])
            model.eval()
    return [float(v) for v in losses.detach()]


@torch.no_grad()
def _clip_each(stacked: list[torch.Tensor], max_norm: float) -> None:
    """``clip_grad_norm_`` applied to each model's slice of the stacked parameters."""
    grads = [p.grad for p in stacked if p.grad is not None]
    if not grads:
        return
    norms = torch.stack([g.pow(2).flatten(1).sum(dim=1) for g in grads]).sum(dim=0).sqrt()
    coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))


@torch.no_grad()
def score_samples(
    student: nn.Module,
    teacher: nn.Module | None,
    batch_fn: Callable[[torch.Tensor], torch.Tensor],
    n: int,
    device: torch.device,
    batch_size: int = 16384,
    targets: torch.Tensor | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample reconstruction error and KD discrepancy, computed in bounded-memory batches.

    ``targets``: the teacher's latent of every sample, from ``encode_samples`` with the same
    batch size (the same numbers), when many students are scored against one teacher; the
    teacher is then not run again for each of them.
    """
    student.eval()
    rec = np.empty(n, dtype=np.float64)
    kd = np.zeros(n, dtype=np.float64)
    for start in range(0, n, batch_size):
        idx = torch.arange(start, min(n, start + batch_size))
        x = batch_fn(idx).to(device)
        recon, latent = student(x)
        part = slice(start, start + len(idx))
        rec[part] = reconstruction_error(x, recon).double().cpu().numpy()
        if teacher is not None:
            target = teacher(x) if targets is None else targets[part].to(device)
            kd[part] = kd_discrepancy(latent, target).double().cpu().numpy()
    return rec, kd


@torch.no_grad()
def encode_samples(
    encoder: nn.Module,
    batch_fn: Callable[[torch.Tensor], torch.Tensor],
    idx: np.ndarray,
    device: torch.device,
    batch_size: int = 16384,
) -> torch.Tensor:
    """Latent codes of the samples ``idx`` (on CPU), in batches."""
    encoder.eval()
    out = []
    for start in range(0, len(idx), batch_size):
        part = torch.as_tensor(idx[start : start + batch_size], dtype=torch.int64)
        out.append(encoder(batch_fn(part).to(device)).cpu())
    return torch.cat(out)


@torch.no_grad()
def ensemble_outputs(
    students: list[nn.Module], teacher: nn.Module | None, x: torch.Tensor
) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
    """Per-student reconstruction and KD discrepancy of one batch; teacher run once."""
    t_latent = teacher(x) if teacher is not None else None
    recons: list[torch.Tensor] = []
    kds: list[torch.Tensor | None] = []
    for student in students:
        recon, latent = student(x)
        recons.append(recon)
        kds.append(kd_discrepancy(latent, t_latent) if t_latent is not None else None)
    return recons, kds


@torch.no_grad()
def ensemble_terms(
    students: list[nn.Module], teacher: nn.Module | None, x: torch.Tensor
) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
    """Per-student reconstruction error and KD discrepancy of one batch; teacher run once."""
    recons, kds = ensemble_outputs(students, teacher, x)
    return [reconstruction_error(x, recon) for recon in recons], kds
