"""Noise-free physics of the three demo machines.

Each model maps the day's drivers (operating mode, ambient, slow process wander, process-fault
envelopes) to true sensor values. The relations are textbook-shaped rather than exact: pump
affinity laws and a system curve, a pressure-held VSD compressor, a belt conveyor whose power is
friction plus load. Thermal channels are first-order lags of the heat they see, so bearing and oil
temperatures trail load changes by tens of minutes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.demo.randomness import first_order_lag, smooth_noise
from app.demo.specs import BEARING_WEAR, BELT_SLIP, CAVITATION, VALVE_CLOSURE

_SQRT3_400 = np.sqrt(3.0) * 400.0


@dataclass(frozen=True)
class Drivers:
    """Everything a model needs for one day of one line."""

    line: str
    seed: int
    t_s: np.ndarray
    """Absolute seconds (day ordinal * 86400 + second of day): addresses the shared slow noise."""
    hour: np.ndarray
    dt_s: float
    mode: np.ndarray
    envelopes: dict[str, np.ndarray]
    rng: np.random.Generator
    """Fast, day-local randomness (cavitation turbulence, bearing rattle)."""

    def wander(self, stream: int, period_s: float) -> np.ndarray:
        return smooth_noise(self.seed, self.line, stream, self.t_s, period_s)

    def lag(self, x: np.ndarray, tau_s: float) -> np.ndarray:
        return first_order_lag(x, tau_s, self.dt_s)

    def ambient(self, base: float, daily_amp: float, weather_amp: float) -> np.ndarray:
        """Air temperature: afternoon peak around 15:00 plus weather that wanders over days."""
        daily = daily_amp * np.sin(2 * np.pi * (self.hour - 9.0) / 24.0)
        # Keyed on the plant, not the line: all lines share one sky.
        weather = weather_amp * smooth_noise(self.seed, "plant", 90, self.t_s, 36 * 3600)
        weather = weather + 0.4 * smooth_noise(self.seed, "plant", 91, self.t_s, 3 * 3600)
        return base + daily + weather


def centrifugal_pump(d: Drivers) -> dict[str, np.ndarray]:
    """A VSD centrifugal pump against a throttled system curve (affinity laws)."""
    wear = d.envelopes[BEARING_WEAR]
    cav = d.envelopes[CAVITATION]
    closed = d.envelopes[VALVE_CLOSURE]
    n = len(d.t_s)

    ratio_set = np.array([0.64, 1.0, 1.12])[d.mode] * (1 + 0.004 * d.wander(10, 3600))
    r = d.lag(ratio_set, 90.0)
    opening = (1 + 0.05 * d.wander(11, 2700) + 0.015 * d.wander(12, 420)) * (1 - closed)
    tank_bar = 1.62 + 0.05 * d.wander(13, 3 * 3600) - 0.45 * cav

    shutoff_m, static_m, k_pump, k_sys = 50.0, 15.0, 6.94e-4, 1.736e-3
    head_avail = np.maximum(shutoff_m * r**2 - static_m, 0.5)
    flow = np.sqrt(head_avail / (k_pump + k_sys / np.maximum(opening, 0.05) ** 2))
    surge = np.sin(2 * np.pi * np.arange(n) * d.dt_s / 240.0 + d.rng.uniform(0, 6.3))
    flow = flow * (1 - 0.06 * cav + 0.08 * cav * surge + 0.05 * cav * d.rng.standard_normal(n))
    head = (shutoff_m * r**2 - k_pump * flow**2) * (1 - 0.12 * cav)

    suction = tank_bar - 1.39e-5 * flow**2
    discharge = suction + 0.0979 * head
    hydraulic_kw = 998 * 9.81 * (flow / 3600) * head / 1000
    q_bep = flow / r
    eff = np.clip(0.78 * (1 - ((q_bep - 120) / 150) ** 2), 0.35, None)
    power = (hydraulic_kw / eff + 0.5 * wear) / 0.93 + 0.5
    current = 7.5 + power * 1000 / (_SQRT3_400 * 0.87)

    rattle = np.abs(d.rng.standard_normal(n))
    vibration = (
        1.0
        + 1.35 * r**2
        + 0.9 * ((q_bep - 120) / 120) ** 2
        + wear * (2.2 * r**2 + 0.5 * rattle)
        + cav * (0.9 + 1.1 * rattle)
    )
    ambient = d.ambient(21.0, 3.5, 1.5)
    fluid = d.lag(14 + 0.4 * (ambient - 21) + 1.2 * d.wander(14, 6 * 3600) + 0.04 * power, 2700.0)
    bearing = d.lag(0.7 * ambient + 0.3 * fluid + 8 + 0.75 * power + 16 * wear, 1200.0)
    return {
        "flow_m3h": flow,
        "suction_pressure_bar": suction,
        "discharge_pressure_bar": discharge,
        "motor_current_a": current,
        "motor_power_kw": power,
        "vibration_rms_mm_s": vibration,
        "bearing_temp_c": bearing,
        "fluid_temp_c": fluid,
        "speed_rpm": 1480 * r,
    }


def screw_compressor(d: Drivers) -> dict[str, np.ndarray]:
    """A VSD screw compressor: speed follows air demand, pressure held near 7.5 bar."""
    wear = d.envelopes[BEARING_WEAR]
    closed = d.envelopes[VALVE_CLOSURE]
    n = len(d.t_s)

    demand = np.array([2.6, 6.8, 9.0])[d.mode] * (
        1 + 0.06 * d.wander(20, 1800) + 0.025 * d.wander(21, 300)
    )
    speed = d.lag(np.clip(350 + 280 * demand * (1 - closed), 900, 3000), 40.0)
    flow = (speed - 350) / 280
    pressure = 7.5 + 0.04 * d.wander(22, 1200) + 0.05 * (1 - flow / 10) + 0.9 * closed
    power = 3.5 + 5.7 * flow * (pressure / 7.5) ** 0.55 + 1.2 * wear
    current = 9 + power * 1000 / (_SQRT3_400 * 0.88)

    inlet = d.ambient(22.0, 4.0, 2.0) + 2.5
    oil = d.lag(inlet + 38 + 0.3 * power + 14 * wear, 720.0)
    discharge_temp = oil + 6 + 0.06 * power
    oil_pressure = 0.62 * pressure + 0.4 + 0.25 * speed / 3000
    rattle = np.abs(d.rng.standard_normal(n))
    vibration = 0.9 + 1.5 * (speed / 3000) ** 2 + wear * (3.0 * (speed / 3000) ** 2 + 0.5 * rattle)
    return {
        "airflow_m3_min": flow,
        "discharge_pressure_bar": pressure,
        "inlet_temp_c": inlet,
        "discharge_temp_c": discharge_temp,
        "oil_temp_c": oil,
        "oil_pressure_bar": oil_pressure,
        "motor_current_a": current,
        "motor_power_kw": power,
        "vibration_rms_mm_s": vibration,
        "speed_rpm": speed,
    }


def belt_conveyor(d: Drivers) -> dict[str, np.ndarray]:
    """A belt conveyor: power is empty-belt friction (∝ speed) plus lifting the load."""
    wear = d.envelopes[BEARING_WEAR]
    slip = d.envelopes[BELT_SLIP]
    n = len(d.t_s)

    drive_speed = d.lag(np.array([1.6, 2.5, 3.0])[d.mode], 60.0)
    feed = np.array([40.0, 420.0, 620.0])[d.mode] * (
        1 + 0.12 * d.wander(30, 1200) + 0.05 * d.wander(31, 180)
    )
    feed = np.clip(feed, 0.0, None)
    belt_speed = drive_speed * (1 - slip)
    power = (4 + 6.0 * drive_speed + 0.085 * feed) * (1 - 1.8 * slip) + 1.0 * wear
    current = 12 + power * 1000 / (_SQRT3_400 * 0.86)
    tension = 26 + 0.6 * d.wander(32, 6 * 3600) + (power - 4) / np.maximum(belt_speed, 0.5)

    ambient = d.ambient(9.0, 6.0, 3.0)
    gearbox = d.lag(ambient + 12 + 0.42 * power + 18 * wear, 2100.0)
    winding = d.lag(ambient + 15 + 0.0028 * current**2, 720.0)
    rattle = np.abs(d.rng.standard_normal(n))
    vibration = (
        0.7
        + 1.4 * (drive_speed / 3.0) ** 2
        + 0.0008 * feed
        + wear * (3.0 * (drive_speed / 3.0) ** 2 + 0.5 * rattle)
    )
    return {
        "belt_speed_m_s": belt_speed,
        "motor_speed_rpm": drive_speed / (np.pi * 0.8) * 60 * 20,
        "throughput_t_h": feed * (1 - slip),
        "motor_current_a": current,
        "motor_power_kw": power,
        "belt_tension_kn": tension,
        "gearbox_oil_temp_c": gearbox,
        "motor_winding_temp_c": winding,
        "vibration_rms_mm_s": vibration,
        "ambient_temp_c": ambient,
    }


MODELS: dict[str, Callable[[Drivers], dict[str, np.ndarray]]] = {
    "centrifugal_pump": centrifugal_pump,
    "screw_compressor": screw_compressor,
    "belt_conveyor": belt_conveyor,
}
