"""Demo plant simulator: seeded, realistic multi-line sensor data with separate ground truth.

Used by the demo seeding job, the scheduled "new day" job and the tests, so none of them needs
the network or shared data.
"""

from app.demo.export import read_batch_csv, write_batch_csv
from app.demo.simulator import DemoBatch, FaultSegment, generate_day, generate_history
from app.demo.specs import (
    DEMO_LINES,
    FAULT_KINDS,
    DemoLineSpec,
    SensorSpec,
    get_demo_line,
)

__all__ = [
    "DEMO_LINES",
    "FAULT_KINDS",
    "DemoBatch",
    "DemoLineSpec",
    "FaultSegment",
    "SensorSpec",
    "generate_day",
    "generate_history",
    "get_demo_line",
    "read_batch_csv",
    "write_batch_csv",
]
