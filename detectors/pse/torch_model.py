"""Networks for Fed-PSE (Xia, Li, Ding, ICCV 2023, "Personalized Semantics Excitation for
Federated Image Classification"; tabular/sensor reconstruction in methods.md §5.2-§5.3, §6.6).

Plain ``nn.Module`` classes, no training glue:

- ``PSEAutoEncoder``: the shared architecture of the global model and every client's local
  model. ``low`` = the two "low-level" layers whose hidden units are the excitable channels
  (sensor combinations); ``head`` = bottleneck + decoder (high level).
- ``CrossModelAttention``: one-head attention over tokens of the low-level features; local
  tokens are the queries, global + local tokens the keys and values, with a residual. The output
  projection starts at zero, so a fresh module is the identity (pure local model).
- ``PersonalizedAutoEncoder``: local model + attention, reading the frozen global model's
  low-level features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def default_widths(n_features: int, tokens: int) -> tuple[tuple[int, int], int]:
    """(h1, h2), latent sized to the input; h2 is a multiple of ``tokens``."""
    h1 = int(min(128, max(32, 2 * n_features)))
    h2 = max(tokens, (h1 // 2) // tokens * tokens)
    latent = int(min(16, max(2, n_features // 3)))
    return (h1, h2), latent


class PSEAutoEncoder(nn.Module):
    """d -> h1 -> h2 | -> latent -> h2 -> h1 -> d (``|`` separates low and high level)."""

    def __init__(self, n_features: int, hidden: tuple[int, int], latent: int) -> None:
        super().__init__()
        h1, h2 = hidden
        self.enc1 = nn.Linear(n_features, h1)
        self.enc2 = nn.Linear(h1, h2)
        self.enc3 = nn.Linear(h2, latent)
        self.decoder = nn.Sequential(
            nn.Linear(latent, h2),
            nn.GELU(),
            nn.Linear(h2, h1),
            nn.GELU(),
            nn.Linear(h1, n_features),
        )

    def low(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.enc2(F.gelu(self.enc1(x))))

    def head(self, f: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.enc3(f))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.low(x))

    def excitable(self) -> list[nn.Linear]:
        """The low-level layers whose output units are excited (methods.md §5.3)."""
        return [self.enc1, self.enc2]


class CrossModelAttention(nn.Module):
    """F = F_l + W_o Attn(Q = F_l, K = V = [F_g; F_l]) over ``tokens`` chunks of the features."""

    def __init__(self, width: int, tokens: int) -> None:
        super().__init__()
        if width % tokens:
            raise ValueError(f"feature width {width} is not a multiple of tokens={tokens}")
        self.tokens = tokens
        self.dim = width // tokens
        self.q = nn.Linear(self.dim, self.dim, bias=False)
        self.k = nn.Linear(self.dim, self.dim, bias=False)
        self.v = nn.Linear(self.dim, self.dim, bias=False)
        self.out = nn.Linear(self.dim, self.dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, f_local: torch.Tensor, f_global: torch.Tensor) -> torch.Tensor:
        b = f_local.shape[0]
        t_l = f_local.reshape(b, self.tokens, self.dim)
        t_g = f_global.reshape(b, self.tokens, self.dim)
        kv = torch.cat([t_g, t_l], dim=1)
        att = torch.softmax(self.q(t_l) @ self.k(kv).transpose(1, 2) / self.dim**0.5, dim=-1)
        return f_local + self.out(att @ self.v(kv)).reshape(b, -1)


class PersonalizedAutoEncoder(nn.Module):
    """A client's local model plus cross-model attention onto the (frozen) global model."""

    def __init__(self, local: PSEAutoEncoder, attention: CrossModelAttention) -> None:
        super().__init__()
        self.local = local
        self.attention = attention

    def forward(self, x: torch.Tensor, global_model: PSEAutoEncoder) -> torch.Tensor:
        with torch.no_grad():
            f_g = global_model.low(x)
        return self.local.head(self.attention(self.local.low(x), f_g))
