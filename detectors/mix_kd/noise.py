"""Sensor corruptions: the training family of the noisy student, and fixed evaluation regimes.

All functions work in the detector's robust-scaled space (median 0, robust sd 1 per feature),
where "replace by the median" is "set to 0".

Training family (methods.md §3.3), drawn independently per row:

- Gaussian jitter with sd ~ U(0, ``jitter``), probability 0.5;
- sensor dropout: each feature with probability ~ U(0, ``dropout``) set to the median, p = 0.3;
- bias drift: a random 10 % of the channels (at least one) shifted by +-``drift`` * U(0.5, 1),
  p = 0.3;
- quantization to ``quant_bits`` bits over the clipped range, p = 0.2.

Spikes are deliberately not in the family: the noisy student must not learn to smooth away the
anomalies it is meant to flag.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

NOISE_DEFAULTS: dict[str, float] = {"jitter": 0.5, "dropout": 0.3, "drift": 2.0, "quant_bits": 8}
REGIMES = ("clean", "jitter", "dropout", "drift")


def noise_config(noise: dict[str, Any] | None) -> dict[str, float]:
    cfg = dict(NOISE_DEFAULTS)
    if noise:
        unknown = set(noise) - set(cfg)
        if unknown:
            raise ValueError(f"unknown noise keys {sorted(unknown)}; valid: {sorted(cfg)}")
        cfg.update({k: float(v) for k, v in noise.items()})
    return cfg


def corrupt_batch(
    x: torch.Tensor, cfg: dict[str, float], gen: torch.Generator, clip: float
) -> torch.Tensor:
    """A corrupted copy of a (batch, d) tensor under the training family."""
    b, d = x.shape
    out = x.clone()

    def chosen(p: float) -> torch.Tensor:
        return (torch.rand(b, 1, generator=gen) < p).to(x.dtype)

    sd = torch.rand(b, 1, generator=gen) * cfg["jitter"]
    out = out + chosen(0.5) * sd * torch.randn(b, d, generator=gen)
    rate = torch.rand(b, 1, generator=gen) * cfg["dropout"]
    drop = (torch.rand(b, d, generator=gen) < rate).to(x.dtype) * chosen(0.3)
    out = out * (1 - drop)
    n_ch = max(1, round(0.1 * d))
    ch = torch.rand(b, d, generator=gen).argsort(dim=1)[:, :n_ch]
    sign = torch.randint(0, 2, (b, 1), generator=gen).to(x.dtype) * 2 - 1
    size = cfg["drift"] * (0.5 + 0.5 * torch.rand(b, 1, generator=gen)) * sign * chosen(0.3)
    bias = torch.zeros(b, d).scatter_(1, ch, size.expand(b, n_ch))
    out = out + bias
    levels = 2 ** cfg["quant_bits"] - 1
    step = 2 * clip / levels
    quant = torch.round(out / step) * step
    q = chosen(0.2)
    return (q * quant + (1 - q) * out).clamp(-clip, clip)


def apply_regime(
    X: np.ndarray,
    regime: str,
    level: float,
    rng: np.random.Generator,
    median: np.ndarray | None = None,
    scale: np.ndarray | None = None,
) -> np.ndarray:
    """Evaluation regime applied to raw rows (for tests and benchmarks, not for training).

    jitter: + N(0, (level * scale)^2); dropout: a ``level`` share of the entries per row set to
    the feature median; drift: a fixed 10 % of channels (at least one) shifted by level * scale.
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    median = np.median(X, axis=0) if median is None else median
    scale = np.ones(d) if scale is None else scale
    if regime == "clean":
        return X.copy()
    if regime == "jitter":
        return X + level * scale * rng.standard_normal((n, d))
    if regime == "dropout":
        mask = rng.random((n, d)) < level
        return np.where(mask, median, X)
    if regime == "drift":
        ch = rng.choice(d, size=max(1, round(0.1 * d)), replace=False)
        out = X.copy()
        out[:, ch] += level * scale[ch]
        return out
    raise ValueError(f"regime must be one of {REGIMES}, got {regime!r}")
