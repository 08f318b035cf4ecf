"""Propose a new line's schema from its first file: timestamp column, numeric features, units."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from app.ingest.columns import split_unit
from app.ingest.numbers import MISSING, OK, parse_numbers
from app.ingest.policy import ValidationPolicy
from app.ingest.readers import CsvReader, NumberColumn, TimeColumn, open_table
from app.ingest.report import IngestError
from app.ingest.storage import inspect_file
from app.ingest.timestamps import TimestampParser
from app.services.lines import LineSpec

SAMPLE_ROWS = 2000
_TIME_NAMES = re.compile(
    r"^(time|timestamp|datetime|date_time|date|ts|zeit|zeitstempel|datum|uhrzeit|"
    r"time_stamp|zeitpunkt)$"
)


def _looks_like_time(column: object, numbers: np.ndarray) -> float:
    """Share of the sampled cells that read as a timestamp (0..1)."""
    if isinstance(column, TimeColumn):
        return 1.0
    parser = TimestampParser("UTC", "", "")
    try:
        ts, errors = parser.parse(column, numbers)  # type: ignore[arg-type]
    except IngestError:
        return 0.0
    if isinstance(column, NumberColumn) and not (parser.format or "").startswith("epoch"):
        return 0.0
    return 1 - len(errors) / max(1, len(ts))


def infer_line_spec(path: Path, line: str) -> LineSpec:
    """Schema for ``line`` from the first rows of ``path``; review it before creating the line.

    Timestamp: a column named like time/timestamp/date (also German names), else the first
    column whose cells read as timestamps. Features: columns whose present cells are at least
    95 % numbers. Units: a header suffix such as ``Pressure [bar]`` or ``Flow (m3/h)``.
    """
    path = Path(path)
    policy = ValidationPolicy()
    reader = open_table(path, path.name, inspect_file(path), policy, chunk_rows=SAMPLE_ROWS)
    try:
        chunk = next(iter(reader.chunks()), None)
        if chunk is None or not len(chunk):
            raise IngestError(f"{path.name}: no data rows to infer a schema from")
        decimal_comma = isinstance(reader, CsvReader) and reader.dialect.decimal_comma
        names = [split_unit(h) for h in reader.header]
        timestamp: int | None = None
        for i, (base, _unit) in enumerate(names):
            if _TIME_NAMES.match(base.strip().lower().replace(" ", "_")):
                timestamp = i
                break
        features: list[str] = []
        units: dict[str, str] = {}
        for i, (base, unit) in enumerate(names):
            if i == timestamp:
                continue
            column = chunk.columns[i]
            _values, status = parse_numbers(column, decimal_comma)
            present = status != MISSING
            numeric = int((status[present] == OK).sum())
            if present.any() and numeric >= 0.95 * int(present.sum()):
                features.append(base)
                if unit:
                    units[base] = unit
            elif timestamp is None and _looks_like_time(column, chunk.row_numbers) >= 0.95:
                timestamp = i
        if len(set(features)) != len(features):  # two headers differ only by their unit
            features = [h for i, h in enumerate(reader.header) if names[i][0] in features]
            units = {}
        if not features:
            raise IngestError(f"{path.name}: no numeric columns found to use as features")
    finally:
        reader.close()
    return LineSpec(
        name=line,
        feature_columns=tuple(features),
        timestamp_column=names[timestamp][0] if timestamp is not None else None,
        units=units,
        description=f"Schema inferred from {path.name}",
    )
