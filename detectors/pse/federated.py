"""Federated mechanics for Fed-PSE: what clients send, how the server aggregates, how a client
personalizes (methods.md §5.2-§5.3 [R]).

The privacy boundary is the type of what crosses it: a client returns ``ClientUpdate`` (model
parameters and a sample count) and ``Moments`` (count, mean, sum of squares per feature for the
shared scaling); ``fedavg`` and ``pooled_moments`` only ever see those. Raw rows stay inside
``PSEClient``, and the client drops them once training ends.

Excitation (our reading of "channel-wise gradient differentiation", §5.3): for every hidden unit
c of the low-level layers, compare the gradient norm of the local loss at the global weights
with the one at the local weights. A unit where the local model is still far from fitting the
client's data while the global one already fits it (delta_c = ||g_l,c|| - ||g_g,c|| > 0) is
pulled toward the global unit: W_l[c] += eta_e * sigmoid(kappa * delta_c / std(delta)) *
(W_g[c] - W_l[c]), once per personal phase (a round's worth of steps), not after every batch.
The paper's sign is not recoverable; this one imports global knowledge where
it helps the client and leaves units the client has specialized alone.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from detectors.common import SCALE_CLIP
from detectors.pse.loss import proximal, reconstruction_error
from detectors.pse.torch_model import CrossModelAttention, PersonalizedAutoEncoder, PSEAutoEncoder

EXCITE_BATCH_FACTOR = 4  # the excitation gate is judged on this many training batches' rows


@dataclass(frozen=True)
class ClientUpdate:
    """What a client uploads after a round: parameters of its copy of the global model."""

    params: dict[str, torch.Tensor]
    n_samples: int


@dataclass(frozen=True)
class Moments:
    """Per-feature count / mean / sum of squared deviations: enough for a shared scaler."""

    n: int
    mean: np.ndarray
    m2: np.ndarray


def fedavg(updates: list[ClientUpdate]) -> dict[str, torch.Tensor]:
    """w_g = sum_c (n_c / sum n) w_c, per parameter tensor."""
    if not updates:
        raise ValueError("fedavg needs at least one client update")
    total = float(sum(u.n_samples for u in updates))
    keys = updates[0].params.keys()
    return {
        k: sum(u.params[k].double() * (u.n_samples / total) for u in updates).float() for k in keys
    }


def pooled_moments(parts: list[Moments]) -> tuple[np.ndarray, np.ndarray]:
    """Federation-wide mean and standard deviation from per-client moments (Chan et al.)."""
    n = sum(p.n for p in parts)
    mean = sum(p.n * p.mean for p in parts) / n
    m2 = sum(p.m2 + p.n * (p.mean - mean) ** 2 for p in parts)
    sd = np.sqrt(m2 / max(1, n - 1))
    return mean, np.where(sd > 1e-8, sd, 1.0)


def _unit_grad_norms(layers: list[nn.Linear], grads: list[torch.Tensor]) -> list[torch.Tensor]:
    """||dL/dW[c, :]|| (bias included) per output unit c of each layer."""
    out = []
    for i in range(len(layers)):
        gw, gb = grads[2 * i], grads[2 * i + 1]
        out.append(torch.sqrt(gw.pow(2).sum(dim=1) + gb.pow(2)))
    return out


def excitation(
    global_model: PSEAutoEncoder, local: PSEAutoEncoder, loss_local: torch.Tensor, x: torch.Tensor,
    kappa: float,
) -> list[torch.Tensor]:  # fmt: skip
    """Excitation e_c in (0, 1) per low-level unit, from the two models' gradients on batch x."""
    l_layers, g_layers = local.excitable(), global_model.excitable()
    l_params = [p for lay in l_layers for p in (lay.weight, lay.bias)]
    g_params = [p for lay in g_layers for p in (lay.weight, lay.bias)]
    g_l = torch.autograd.grad(loss_local, l_params, retain_graph=True)
    loss_g = reconstruction_error(x, global_model(x)).mean()
    g_g = torch.autograd.grad(loss_g, g_params)
    out = []
    for nl, ng in zip(
        _unit_grad_norms(l_layers, g_l), _unit_grad_norms(g_layers, g_g), strict=True
    ):
        delta = nl - ng
        out.append(torch.sigmoid(kappa * delta / (delta.std() + 1e-8)))
    return out


@torch.no_grad()
def excite(
    global_model: PSEAutoEncoder, local: PSEAutoEncoder, e: list[torch.Tensor], eta: float
) -> None:
    """W_l[c] += eta * e_c * (W_g[c] - W_l[c]) on the low-level layers (bias likewise)."""
    for lay_l, lay_g, e_c in zip(local.excitable(), global_model.excitable(), e, strict=True):
        lay_l.weight += eta * e_c[:, None] * (lay_g.weight - lay_l.weight)
        lay_l.bias += eta * e_c * (lay_g.bias - lay_l.bias)


