"""When things happen on a simulated day: operating-mode switches and fault segments.

Both schedules depend only on (seed, line, day), so day N never needs days 0..N-1. Modes join up
across midnight through a shared "anchor" mode per day boundary; faults stay inside the day and
end well before midnight so their thermal after-effects have died out by the next day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.demo.randomness import day_rng
from app.demo.specs import SPIKE, DemoLineSpec

IDLE, NOMINAL, HIGH = 0, 1, 2
MODE_NAMES: tuple[str, ...] = ("idle", "nominal", "high")
_ANCHOR_P = (0.2, 0.55, 0.25)

# Stream ids: one per concern, so adding draws to one never shifts another.
STREAM_ANCHOR = 1
STREAM_MODES = 2
STREAM_KIND_CYCLE = 3
STREAM_FAULTS = 4

EVENTS_PER_DAY = 3
FAULT_SHARE_RANGE = (0.045, 0.065)
"""Labelled share of a day's rows; every day lands inside the product's 3-8 % promise."""

_KIND_WEIGHT = {
    "bearing_wear": 2.0,
    "sensor_drift": 1.6,
    "cavitation": 1.0,
    "stuck_sensor": 1.0,
    "belt_slip": 1.0,
    "valve_closure": 0.9,
    "spike": 0.3,
}


@dataclass(frozen=True)
class DayFault:
    """A fault on one day, in row indices of that day; ``rows`` are the labelled rows."""

    kind: str
    start: int
    stop: int
    rows: np.ndarray
    sensor: str | None
    severity: float


def _anchor_mode(seed: int, line: str, day_ordinal: int) -> int:
    """The mode running at 00:00 of ``day_ordinal``; both neighbouring days agree on it."""
    return int(day_rng(seed, line, STREAM_ANCHOR, day_ordinal).choice(3, p=_ANCHOR_P))


def mode_schedule(line: DemoLineSpec, day_ordinal: int, seed: int) -> np.ndarray:
    """Operating mode per row: 2-4 switches a day, none in the last 90 minutes before midnight.

    The quiet stretch before midnight lets speeds and temperatures settle on the next day's
    anchor mode, which is where the next day starts; that is what keeps days continuous.
    """
    n = line.rows_per_day
    per_hour = n / 24
    rng = day_rng(seed, line.name, STREAM_MODES, day_ordinal)
    first = _anchor_mode(seed, line.name, day_ordinal)
    last = _anchor_mode(seed, line.name, day_ordinal + 1)
    grid = np.arange(int(1.0 * per_hour), int(22.5 * per_hour), max(1, int(per_hour / 4)))
    wanted = int(rng.integers(2, 5))
    switches: list[int] = []
    for candidate in rng.permutation(grid):
        if all(abs(int(candidate) - s) >= 0.75 * per_hour for s in switches):
            switches.append(int(candidate))
        if len(switches) == wanted:
            break
    switches.sort()
    modes = np.empty(n, dtype=np.int64)
    bounds = [0, *switches, n]
    current = first
    for i in range(len(bounds) - 1):
        if i == len(bounds) - 2:
            current = last
        elif i > 0:
            current = int(rng.choice([m for m in range(3) if m != current]))
        modes[bounds[i] : bounds[i + 1]] = current
    return modes


def _kind_for_event(line: DemoLineSpec, seed: int, index: int) -> str:
    """Kinds rotate through shuffled cycles, so every kind shows up every couple of days."""
    kinds = line.fault_kinds
    cycle, pos = divmod(index, len(kinds))
    order = day_rng(seed, line.name, STREAM_KIND_CYCLE, cycle).permutation(len(kinds))
    return kinds[int(order[pos])]


def fault_schedule(line: DemoLineSpec, day_ordinal: int, seed: int) -> list[DayFault]:
    """Three faults a day, one per eight-hour slot, sharing a daily budget of labelled rows."""
    if not line.fault_kinds:
        return []
    n = line.rows_per_day
    per_hour = n / 24
    rng = day_rng(seed, line.name, STREAM_FAULTS, day_ordinal)
    kinds = [
        _kind_for_event(line, seed, day_ordinal * EVENTS_PER_DAY + j) for j in range(EVENTS_PER_DAY)
    ]
    budget = rng.uniform(*FAULT_SHARE_RANGE) * n
    weights = np.array([_KIND_WEIGHT[k] for k in kinds]) * rng.uniform(0.7, 1.3, len(kinds))
    lengths = [max(3, round(budget * w / weights.sum())) for w in weights]

    lo, hi = int(0.5 * per_hour), int(22.0 * per_hour)
    slot = (hi - lo) // EVENTS_PER_DAY
    faults: list[DayFault] = []
    for j, (kind, length) in enumerate(zip(kinds, lengths, strict=True)):
        slot_lo = lo + j * slot
        severity = float(rng.uniform(0.0, 1.0))
        sensor = str(rng.choice(line.drift_sensors)) if line.drift_sensors else None
        if kind == SPIKE:
            window = min(slot - 2, max(3 * length, int(2 * per_hour)))
            start = slot_lo + int(rng.integers(0, slot - window))
            picks = rng.choice(window // 3, size=min(length, window // 3), replace=False)
            rows = np.sort(start + 3 * picks)
            faults.append(DayFault(kind, start, start + window, rows, None, severity))
            continue
        length = min(length, slot - 2)
        start = slot_lo + int(rng.integers(0, slot - length))
        rows = np.arange(start, start + length)
        faults.append(DayFault(kind, start, start + length, rows, sensor, severity))
    return faults
