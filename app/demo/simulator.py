"""Deterministic demo data: a day or a history of one line, with ground truth kept apart.

Each UTC day is simulated on its own from (line, day, seed); a history is the concatenation of
its days cut to the requested window. So a scheduled job can produce "today" without replaying
the past, and today's rows join yesterday's without a seam.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from app.demo.faults import apply_instrument_faults, process_envelopes
from app.demo.physics import MODELS, Drivers
from app.demo.randomness import day_rng
from app.demo.schedule import fault_schedule, mode_schedule
from app.demo.specs import DemoLineSpec

STREAM_PROCESS = 5
STREAM_NOISE = 6
STREAM_INSTRUMENT = 7
WARMUP = timedelta(hours=6)
"""Longer than five time constants of the slowest thermal lag (45 min)."""


@dataclass(frozen=True)
class FaultSegment:
    """One injected fault, for explanations and plots (the truth frame is the row-level label)."""

    kind: str
    start: pd.Timestamp
    end: pd.Timestamp
    """Timestamp of the segment's last row (inclusive)."""
    sensor: str | None
    labelled_rows: int


@dataclass(frozen=True)
class DemoBatch:
    """Sensor readings and their ground truth, as separate frames on the same timestamps.

    ``frame`` is what a detector may see: ``timestamp`` (UTC, tz-aware) then one column per sensor
    in the line's order. ``truth`` has ``timestamp``, ``is_anomaly`` (bool) and ``fault_kind``
    (str, or None on normal rows) and belongs in its own table, never in a detector's input.
    """

    line: str
    frame: pd.DataFrame
    truth: pd.DataFrame
    faults: tuple[FaultSegment, ...] = field(default=())


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def _simulate_day(line: DemoLineSpec, day_ordinal: int, seed: int) -> DemoBatch:
    n = line.rows_per_day
    dt = line.interval.total_seconds()
    warm = int(WARMUP.total_seconds() // dt)
    # The physics starts WARMUP before midnight on the previous day's own schedule, so
    # temperatures and speeds enter the day in the state the previous day left them.
    modes = mode_schedule(line, day_ordinal, seed)
    faults = fault_schedule(line, day_ordinal, seed)
    prev_modes = mode_schedule(line, day_ordinal - 1, seed)[n - warm :]
    prev_env = process_envelopes(fault_schedule(line, day_ordinal - 1, seed), n)
    env = process_envelopes(faults, n)
    seconds = np.arange(-warm, n) * dt
    drivers = Drivers(
        line=line.name,
        seed=seed,
        t_s=day_ordinal * 86400.0 + seconds,
        hour=seconds / 3600.0,
        dt_s=dt,
        mode=np.concatenate([prev_modes, modes]),
        envelopes={k: np.concatenate([prev_env[k][n - warm :], env[k]]) for k in env},
        rng=day_rng(seed, line.name, STREAM_PROCESS, day_ordinal),
    )
    values = {k: v[warm:] for k, v in MODELS[line.model](drivers).items()}

    noise = day_rng(seed, line.name, STREAM_NOISE, day_ordinal)
    for spec in line.sensors:
        values[spec.name] = values[spec.name] + noise.normal(0.0, spec.noise_std, n)
    apply_instrument_faults(
        line, values, faults, day_rng(seed, line.name, STREAM_INSTRUMENT, day_ordinal)
    )
    for spec in line.sensors:
        v = values[spec.name]
        if spec.low >= 0:
            v = np.clip(v, 0.0, None)
        values[spec.name] = np.round(v, spec.decimals)

    midnight = datetime.combine(date.fromordinal(day_ordinal), datetime.min.time(), tzinfo=UTC)
    stamps = pd.date_range(start=midnight, periods=n, freq=line.interval, name="timestamp")
    frame = pd.DataFrame({"timestamp": stamps, **{s.name: values[s.name] for s in line.sensors}})

    kinds = np.full(n, None, dtype=object)
    for f in faults:
        kinds[f.rows] = f.kind
    truth = pd.DataFrame(
        {
            "timestamp": stamps,
            "is_anomaly": np.array([k is not None for k in kinds], dtype=bool),
            "fault_kind": pd.Series(kinds, dtype=object),
        }
    )
    segments = tuple(
        FaultSegment(f.kind, stamps[int(f.rows[0])], stamps[int(f.rows[-1])], f.sensor, len(f.rows))
        for f in faults
    )
    return DemoBatch(line=line.name, frame=frame, truth=truth, faults=segments)


def generate_day(line: DemoLineSpec, day: date, seed: int) -> DemoBatch:
    """All rows of one UTC day (00:00 inclusive to 24:00 exclusive), e.g. for a nightly job.

    Computed from (line, day, seed) alone; identical to that day's rows in any history.
    """
    if isinstance(day, datetime):
        raise TypeError("generate_day takes a date; use generate_history for a datetime window")
    _check_seed(seed)
    return _simulate_day(line, day.toordinal(), seed)


def generate_history(line: DemoLineSpec, start: datetime, days: float, seed: int) -> DemoBatch:
    """``days`` worth of rows from ``start`` (tz-aware), e.g. the demo's training history.

    ``start`` is moved up to the line's sampling grid (whole intervals since midnight UTC), so a
    history and the days generated later share timestamps exactly.
    """
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be timezone-aware (kdmon stores UTC)")
    if not days > 0:
        raise ValueError(f"days must be positive, got {days!r}")
    _check_seed(seed)
    step = line.interval.total_seconds()
    start = start.astimezone(UTC)
    midnight = datetime.combine(start.date(), datetime.min.time(), tzinfo=UTC)
    offset = math.ceil((start - midnight).total_seconds() / step - 1e-9)
    first = midnight + timedelta(seconds=offset * step)
    n_rows = max(1, round(days * 86400 / step))
    end = first + timedelta(seconds=n_rows * step)

    batches = [
        _simulate_day(line, ordinal, seed)
        for ordinal in range(first.toordinal(), (end - line.interval).toordinal() + 1)
    ]
    frame = pd.concat([b.frame for b in batches], ignore_index=True)
    truth = pd.concat([b.truth for b in batches], ignore_index=True)
    keep = ((frame["timestamp"] >= first) & (frame["timestamp"] < end)).to_numpy()
    frame = frame.loc[keep].reset_index(drop=True)
    truth = truth.loc[keep].reset_index(drop=True)
    truth["fault_kind"] = truth["fault_kind"].astype(object)
    segments = tuple(
        s for b in batches for s in b.faults if s.end >= pd.Timestamp(first) and s.start < end
    )
    return DemoBatch(line=line.name, frame=frame, truth=truth, faults=segments)
