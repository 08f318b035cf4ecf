"""Open a table file as a :class:`TableReader`, whatever its format (never trusting the name).

Readers only split the file: they find the header, count rows, set aside rows whose shape is
wrong (ragged, cut off), and hand every other row on untouched. Whether a value is acceptable
is :mod:`app.ingest.validation`'s job. CSV and Parquet are read in chunks so a 2 GB file never
sits in memory; Excel files are streamed by openpyxl's read-only mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from app.ingest.chunks import (
    Column,
    NumberColumn,
    RawChunk,
    TableReader,
    TextColumn,
    TimeColumn,
    clean_header,
)
from app.ingest.csv_reader import CsvReader
from app.ingest.policy import ValidationPolicy
from app.ingest.report import IngestError, RowProblem, locate
from app.ingest.sniff import check_xlsx, detect_format, sniff_text
from app.ingest.storage import FileFacts

CHUNK_ROWS = 50_000

__all__ = [
    "CHUNK_ROWS",
    "Column",
    "CsvReader",
    "NumberColumn",
    "RawChunk",
    "TableReader",
    "TextColumn",
    "TimeColumn",
    "open_table",
]


class ParquetReader(TableReader):
    def __init__(self, path: Path, filename: str, chunk_rows: int) -> None:
        import pyarrow.parquet as pq

        self.filename = filename
        self.chunk_rows = chunk_rows
        try:
            self._file = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises several types for damaged files
            raise IngestError(f"{filename}: a damaged Parquet file ({exc})") from exc
        self.header = clean_header(list(self._file.schema_arrow.names))
        self.notes = ["read as Parquet"]

    def chunks(self) -> Iterator[RawChunk]:
        import pyarrow as pa

        start = 0
        try:
            for batch in self._file.iter_batches(batch_size=self.chunk_rows):
                columns = [_arrow_column(batch.column(i), pa) for i in range(batch.num_columns)]
                numbers = np.arange(start + 1, start + batch.num_rows + 1, dtype=np.int64)
                start += batch.num_rows
                yield RawChunk(numbers, columns)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise IngestError(f"{locate(self.filename, start + 1)}: unreadable ({exc})") from exc


def _arrow_column(array, pa) -> Column:  # type: ignore[no-untyped-def]
    kind = array.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        missing = array.is_null().to_numpy(zero_copy_only=False)
        values = array.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return NumberColumn(np.asarray(values, dtype=np.float64), np.asarray(missing, dtype=bool))
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return TimeColumn(array.to_pandas())
    text = array.cast(pa.string()).to_pylist() if not pa.types.is_string(kind) else None
    return TextColumn(text if text is not None else array.to_pylist())


class XlsxReader(TableReader):
    def __init__(self, path: Path, filename: str, sheet: str | None, chunk_rows: int) -> None:
        import openpyxl

        check_xlsx(path, filename)
        self.filename = filename
        self.chunk_rows = chunk_rows
        self._handle = path.open("rb")  # a file object: openpyxl would insist on an extension
        try:
            self._book = openpyxl.load_workbook(self._handle, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for broken workbooks
            self._handle.close()
            raise IngestError(f"{filename}: the Excel workbook cannot be opened ({exc})") from exc
        try:
            names = self._book.sheetnames
            if sheet is not None and sheet not in names:
                raise IngestError(f"{filename}: no sheet {sheet!r}; the workbook has {names}")
            self.sheet = sheet or names[0]
            self._rows = self._book[self.sheet].iter_rows(values_only=True)
            self.notes = [f"read as Excel, sheet {self.sheet!r}"]
            for values in self._rows:
                cells = list(values)
                if any(v is not None and str(v).strip() for v in cells):
                    while cells and (cells[-1] is None or not str(cells[-1]).strip()):
                        cells.pop()
                    self.header = clean_header(["" if v is None else str(v) for v in cells])
                    return
            raise IngestError(f"{filename}: sheet {self.sheet!r} is empty")
        except IngestError:
            self.close()
            raise

    def close(self) -> None:
        self._book.close()
        self._handle.close()

    def chunks(self) -> Iterator[RawChunk]:
        width = len(self.header)
        rows: list[tuple] = []
        numbers: list[int] = []
        problems: list[RowProblem] = []
        blank_rows: list[int] = []
        for number, values in enumerate(self._rows, start=1):
            cells = tuple(values)
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in cells):
                blank_rows.append(number)
            elif any(v is not None for v in cells[width:]):
                problems.append(
                    RowProblem(
                        number,
                        None,
                        "row has values to the right of the last header column",
                        ",".join("" if v is None else str(v) for v in cells),
                    )
                )
            else:
                rows.append(cells[:width] + (None,) * (width - len(cells)))
                numbers.append(number)
            if len(rows) >= self.chunk_rows:
                yield self._chunk(rows, numbers, problems, blank_rows)
                rows, numbers, problems, blank_rows = [], [], [], []
        if rows or problems or blank_rows:
            yield self._chunk(rows, numbers, problems, blank_rows)

    def _chunk(
        self,
        rows: list[tuple],
        numbers: list[int],
        problems: list[RowProblem],
        blank_rows: list[int],
    ) -> RawChunk:
        width = len(self.header)
        cols = list(zip(*rows, strict=True)) if rows else [() for _ in range(width)]
        return RawChunk(
            np.asarray(numbers, dtype=np.int64),
            [_excel_column(list(c)) for c in cols],
            None,
            problems,
            len(blank_rows),
            blank_rows,
        )


def _excel_column(cells: list[object]) -> Column:
    """Typed when every cell agrees (numbers, or date-times); otherwise text like a CSV cell."""
    present = [c for c in cells if c is not None]
    if present and all(isinstance(c, int | float) and not isinstance(c, bool) for c in present):
        missing = np.array([c is None for c in cells], dtype=bool)
        values = np.array([np.nan if c is None else float(c) for c in cells], dtype=np.float64)
        return NumberColumn(values, missing)
    if present and all(isinstance(c, datetime | date) for c in present):
        return TimeColumn(pd.Series(pd.to_datetime(cells)))
    return TextColumn([None if c is None else _excel_text(c) for c in cells])


def _excel_text(value: object) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


def open_table(
    path: Path,
    filename: str,
    facts: FileFacts,
    policy: ValidationPolicy,
    chunk_rows: int | None = None,
) -> TableReader:
    """The reader for whatever the bytes are; notes include a misleading extension."""
    chunk_rows = chunk_rows or CHUNK_ROWS
    fmt, notes = detect_format(facts, filename)
    reader: TableReader
    if fmt == "parquet":
        reader = ParquetReader(path, filename, chunk_rows)
    elif fmt == "xlsx":
        reader = XlsxReader(path, filename, policy.sheet, chunk_rows)
    else:
        reader = CsvReader(path, filename, sniff_text(facts, filename, policy), chunk_rows)
    reader.notes[:0] = notes
    return reader
