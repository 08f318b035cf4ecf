"""The demo plant's catalogue: which lines exist, which sensors they carry, which faults hit them.

Kept apart from the physics so the dashboard, the seeding job and the tests can list lines and
units without generating any data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final, Literal

BEARING_WEAR: Final = "bearing_wear"
CAVITATION: Final = "cavitation"
VALVE_CLOSURE: Final = "valve_closure"
BELT_SLIP: Final = "belt_slip"
SENSOR_DRIFT: Final = "sensor_drift"
STUCK_SENSOR: Final = "stuck_sensor"
SPIKE: Final = "spike"

FAULT_KINDS: Final[tuple[str, ...]] = (
    BEARING_WEAR,
    CAVITATION,
    VALVE_CLOSURE,
    BELT_SLIP,
    SENSOR_DRIFT,
    STUCK_SENSOR,
    SPIKE,
)
"""Every fault kind the simulator can inject; a line opts into a subset."""

PhysicsModel = Literal["centrifugal_pump", "screw_compressor", "belt_conveyor"]


@dataclass(frozen=True)
class SensorSpec:
    """One measured channel: its unit, its usual range and how noisy the transmitter is.

    ``low``/``high`` bound normal operation (used to size drifts and spikes); ``noise_std`` is the
    white measurement noise in the sensor's unit; ``decimals`` is what the plant historian keeps.
    """

    name: str
    unit: str
    description: str
    low: float
    high: float
    noise_std: float
    decimals: int = 2

    @property
    def span(self) -> float:
        return self.high - self.low


@dataclass(frozen=True)
class DemoLineSpec:
    """A simulated production line. Named ``DemoLineSpec`` so it never shadows the service's
    ``app.services.lines.LineSpec``; ``feature_columns`` and ``units`` feed that one directly."""

    name: str
    description: str
    model: PhysicsModel
    sensors: tuple[SensorSpec, ...]
    interval: timedelta
    fault_kinds: tuple[str, ...]
    drift_sensors: tuple[str, ...]
    """Sensors that may drift or stick: analog transmitters, never derived values."""

    def __post_init__(self) -> None:
        seconds = self.interval.total_seconds()
        if seconds <= 0 or 86400 % seconds != 0 or seconds != int(seconds):
            raise ValueError(f"{self.name}: interval must divide a day in whole seconds")
        names = [s.name for s in self.sensors]
        if len(set(names)) != len(names) or "timestamp" in names:
            raise ValueError(f"{self.name}: sensor names must be unique and not 'timestamp'")
        unknown = set(self.fault_kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"{self.name}: unknown fault kinds {sorted(unknown)}")
        if not set(self.drift_sensors) <= set(names):
            raise ValueError(f"{self.name}: drift_sensors must be sensors of the line")

    @property
    def feature_columns(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sensors)

    @property
    def units(self) -> dict[str, str]:
        return {s.name: s.unit for s in self.sensors}

    @property
    def rows_per_day(self) -> int:
        return int(86400 // self.interval.total_seconds())

    def sensor(self, name: str) -> SensorSpec:
        for s in self.sensors:
            if s.name == name:
                return s
        raise KeyError(f"{self.name} has no sensor {name!r}")


_MINUTE = timedelta(minutes=1)

PUMP_LINE_A = DemoLineSpec(
    name="pump-line-a",
    description="Cooling-water transfer: a 30 kW centrifugal pump on a variable-speed drive.",
    model="centrifugal_pump",
    sensors=(
        SensorSpec("flow_m3h", "m3/h", "Discharge flow (magnetic flowmeter)", 30, 150, 0.8, 1),
        SensorSpec("suction_pressure_bar", "bar", "Pump inlet pressure", 1.0, 1.8, 0.01, 3),
        SensorSpec("discharge_pressure_bar", "bar", "Pump outlet pressure", 3.0, 6.5, 0.02, 3),
        SensorSpec("motor_current_a", "A", "Motor phase current (RMS)", 10, 55, 0.3, 2),
        SensorSpec("motor_power_kw", "kW", "Motor active power", 2, 30, 0.15, 2),
        SensorSpec(
            "vibration_rms_mm_s", "mm/s", "Drive-end bearing vibration (RMS)", 1, 5, 0.08, 3
        ),
        SensorSpec("bearing_temp_c", "degC", "Drive-end bearing temperature", 30, 65, 0.15, 2),
        SensorSpec("fluid_temp_c", "degC", "Pumped water temperature", 12, 30, 0.05, 2),
        SensorSpec("speed_rpm", "rpm", "Shaft speed from the drive", 850, 1700, 1.5, 1),
    ),
    interval=_MINUTE,
    fault_kinds=(BEARING_WEAR, CAVITATION, VALVE_CLOSURE, SENSOR_DRIFT, STUCK_SENSOR, SPIKE),
    drift_sensors=("flow_m3h", "discharge_pressure_bar", "bearing_temp_c", "fluid_temp_c"),
)

COMPRESSOR_B = DemoLineSpec(
    name="compressor-b",
    description="Plant air: a 55 kW oil-injected screw compressor holding 7.5 bar on a VSD.",
    model="screw_compressor",
    sensors=(
        SensorSpec("airflow_m3_min", "m3/min", "Free air delivery", 1.5, 10, 0.06, 2),
        SensorSpec("discharge_pressure_bar", "bar", "Package outlet pressure", 7.0, 8.5, 0.015, 3),
        SensorSpec("inlet_temp_c", "degC", "Intake air temperature", 10, 35, 0.1, 2),
        SensorSpec("discharge_temp_c", "degC", "Air-end outlet temperature", 65, 100, 0.2, 2),
        SensorSpec("oil_temp_c", "degC", "Injected oil temperature", 55, 90, 0.15, 2),
        SensorSpec("oil_pressure_bar", "bar", "Oil injection pressure", 4.5, 6.5, 0.02, 3),
        SensorSpec("motor_current_a", "A", "Motor phase current (RMS)", 15, 110, 0.5, 2),
        SensorSpec("motor_power_kw", "kW", "Motor active power", 5, 65, 0.3, 2),
        SensorSpec("vibration_rms_mm_s", "mm/s", "Air-end vibration (RMS)", 1, 4.5, 0.07, 3),
        SensorSpec("speed_rpm", "rpm", "Motor speed from the VSD", 900, 3000, 4.0, 1),
    ),
    interval=_MINUTE,
    fault_kinds=(BEARING_WEAR, VALVE_CLOSURE, SENSOR_DRIFT, STUCK_SENSOR, SPIKE),
    drift_sensors=("discharge_pressure_bar", "oil_temp_c", "airflow_m3_min", "discharge_temp_c"),
)

CONVEYOR_C = DemoLineSpec(
    name="conveyor-c",
    description="Outdoor ore conveyor: 3 m/s belt, 90 kW head drive with a gearbox.",
    model="belt_conveyor",
    sensors=(
        SensorSpec(
            "belt_speed_m_s", "m/s", "Belt speed (tail-pulley tachometer)", 1.3, 3.1, 0.01, 3
        ),
        SensorSpec("motor_speed_rpm", "rpm", "Drive motor speed", 600, 1500, 1.5, 1),
        SensorSpec("throughput_t_h", "t/h", "Belt-scale throughput", 0, 750, 6.0, 1),
        SensorSpec("motor_current_a", "A", "Motor phase current (RMS)", 20, 160, 0.6, 2),
        SensorSpec("motor_power_kw", "kW", "Motor active power", 10, 90, 0.35, 2),
        SensorSpec("belt_tension_kn", "kN", "Head-pulley belt tension", 28, 60, 0.25, 2),
        SensorSpec("gearbox_oil_temp_c", "degC", "Gearbox sump temperature", 25, 75, 0.12, 2),
        SensorSpec("motor_winding_temp_c", "degC", "Stator winding temperature", 30, 95, 0.2, 2),
        SensorSpec(
            "vibration_rms_mm_s", "mm/s", "Head-pulley bearing vibration", 0.8, 4.5, 0.07, 3
        ),
        SensorSpec("ambient_temp_c", "degC", "Outdoor air temperature", -5, 30, 0.1, 2),
    ),
    interval=_MINUTE,
    fault_kinds=(BEARING_WEAR, BELT_SLIP, SENSOR_DRIFT, STUCK_SENSOR, SPIKE),
    drift_sensors=("belt_tension_kn", "gearbox_oil_temp_c", "throughput_t_h", "belt_speed_m_s"),
)

DEMO_LINES: Final[tuple[DemoLineSpec, ...]] = (PUMP_LINE_A, COMPRESSOR_B, CONVEYOR_C)


def get_demo_line(name: str) -> DemoLineSpec:
    """Look a demo line up by name (CLI arguments and job configs carry names, not objects)."""
    for line in DEMO_LINES:
        if line.name == name:
            return line
    raise KeyError(f"unknown demo line {name!r}; known: {[ln.name for ln in DEMO_LINES]}")
