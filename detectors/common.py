"""Scaffolding the KD trainers share: input checks, device / seed / thread handling, robust
scaling and standardization, explanation shares and pickle-free state helpers.

Each helper exists because several detectors did the same thing by hand; one copy keeps their
input contract, error messages and numeric conventions identical. Nothing here knows about a
particular method: method-specific scoring stays in the method's own ``scoring.py``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from numpy.typing import DTypeLike

SCALE_CLIP = 20.0  # robust units: far enough for any real reading, bounded for the networks
MAD_TO_SD = 1.4826  # MAD of a normal sample times this estimates its standard deviation


# ---------------------------------------------------------------------- input and parameters
def check_matrix(
    X: Any,
    n_features: int | None = None,
    *,
    name: str = "X",
    dtype: DTypeLike = np.float64,
    layout: str = "(n_samples, n_features)",
    columns: str = "features",
) -> np.ndarray:
    """``X`` as a finite, non-empty 2-D ``dtype`` array; a ValueError says what was expected.

    Checked once at the boundary (``fit`` and every scoring entry point), so the networks and
    the scaling never see ragged, empty or non-finite input. ``layout`` and ``columns`` word the
    messages in the caller's terms (sensor series say "(n_rows, n_sensors) in time order").
    """
    arr = np.asarray(X, dtype=dtype)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array {layout}, got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must have at least one row and one column, got shape {arr.shape}")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(
            f"{name} has {arr.shape[1]} {columns}, the detector was fitted on {n_features}"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values; impute or drop them first")
    return arr


def check_contamination(contamination: float) -> None:
    """The PyOD threshold needs a share in (0, 0.5]: more than half anomalous is not "anomaly"."""
    if not (0.0 < float(contamination) <= 0.5):
        raise ValueError(f"contamination must be in (0, 0.5], got {contamination}")


def resolve_device(device: str) -> torch.device:
    """``device`` as a torch device; fails at the boundary when CUDA is asked for but absent."""
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} requested but CUDA is not available")
    return torch.device(device)


def loadable_device(device: str) -> str:
    """The device a saved model is rebuilt on: a GPU-trained model still scores on a CPU host."""
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        return "cpu"
    return device


def seed_of(random_state: int | None) -> int:
    """One integer seed for torch, numpy and sklearn; ``None`` means 0, so runs stay repeatable."""
    return 0 if random_state is None else int(random_state)


@contextlib.contextmanager
def torch_threads(n: int | None, default: int = 1) -> Iterator[None]:
    """Use ``n`` intra-op threads (``default`` when ``n`` is None or 0) inside the block.

    The caller's setting is restored afterwards, so a detector never changes the process-wide
    thread count. Capped at the core count: the networks are small, and on shared few-core hosts
    threads beyond the cores cost more in synchronization than they save.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(int(n) if n else int(default), os.cpu_count() or 1)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------------- robust scaling
SPREADS = ("iqr", "mad")


def robust_center_scale(X: np.ndarray, spread: str = "iqr") -> tuple[np.ndarray, np.ndarray]:
    """Per-feature median and a robust spread in standard-deviation units (1 where none is left).

    Robust so that the anomalies in unlabeled training data do not set the units.
    ``spread="iqr"``: IQR / 1.349, or the std when the IQR collapses, which keeps near-constant
    or few-valued sensors from blowing up to huge z-values. The IQR breaks down at 25 %: when a
    fault holds a reading off its usual value in more than a quarter of the rows, a quartile
    lands among the faulty rows and the unit widens until the fault looks ordinary.
    ``spread="mad"``: 1.4826 x the median absolute deviation, which holds up to 50 %: the unit
    is the majority's spread, so a steady reading held off by a third of the data stays far
    out. Only where the MAD is zero (over half of the values equal) does it fall back to the IQR
    rule.
    """
    if spread not in SPREADS:
        raise ValueError(f"spread must be one of {SPREADS}, got {spread!r}")
    center = np.median(X, axis=0).astype(np.float64)
    q75, q25 = np.percentile(X, [75, 25], axis=0)
    iqr_sd = (q75 - q25) / 1.349
    sd = X.std(axis=0).astype(np.float64)
    scale = np.where(iqr_sd > 0.25 * sd, iqr_sd, sd)
    if spread == "mad":
        # column by column: one column's deviations at a time, not a copy of all of X
        mad = [np.median(np.abs(X[:, j] - center[j])) for j in range(X.shape[1])]
        mad_sd = 1.4826 * np.asarray(mad, dtype=np.float64)
        scale = np.where(mad_sd > 1e-8, mad_sd, scale)
    return center, np.where(scale > 1e-8, scale, 1.0)


def apply_robust_scale(
    X: np.ndarray, center: Any, scale: Any, clip: float = SCALE_CLIP
) -> np.ndarray:
    """(X - center) / scale clipped to +-``clip``, computed in X's float dtype.

    The clip bounds what a single wild reading can do to a network's activations; it is far
    beyond any threshold, so clipped rows still score as extreme.
    """
    X = np.asarray(X)
    dt = np.result_type(X.dtype, np.float32)
    out = (X - np.asarray(center, dtype=dt)) / np.asarray(scale, dtype=dt)
    return np.clip(out, -clip, clip).astype(dt, copy=False)


def robust_scale(
    values: np.ndarray, axis: int = 0, floor: float = 1e-6, fallback: float | None = None
) -> np.ndarray:
    """1.4826 * MAD along ``axis``; the std where the MAD is at most ``floor`` (or not finite).

    Where both collapse the scale is ``fallback`` (``floor`` when None), so standardizing by it
    never divides by zero.
    """
    med = np.median(values, axis=axis, keepdims=True)
    mad = MAD_TO_SD * np.median(np.abs(values - med), axis=axis)
    sd = np.std(values, axis=axis)
    last = floor if fallback is None else fallback
    sd_or_last = np.where(np.isfinite(sd) & (sd > floor), sd, last)
    return np.where(np.isfinite(mad) & (mad > floor), mad, sd_or_last)


def robust_location_scale(
    values: np.ndarray, floor: float = 1e-12, fallback: float = 1.0
) -> tuple[float, float]:
    """(median, robust scale) of a score vector, for standardizing scores on training rows."""
    v = np.asarray(values, dtype=np.float64).ravel()
    return float(np.median(v)), float(robust_scale(v, axis=0, floor=floor, fallback=fallback))


def row_shares(contrib: np.ndarray) -> np.ndarray:
    """Each row's non-negative contributions as shares summing to 1 (all-zero rows stay 0)."""
    total = contrib.sum(axis=1, keepdims=True)
    return np.divide(contrib, total, out=np.zeros_like(contrib), where=total > 0)


# ---------------------------------------------------------------------- pickle-free state
def to_jsonable(value: Any) -> Any:
    """numpy scalars / arrays, tuples and nested containers as JSON-native values."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


def module_tensors(module: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """A module's state as ``prefix + name`` -> CPU tensor, ready for safetensors."""
    return {f"{prefix}{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def prefixed_state(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries of ``tensors`` under ``prefix``, with the prefix removed (``module_tensors``
    inverse)."""
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def labels_from_scores(scores: np.ndarray, threshold: float) -> np.ndarray:
    """PyOD ``labels_`` of a rebuilt detector: 1 above the stored threshold."""
    return (scores > threshold).astype(int).ravel()
