"""Stream a delimited text file as chunks, keeping each row's original text.

Most sensor exports have no quotes: those are split with ``str.split`` a few megabytes at a
time, which is several times faster than the csv module. As soon as a quote character (or an
old Mac bare-CR line end) appears, the rest of the file goes through :mod:`csv`, which handles
quoted delimiters and line breaks inside quotes. Both paths number rows the same way.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from app.ingest.chunks import RawChunk, TableReader, TextColumn, clean_header
from app.ingest.report import IngestError, RowProblem, locate
from app.ingest.sniff import TextDialect

BLOCK_CHARS = 4 * 1024 * 1024
csv.field_size_limit(16 * 1024 * 1024)


class _Rows:
    """Collects the rows of one chunk and sorts the misshapen ones into problems."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.fields: list[list[str]] = []
        self.raws: list[str] = []
        self.numbers: list[int] = []
        self.problems: list[RowProblem] = []
        self.blank_rows: list[int] = []
        self.trailing_fixed = 0

    def __len__(self) -> int:
        return len(self.fields)

    def add_many(self, first_number: int, raws: list[str], fields: list[list[str]]) -> None:
        width = self.width
        if all(len(f) == width for f in fields):
            self.fields.extend(fields)
            self.raws.extend(raws)
            self.numbers.extend(range(first_number, first_number + len(raws)))
            return
        for offset, (raw, row) in enumerate(zip(raws, fields, strict=True)):
            self.add(first_number + offset, row, raw, ended=True)

    def add(self, number: int, row: list[str] | None, raw: str, ended: bool) -> None:
        width = self.width
        if row is None:
            self.problems.append(RowProblem(number, None, "the line cannot be read as CSV", raw))
            return
        if not row or (len(row) == 1 and not row[0].strip() and width > 1):
            self.blank_rows.append(number)
            return
        if len(row) > width and not any(f.strip() for f in row[width:]):
            row = row[:width]
            self.trailing_fixed += 1
        if len(row) == width:
            self.fields.append(row)
            self.raws.append(raw)
            self.numbers.append(number)
        elif len(row) < width and not ended:
            reason = (
                f"row is cut short ({len(row)} of {width} fields) and the file ends mid-line: "
                "truncated file?"
            )
            self.problems.append(RowProblem(number, None, reason, raw))
        else:
            reason = f"row has {len(row)} fields, the header has {width}"
            self.problems.append(RowProblem(number, None, reason, raw))

    def take(self) -> RawChunk:
        columns = (
            [TextColumn(list(col)) for col in zip(*self.fields, strict=True)]
            if self.fields
            else [TextColumn([]) for _ in range(self.width)]
        )
        chunk = RawChunk(
            np.asarray(self.numbers, dtype=np.int64),
            columns,
            self.raws,
            self.problems,
            len(self.blank_rows),
            self.blank_rows,
        )
        self.fields, self.raws, self.numbers = [], [], []
        self.problems, self.blank_rows = [], []
        return chunk

    def has_any(self) -> bool:
        return bool(self.fields or self.problems or self.blank_rows)


class CsvReader(TableReader):
    def __init__(
        self,
        path: Path,
        filename: str,
        dialect: TextDialect,
        chunk_rows: int,
        block_chars: int = BLOCK_CHARS,
    ) -> None:
        self.filename = filename
        self.dialect = dialect
        self.chunk_rows = chunk_rows
        self.block_chars = block_chars
        self.notes = list(dialect.notes)
        binary = path.open("rb")
        binary.seek(dialect.skip_bytes)
        self._text = io.TextIOWrapper(binary, encoding=dialect.encoding, newline="")
        self._row = 0  # data row number of the last row read (header = 0)
        try:
            self.header = self._read_header()
        except IngestError:
            self.close()
            raise

    def close(self) -> None:
        self._text.close()

    def _decode_error(self, exc: UnicodeDecodeError) -> IngestError:
        return IngestError(
            f"{locate(self.filename, self._row + 1)}: cannot be decoded as "
            f"{self.dialect.encoding} ({exc.reason}); state the file's encoding"
        )

    def _records(self, lines: Iterable[str]) -> Iterator[tuple[list[str] | None, str]]:
        """csv-module records with the exact text they came from (line end included)."""
        pending: list[str] = []

        def capture() -> Iterator[str]:
            for line in lines:
                pending.append(line)
                yield line

        reader = csv.reader(capture(), delimiter=self.dialect.delimiter, strict=False)
        while True:
            try:
                row: list[str] | None = next(reader)
            except StopIteration:
                return
            except csv.Error:
                row = None
            except UnicodeDecodeError as exc:
                raise self._decode_error(exc) from exc
            raw = pending[0] if len(pending) == 1 else "".join(pending)
            pending.clear()
            yield row, raw

    def _read_header(self) -> list[str]:
        skipped = 0
        for row, _raw in self._records(iter(self._text.readline, "")):
            if skipped < self.dialect.skip_lines:
                skipped += 1
                continue
            if row is None:
                raise IngestError(f"{locate(self.filename, 0)}: the header cannot be read")
            if any(f.strip() for f in row):
                return clean_header(row)
        raise IngestError(f"{self.filename}: the file has no header row (it is empty)")

    def _read_block(self) -> str:
        try:
            return self._text.read(self.block_chars)
        except UnicodeDecodeError as exc:
            raise self._decode_error(exc) from exc

    def chunks(self) -> Iterator[RawChunk]:
        rows = _Rows(len(self.header))
        delimiter = self.dialect.delimiter
        carry = ""
        while block := self._read_block():
            complete, newline, carry = (carry + block).rpartition("\n")
            if not newline:
                continue
            if '"' in complete or complete.count("\r") != complete.count("\r\n"):
                yield from self._slow(rows, complete + "\n", carry)
                return
            lines = complete.split("\n")
            for start in range(0, len(lines), self.chunk_rows):
                part = [
                    ln[:-1] if ln.endswith("\r") else ln for ln in lines[start:][: self.chunk_rows]
                ]
                rows.add_many(self._row + 1, part, [ln.split(delimiter) for ln in part])
                self._row += len(part)
                if len(rows) >= self.chunk_rows:
                    yield rows.take()
        if carry:
            yield from self._slow(rows, "", carry)
            return
        yield from self._finish(rows)

    def _slow(self, rows: _Rows, complete: str, carry: str) -> Iterator[RawChunk]:
        """The csv-module path for the rest of the file, starting with ``complete``."""

        def lines() -> Iterator[str]:
            yield from io.StringIO(complete, newline="")
            yield from io.StringIO(carry + self._text.readline(), newline="")
            yield from self._text

        for row, raw in self._records(itertools.chain(lines())):
            self._row += 1
            ended = raw.endswith(("\n", "\r"))
            rows.add(self._row, row, raw.rstrip("\r\n"), ended)
            if len(rows) >= self.chunk_rows:
                yield rows.take()
        yield from self._finish(rows)

    def _finish(self, rows: _Rows) -> Iterator[RawChunk]:
        if rows.trailing_fixed:
            self.notes.append(f"{rows.trailing_fixed} rows ended with empty extra fields; ignored")
        if rows.has_any():
            yield rows.take()
