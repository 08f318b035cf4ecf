"""Randomness that is a pure function of (seed, line, stream, time).

Every random quantity is addressed by absolute time (day ordinal or knot index) instead of being
drawn from one sequential generator, so any day can be generated on its own and two neighbouring
days still join up: slow signals share their knots across midnight.
"""

from __future__ import annotations

import zlib

import numpy as np

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def line_key(name: str) -> int:
    """A stable integer for a line name (Python's ``hash`` is salted per process)."""
    return zlib.crc32(name.encode("utf-8"))


def day_rng(seed: int, line: str, stream: int, day_ordinal: int) -> np.random.Generator:
    """An independent generator for one (line, stream, day); streams keep concerns apart."""
    return np.random.default_rng([seed, line_key(line), stream, day_ordinal])


def _splitmix64(x: np.ndarray) -> np.ndarray:
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
    return x ^ (x >> np.uint64(31))


def hashed_normal(seed: int, line: str, stream: int, index: np.ndarray) -> np.ndarray:
    """Standard normals indexed by integer ``index``: the same index always gives the same value.

    A counter-based hash (splitmix64 + Box-Muller) is vectorised, so knots cost nothing.
    """
    idx = np.asarray(index, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        base = _splitmix64(np.full(idx.shape, seed, dtype=np.uint64))
        base = _splitmix64(base ^ np.uint64(line_key(line)))
        base = _splitmix64(base ^ np.uint64(stream))
        h1 = _splitmix64(base ^ (idx * np.uint64(2)))
        h2 = _splitmix64(base ^ (idx * np.uint64(2) + np.uint64(1)))
    u1 = ((h1 >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)
    u2 = ((h2 >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def smooth_noise(seed: int, line: str, stream: int, t_s: np.ndarray, period_s: float) -> np.ndarray:
    """Unit-variance-ish noise that wanders smoothly, with a knot every ``period_s`` seconds.

    ``t_s`` is absolute time in seconds (day ordinal * 86400 + seconds of day); knots are shared
    between days, so the signal is continuous across midnight.
    """
    pos = np.asarray(t_s, dtype=np.float64) / period_s
    k0 = np.floor(pos).astype(np.int64)
    frac = pos - k0
    first, last = int(k0.min()), int(k0.max()) + 1
    knots = hashed_normal(seed, line, stream, np.arange(first, last + 1))
    a = knots[k0 - first]
    b = knots[k0 - first + 1]
    w = frac * frac * (3.0 - 2.0 * frac)  # smoothstep: no kinks at the knots
    return a + (b - a) * w


def first_order_lag(x: np.ndarray, tau_s: float, dt_s: float) -> np.ndarray:
    """Thermal / mechanical inertia: y' = (x - y) / tau, starting settled at x[0]."""
    alpha = 1.0 - np.exp(-dt_s / tau_s)
    out = np.empty_like(x, dtype=np.float64)
    y = float(x[0])
    values = x.tolist()
    for i, v in enumerate(values):
        y += alpha * (v - y)
        out[i] = y
    return out
