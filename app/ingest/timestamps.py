"""Read a timestamp column into UTC nanoseconds, with a reason for every row that fails.

The format is chosen once per file from its first values (ISO 8601 first, then the day-first
European forms, then US month-first), so a file is never read half one way, half another.
Values without an offset are local time in the policy's zone; stored times are UTC.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from app.ingest.readers import Column, NumberColumn, TimeColumn
from app.ingest.report import IngestError, locate

NAT = np.iinfo(np.int64).min
FORMATS = (
    "ISO8601",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M:%S.%f",
    "%d.%m.%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%d.%m.%Y",
    "%d/%m/%Y",
)
_OFFSET = re.compile(r"[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$")
MIN_YEAR, MAX_YEAR = 1900, 2200
SAMPLE = 1000


def _example(fmt: str | None) -> str:
    if fmt is None or fmt == "ISO8601":
        return "2024-01-31 08:00:00"
    if fmt == "epoch_s":
        return "1706688000 (seconds since 1970)"
    if fmt == "epoch_ms":
        return "1706688000000 (milliseconds since 1970)"
    return pd.Timestamp("2024-01-31 08:00:00").strftime(fmt)


def _parse_naive(texts: pd.Series, fmt: str) -> pd.Series:
    if fmt.startswith("epoch"):
        numbers = pd.to_numeric(texts, errors="coerce")
        unit = "s" if fmt == "epoch_s" else "ms"
        return pd.Series(pd.to_datetime(numbers, unit=unit, errors="coerce"), index=texts.index)
    return pd.Series(pd.to_datetime(texts, format=fmt, errors="coerce"), index=texts.index)


def _guess_epoch(numbers: np.ndarray) -> str | None:
    finite = numbers[np.isfinite(numbers)]
    if not len(finite):
        return None
    median = float(np.median(finite))
    if 1e8 <= median < 1e10:
        return "epoch_s"
    if 1e11 <= median < 1e13:
        return "epoch_ms"
    return None


class TimestampParser:
    """Stateful across chunks: the first values fix the format for the whole file."""

    def __init__(self, naive_timezone: str, filename: str, column: str) -> None:
        self.naive_timezone = naive_timezone
        self.filename = filename
        self.column = column
        self.format: str | None = None

    def describe(self) -> str:
        if self.format is None:
            shown = "date-times"
        elif self.format == "ISO8601":
            shown = "ISO 8601 (e.g. 2024-01-31 08:00:00)"
        else:
            shown = f"{self.format} (e.g. {_example(self.format)})"
        return (
            f"timestamps in column {self.column!r} read as {shown}; "
            f"those without an offset as {self.naive_timezone} time, stored as UTC"
        )

    def parse(self, column: Column, row_numbers: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
        """UTC epoch nanoseconds (``NAT`` where rejected) and {position: reason}."""
        errors: dict[int, str] = {}
        if isinstance(column, TimeColumn):
            values = pd.Series(pd.to_datetime(column.values, errors="coerce")).reset_index(
                drop=True
            )
            self.format = self.format or "date-time cells"
            shown = values.astype(str)
            utc = self._to_utc(values, errors, shown)
        else:
            if isinstance(column, NumberColumn):
                cells = [
                    "" if m else repr(float(v))
                    for v, m in zip(column.values, column.missing, strict=True)
                ]
            else:
                cells = ["" if v is None else v.strip() for v in column.values]
            shown = pd.Series(cells, dtype=object)
            if self.format is None:
                self._choose(shown, row_numbers)
            utc = self._parse_texts(shown, errors)
        return self._finish(utc, shown, errors)

    def _choose(self, texts: pd.Series, row_numbers: np.ndarray) -> None:
        present = texts[texts != ""].head(SAMPLE)
        if present.empty:
            return
        numbers = pd.to_numeric(present, errors="coerce").to_numpy(dtype=float)
        if np.isfinite(numbers).all():
            epoch = _guess_epoch(numbers)
            if epoch is not None:
                self.format = epoch
                return
        stripped = present.str.replace(r"\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$", "", regex=True)
        best, best_ok = None, 0
        for fmt in FORMATS:
            ok = int(_parse_naive(stripped, fmt).notna().sum())
            if ok > best_ok:
                best, best_ok = fmt, ok
            if ok == len(present):
                break
        if best is None:
            first = int(row_numbers[int(present.index[0])])
            raise IngestError(
                f"{locate(self.filename, first, self.column)}: cannot read timestamps like "
                f"{present.iloc[0]!r} (expected e.g. 2024-01-31 08:00:00 or 31.01.2024 08:00)"
            )
        self.format = best

    def _parse_texts(self, texts: pd.Series, errors: dict[int, str]) -> pd.Series:
        fmt = self.format or "ISO8601"
        out = pd.Series(pd.NaT, index=texts.index, dtype="datetime64[us, UTC]")
        if fmt == "ISO8601":
            has_offset = texts.str.contains(_OFFSET, regex=True).to_numpy(dtype=bool)
        else:
            has_offset = np.zeros(len(texts), dtype=bool)
        if has_offset.any():
            aware = pd.to_datetime(texts[has_offset], format="ISO8601", utc=True, errors="coerce")
            out[has_offset] = aware.astype("datetime64[us, UTC]")
        naive_mask = ~has_offset
        if naive_mask.any():
            naive = _parse_naive(texts[naive_mask], fmt)
            out[naive_mask] = self._to_utc(naive, errors, texts).astype("datetime64[us, UTC]")
        return out

    def _to_utc(self, values: pd.Series, errors: dict[int, str], shown: pd.Series) -> pd.Series:
        """Aware values are converted; naive ones localized, clock-change gaps rejected."""
        if values.dt.tz is not None:
            return values.dt.tz_convert("UTC")
        if self.naive_timezone == "UTC":
            return values.dt.tz_localize("UTC")
        try:
            local = values.dt.tz_localize(self.naive_timezone, ambiguous="infer", nonexistent="NaT")
        except Exception:  # "infer" gives up on unordered data: reject the ambiguous hour
            local = values.dt.tz_localize(self.naive_timezone, ambiguous="NaT", nonexistent="NaT")
        lost = values.notna().to_numpy() & local.isna().to_numpy()
        for label in values.index[lost]:
            errors[int(label)] = (
                f"{shown.loc[label]!r} does not exist or is ambiguous in "
                f"{self.naive_timezone} (clock change)"
            )
        return local.dt.tz_convert("UTC")

    def _finish(
        self, utc: pd.Series, shown: pd.Series, errors: dict[int, str]
    ) -> tuple[np.ndarray, dict[int, str]]:
        naive = utc.dt.tz_localize(None).astype("datetime64[us]")
        ok = naive.notna().to_numpy()
        years = naive.dt.year.to_numpy(dtype=float, na_value=np.nan)
        good = ok & (years >= MIN_YEAR) & (years <= MAX_YEAR)
        result = np.full(len(utc), NAT, dtype=np.int64)
        result[good] = naive[good].to_numpy().astype("datetime64[ns]").view(np.int64)
        text: Callable[[int], str] = lambda i: str(shown.iloc[i])  # noqa: E731
        for i in np.flatnonzero(~good):
            i = int(i)
            if i in errors:
                continue
            value = text(i)
            if value in ("", "NaT", "None"):
                errors[i] = "timestamp is missing"
            elif ok[i]:
                errors[i] = f"{value!r} is outside the years {MIN_YEAR}-{MAX_YEAR}"
            else:
                errors[i] = f"{value!r} is not a timestamp (expected like {_example(self.format)})"
        return result, errors
