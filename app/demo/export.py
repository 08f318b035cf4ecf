"""CSV files shaped like a plant historian export, so the demo exercises the real ingest path."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from app.demo.simulator import DemoBatch

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
"""ISO 8601 in UTC with a ``Z`` suffix: unambiguous, and what most historians emit."""


def batch_filename(batch: DemoBatch) -> str:
    """``<line>_<first>_<last>.csv`` with compact UTC stamps: sortable and collision-free."""
    first = batch.frame["timestamp"].iloc[0]
    last = batch.frame["timestamp"].iloc[-1]
    return f"{batch.line}_{first:%Y%m%dT%H%M%SZ}_{last:%Y%m%dT%H%M%SZ}.csv"


def write_batch_csv(batch: DemoBatch, directory: Path) -> Path:
    """Write the sensor readings (never the truth) and return the file's path.

    The file appears atomically (written as ``.part`` then renamed), so a watcher on
    ``directory`` never ingests half a file.
    """
    if batch.frame.empty:
        raise ValueError(f"batch of {batch.line!r} has no rows to write")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / batch_filename(batch)
    partial = path.with_name(path.name + ".part")
    out = batch.frame.copy()
    out["timestamp"] = out["timestamp"].dt.strftime(TIMESTAMP_FORMAT)
    out.to_csv(partial, index=False, lineterminator="\n")
    os.replace(partial, path)
    return path


def read_batch_csv(path: Path) -> pd.DataFrame:
    """Read a file written by :func:`write_batch_csv` back, timestamps as tz-aware UTC."""
    frame = pd.read_csv(path)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    return frame
