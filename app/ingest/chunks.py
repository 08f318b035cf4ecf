"""Chunks of cells: what every reader hands to validation, whatever the file format."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from app.ingest.report import RowProblem


@dataclass
class NumberColumn:
    """Typed numbers (Parquet, Excel): ``missing`` marks nulls / empty cells."""

    values: np.ndarray
    missing: np.ndarray


@dataclass
class TextColumn:
    """Cells as text (CSV, mixed Excel columns); ``None`` is an empty cell."""

    values: list[str | None]


@dataclass
class TimeColumn:
    """Typed date-times (Parquet, Excel): naive or tz-aware, NaT where empty."""

    values: pd.Series


Column = NumberColumn | TextColumn | TimeColumn


@dataclass
class RawChunk:
    """Well-formed rows of one chunk; rows rejected for their shape are in ``problems``."""

    row_numbers: np.ndarray
    columns: list[Column]
    raw: list[str] | None = None  # the row as written in the file (CSV)
    problems: list[RowProblem] = field(default_factory=list)
    n_blank: int = 0
    blank_rows: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.row_numbers)

    def raw_text(self, i: int) -> str:
        """The row as text: the original line for CSV, comma-joined cells otherwise."""
        if self.raw is not None:
            return self.raw[i]
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow(_cell_text(c, i) for c in self.columns)
        return out.getvalue()


def _cell_text(column: Column, i: int) -> str:
    if isinstance(column, NumberColumn):
        return "" if column.missing[i] else repr(float(column.values[i]))
    if isinstance(column, TimeColumn):
        value = column.values.iloc[i]
        return "" if pd.isna(value) else value.isoformat()
    value = column.values[i]
    return "" if value is None else value


class TableReader:
    """A header plus an iterator of chunks; ``notes`` says how the file was read."""

    header: list[str]
    notes: list[str]

    def chunks(self) -> Iterator[RawChunk]:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        pass


def clean_header(names: list[str]) -> list[str]:
    cleaned = []
    for i, name in enumerate(names):
        name = (name or "").replace("\ufeff", "").strip()
        cleaned.append(name or f"column {i + 1}")
    return cleaned
