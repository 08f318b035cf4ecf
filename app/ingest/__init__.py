"""Ingestion that loses nothing: files in, samples and a quarantine out, raw bytes kept.

The CLI, the dashboard's upload page and the scheduled inbox job all call these functions.
Modules, one job each:

- ``storage``    keep the raw file byte-for-byte under ``settings.raw_dir`` by sha256
- ``sniff``      file format from magic bytes; encoding, delimiter, decimal comma
- ``readers``    stream CSV / Parquet / XLSX as chunks with data row numbers and raw text
- ``columns``    match the header to the line's schema (case, spacing, units, typos)
- ``timestamps`` timestamp formats and time zones -> UTC
- ``numbers``    cells -> floats, with the reason a cell is not a usable number
- ``validation`` apply the :class:`ValidationPolicy` per chunk (fill-forward, duplicates)
- ``repository`` bulk writes (COPY on PostgreSQL) and reads
- ``service``    the one-transaction-per-batch flow; ``schema`` infers a new line's schema

Row numbers: row 1 is the first line after the header (the header is row 0); in a plain CSV
row N is file line N + 1, in a spreadsheet with the header on row 1 it is sheet row N + 1.
"""

from app.ingest.policy import ValidationPolicy
from app.ingest.report import IngestError, IngestReport, RowProblem
from app.ingest.schema import infer_line_spec
from app.ingest.service import (
    ingest_file,
    ingest_frame,
    list_quarantine,
    preview_file,
    quarantine_csv,
)

__all__ = [
    "IngestError",
    "IngestReport",
    "RowProblem",
    "ValidationPolicy",
    "infer_line_spec",
    "ingest_file",
    "ingest_frame",
    "list_quarantine",
    "preview_file",
    "quarantine_csv",
]
