"""Turn cells into floats and say, per cell, why one is not a usable number."""

from __future__ import annotations

import math

import numpy as np

from app.ingest.policy import MISSING_MARKERS
from app.ingest.readers import Column, NumberColumn, TimeColumn

OK, MISSING, NOT_NUMBER, NOT_FINITE = 0, 1, 2, 3


def _normalize_decimal_comma(cells: list[str | None]) -> list[str | None]:
    """'1.234,5' -> '1234.5', '1,5' -> '1.5'; cells without a comma are left alone."""
    return [c.replace(".", "").replace(",", ".") if c and "," in c else c for c in cells]


def parse_numbers(column: Column, decimal_comma: bool) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values, status per cell: OK / MISSING / NOT_NUMBER / NOT_FINITE)."""
    if isinstance(column, NumberColumn):
        values = column.values.astype(np.float64, copy=False)
        status = np.where(column.missing, MISSING, np.where(np.isfinite(values), OK, NOT_FINITE))
        return values, status.astype(np.int8)
    if isinstance(column, TimeColumn):
        n = len(column.values)
        status = np.where(column.values.isna().to_numpy(), MISSING, NOT_NUMBER)
        return np.full(n, np.nan), status.astype(np.int8)
    cells = _normalize_decimal_comma(column.values) if decimal_comma else column.values
    try:  # fast path: every cell is a number (the usual case)
        values = np.array(cells, dtype=np.float64)
    except (ValueError, TypeError):
        return _parse_slowly(cells)
    status = np.where(np.isfinite(values), OK, NOT_FINITE).astype(np.int8)
    return values, status


def _parse_slowly(cells: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    values = np.full(len(cells), np.nan)
    status = np.zeros(len(cells), dtype=np.int8)
    for i, cell in enumerate(cells):
        text = "" if cell is None else cell.strip()
        if text.lower() in MISSING_MARKERS:
            status[i] = MISSING
            continue
        try:
            value = float(text)
        except ValueError:
            status[i] = NOT_NUMBER
            continue
        values[i] = value
        if not math.isfinite(value):
            status[i] = NOT_FINITE
    return values, status
