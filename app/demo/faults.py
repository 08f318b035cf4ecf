"""Turning scheduled faults into signals.

Process faults (bearing wear, cavitation, valve closure, belt slip) become intensity envelopes
that the physics consumes, so their effect spreads over every related sensor the way a real
fault would. Instrument faults (drift, stuck, spike) touch one measured channel after noise.
"""

from __future__ import annotations

import numpy as np

from app.demo.schedule import DayFault
from app.demo.specs import (
    BEARING_WEAR,
    BELT_SLIP,
    CAVITATION,
    SENSOR_DRIFT,
    SPIKE,
    STUCK_SENSOR,
    VALVE_CLOSURE,
    DemoLineSpec,
)

PROCESS_FAULTS = (BEARING_WEAR, CAVITATION, VALVE_CLOSURE, BELT_SLIP)


def _trapezoid(length: int, ramp: int) -> np.ndarray:
    ramp = max(1, min(ramp, length // 2))
    shape = np.ones(length)
    up = np.linspace(1.0 / (ramp + 1), 1.0, ramp, endpoint=False)
    shape[:ramp] = up
    shape[length - ramp :] = up[::-1]
    return shape


def process_envelopes(faults: list[DayFault], n: int) -> dict[str, np.ndarray]:
    """Per-row intensity of each process fault, already scaled by the fault's severity.

    Bearing wear grows convexly (a fresh defect is nearly invisible, then it takes off); the others
    come in over a few samples, like a valve being turned or a suction level falling.
    """
    env = {kind: np.zeros(n) for kind in PROCESS_FAULTS}
    for f in faults:
        length = f.stop - f.start
        if f.kind == BEARING_WEAR:
            x = np.arange(1, length + 1) / length
            env[f.kind][f.start : f.stop] = (0.7 + 0.3 * f.severity) * x**1.2
        elif f.kind == CAVITATION:
            env[f.kind][f.start : f.stop] = (0.6 + 0.4 * f.severity) * _trapezoid(length, 3)
        elif f.kind == VALVE_CLOSURE:
            env[f.kind][f.start : f.stop] = (0.4 + 0.25 * f.severity) * _trapezoid(length, 3)
        elif f.kind == BELT_SLIP:
            env[f.kind][f.start : f.stop] = (0.06 + 0.08 * f.severity) * _trapezoid(length, 2)
    return env


def apply_instrument_faults(
    line: DemoLineSpec,
    values: dict[str, np.ndarray],
    faults: list[DayFault],
    rng: np.random.Generator,
) -> None:
    """Drift, stuck and spike faults, in place on the noisy readings."""
    names = [s.name for s in line.sensors]
    for f in faults:
        if f.kind == SENSOR_DRIFT and f.sensor is not None:
            spec = line.sensor(f.sensor)
            length = f.stop - f.start
            sign = 1.0 if rng.random() < 0.5 else -1.0
            size = (0.18 + 0.12 * f.severity) * spec.span
            values[f.sensor][f.start : f.stop] += sign * size * np.arange(1, length + 1) / length
        elif f.kind == STUCK_SENSOR and f.sensor is not None:
            frozen = values[f.sensor][max(f.start - 1, 0)]
            values[f.sensor][f.start : f.stop] = frozen
        elif f.kind == SPIKE:
            for row in f.rows:
                spec = line.sensor(names[int(rng.integers(len(names)))])
                sign = 1.0 if rng.random() < 0.5 else -1.0
                values[spec.name][row] += sign * rng.uniform(0.4, 0.8) * spec.span