class PSEClient:
    """One line or plant: holds its rows privately, trains and personalizes locally."""

    def __init__(self, data: torch.Tensor, seed: int, device: torch.device) -> None:
        self._data = data  # scaled rows; never returned, dropped by ``release_data``
        self.n_samples = int(data.shape[0])
        self.gen = torch.Generator().manual_seed(int(seed))
        self.device = device
        self.personal: PersonalizedAutoEncoder | None = None
        self._opt: torch.optim.Optimizer | None = None

    def moments(self) -> Moments:
        x = self._data.double().numpy()
        mean = x.mean(axis=0)
        return Moments(len(x), mean, ((x - mean) ** 2).sum(axis=0))

    def set_scaling(self, center: np.ndarray, scale: np.ndarray) -> None:
        c = torch.from_numpy(np.asarray(center, dtype=np.float32))
        s = torch.from_numpy(np.asarray(scale, dtype=np.float32))
        self._data = ((self._data - c) / s).clamp(-SCALE_CLIP, SCALE_CLIP)

    def _batch(self, batch_size: int) -> torch.Tensor:
        b = min(batch_size, self.n_samples)
        idx = torch.randint(self.n_samples, (b,), generator=self.gen)
        return self._data[idx].to(self.device)

    def local_update(
        self, global_model: PSEAutoEncoder, steps: int, batch_size: int, lr: float, mu: float
    ) -> ClientUpdate:
        """Train a copy of the global model on local rows (FedAvg / FedProx client step)."""
        model = copy.deepcopy(global_model).train()
        model.requires_grad_(True)
        anchor = {k: v.detach().clone() for k, v in global_model.named_parameters()}
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        for _ in range(steps):
            x = self._batch(batch_size)
            loss = reconstruction_error(x, model(x)).mean()
            if mu > 0:
                loss = loss + proximal(model, anchor, mu)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
        params = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        return ClientUpdate(params=params, n_samples=self.n_samples)

    def init_personal(self, local: PSEAutoEncoder, tokens: int, width: int, lr: float) -> None:
        self.personal = PersonalizedAutoEncoder(local, CrossModelAttention(width, tokens))
        self.personal.to(self.device)
        self._opt = torch.optim.Adam(self.personal.parameters(), lr=lr)

    def personalize(
        self,
        global_model: PSEAutoEncoder,
        steps: int,
        batch_size: int,
        kappa: float,
        eta_e: float,
        excite_on: bool,
        use_attention: bool,
        prox: float = 0.0,
    ) -> None:
        """PSE client phase: train the local model (and its attention) on local
        reconstruction for ``steps`` batches, then blend its low-level units toward the global
        ones once, gated by the excitation."""
        assert self.personal is not None and self._opt is not None
        g = copy.deepcopy(global_model).eval()
        g.requires_grad_(True)
        model = self.personal.train()
        high = {k: v.detach().clone() for k, v in g.named_parameters() if not k.startswith("enc1")
                and not k.startswith("enc2")}  # fmt: skip
        for _ in range(steps):
            x = self._batch(batch_size)
            recon = model(x, g) if use_attention else model.local(x)
            loss = reconstruction_error(x, recon).mean()
            if prox > 0:  # Ditto-style pull of the high-level layers toward the global ones
                loss = loss + _proximal_subset(model.local, high, prox)
            self._opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            self._opt.step()
        if eta_e > 0 and steps > 0:
            # one blend per call (a round's worth of steps), gated on one larger batch; a blend
            # after every step pulled each unit ~5 % per step toward the global model, so the
            # local low-level layers collapsed onto the global ones (README, "What we measured")
            if excite_on:
                x = self._batch(EXCITE_BATCH_FACTOR * batch_size)
                recon = model(x, g) if use_attention else model.local(x)
                loss = reconstruction_error(x, recon).mean()
                e = excitation(g, model.local, loss, x, kappa)
            else:  # cold start: too few rows to judge channels, follow the global model
                e = [torch.ones(lay.out_features) for lay in model.local.excitable()]
            excite(g, model.local, e, eta_e)
        model.eval()

    @torch.no_grad()
    def training_errors(
        self, global_model: PSEAutoEncoder, use_attention: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-row reconstruction errors (personal, global) on the local rows; stays local."""
        return errors(self._data, self.personal, global_model, use_attention, self.device)

    def release_data(self) -> None:
        self._data = torch.empty(0)


def _proximal_subset(model: nn.Module, anchor: dict[str, torch.Tensor], mu: float) -> torch.Tensor:
    total = torch.zeros(())
    for name, p in model.named_parameters():
        if name in anchor:
            total = total + (p - anchor[name]).pow(2).sum()
    return 0.5 * mu * total


@torch.no_grad()
def errors(
    data: torch.Tensor,
    personal: PersonalizedAutoEncoder | None,
    global_model: PSEAutoEncoder,
    use_attention: bool,
    device: torch.device,
    batch: int = 16384,
) -> tuple[np.ndarray, np.ndarray]:
    """Reconstruction errors of the personalized model (zeros if none) and of the global model."""
    n = data.shape[0]
    rec_p, rec_g = np.zeros(n), np.zeros(n)
    for s in range(0, n, batch):
        x = data[s : s + batch].to(device)
        rec_g[s : s + len(x)] = reconstruction_error(x, global_model(x)).double().cpu().numpy()
        if personal is not None:
            r = personal(x, global_model) if use_attention else personal.local(x)
            rec_p[s : s + len(x)] = reconstruction_error(x, r).double().cpu().numpy()
    return rec_p, rec_g
