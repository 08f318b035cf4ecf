"""Recognise what a file is from its bytes (never its name) and how its text is written."""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from app.ingest.policy import ValidationPolicy
from app.ingest.report import IngestError
from app.ingest.storage import FileFacts

Format = Literal["csv", "parquet", "xlsx"]

DELIMITERS = (";", ",", "\t", "|")
_DELIM_NAMES = {";": "';'", ",": "','", "\t": "tab", "|": "'|'"}
_COMMA_NUMBER = re.compile(r"^[+-]?(\d+|\d{1,3}(\.\d{3})+),\d+([eE][+-]?\d+)?$")
_DOT_NUMBER = re.compile(r"^[+-]?\d*\.\d+([eE][+-]?\d+)?$")
_EXPECTED_EXT = {"csv": {".csv", ".txt", ".tsv", ".dat", ""}, "parquet": {".parquet", ".pq"}}
_EXPECTED_EXT["xlsx"] = {".xlsx", ".xlsm"}


@dataclass(frozen=True)
class TextDialect:
    """How to decode and split a delimited text file."""

    encoding: str
    skip_bytes: int  # a UTF-8 BOM in front of a file that is not UTF-8
    delimiter: str
    decimal_comma: bool
    skip_lines: int  # an Excel ``sep=;`` line before the header
    notes: list[str] = field(default_factory=list)


def detect_format(facts: FileFacts, filename: str) -> tuple[Format, list[str]]:
    """Format from magic bytes; a misleading extension is reported, not trusted."""
    head = facts.head
    if facts.size == 0 or not head.strip(b" \t\r\n\x00" + codecs.BOM_UTF8):
        raise IngestError(f"{filename}: the file is empty")
    if head.startswith(b"PAR1"):
        fmt: Format = "parquet"
    elif head.startswith(b"PK\x03\x04"):
        fmt = "xlsx"
    elif head.startswith(b"\xd0\xcf\x11\xe0"):
        raise IngestError(
            f"{filename}: this is an old-style Excel (.xls) file; save it as .xlsx or CSV"
        )
    elif head.startswith(b"\x1f\x8b") or head.startswith(b"7z\xbc\xaf"):
        raise IngestError(f"{filename}: this is a compressed archive; unpack it first")
    else:
        fmt = "csv"
    suffix = Path(filename).suffix.lower()
    notes = []
    if suffix not in _EXPECTED_EXT[fmt]:
        notes.append(f"file is named '{suffix}' but contains {fmt.upper()}; read as {fmt.upper()}")
    return fmt, notes


def check_xlsx(path: Path, filename: str) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            if "xl/workbook.xml" not in archive.namelist():
                raise IngestError(f"{filename}: a ZIP archive, not an Excel workbook")
    except zipfile.BadZipFile as exc:
        raise IngestError(f"{filename}: a damaged ZIP/Excel file ({exc})") from exc


def _choose_encoding(facts: FileFacts, policy: ValidationPolicy) -> tuple[str, int, str]:
    head = facts.head
    if policy.encoding:
        return policy.encoding, 0, f"encoding {policy.encoding} (as stated)"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", 0, "encoding UTF-16 (byte-order mark)"
    if head.startswith(codecs.BOM_UTF8):
        if facts.utf8_ok:
            return "utf-8-sig", 0, "encoding UTF-8 with byte-order mark"
        enc = "cp1252" if facts.cp1252_ok else "latin-1"
        return enc, 3, f"encoding {enc} (a UTF-8 byte-order mark precedes non-UTF-8 text)"
    if facts.utf8_ok:
        return "utf-8", 0, "encoding UTF-8"
    if facts.cp1252_ok:
        return "cp1252", 0, "encoding cp1252 (Windows; the file is not valid UTF-8)"
    return "latin-1", 0, "encoding latin-1 (the file is neither UTF-8 nor cp1252)"


def _looks_binary(text: str) -> bool:
    if "\x00" in text:
        return True
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n\x0c")
    return controls > max(2, len(text) // 100)


def _score_delimiter(lines: list[str], delimiter: str) -> tuple[int, int]:
    rows = [r for r in csv.reader(lines, delimiter=delimiter) if r]
    if not rows or len(rows[0]) < 2:
        return (0, 0)
    width = len(rows[0])
    return (sum(1 for r in rows if len(r) == width), width)


def sniff_text(facts: FileFacts, filename: str, policy: ValidationPolicy) -> TextDialect:
    """Encoding, delimiter and decimal mark from the first 64 KiB."""
    encoding, skip, note = _choose_encoding(facts, policy)
    try:
        text = facts.head[skip:].decode(encoding, errors="strict" if policy.encoding else "replace")
    except (UnicodeDecodeError, LookupError) as exc:
        raise IngestError(f"{filename}: cannot be read as {encoding}: {exc}") from exc
    if _looks_binary(text):
        raise IngestError(
            f"{filename}: does not look like a CSV, Parquet or Excel file (binary content)"
        )
    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    if facts.size > len(facts.head) and len(lines) > 1:
        lines = lines[:-1]  # the last line of the sample may be cut
    lines = [ln for ln in lines[:60] if ln.strip()]
    skip_lines = 0
    delimiter = policy.delimiter
    if lines and re.fullmatch(r"sep=.", lines[0].strip(), flags=re.IGNORECASE):
        delimiter = delimiter or lines[0].strip()[4]
        skip_lines = 1
        lines = lines[1:]
    if delimiter is None:
        scores = {d: _score_delimiter(lines, d) for d in DELIMITERS}
        best = max(DELIMITERS, key=lambda d: (scores[d], -DELIMITERS.index(d)))
        delimiter = best if scores[best][1] >= 2 else ","
    if policy.decimal is not None:
        decimal_comma = policy.decimal == ","
    elif delimiter == ",":
        decimal_comma = False
    else:
        comma = dot = 0
        for row in csv.reader(io.StringIO("\n".join(lines[1:])), delimiter=delimiter):
            for value in row:
                value = value.strip()
                comma += bool(_COMMA_NUMBER.match(value))
                dot += bool(_DOT_NUMBER.match(value))
        decimal_comma = comma > dot
    notes = [
        f"read as CSV: {note}, delimiter {_DELIM_NAMES.get(delimiter, repr(delimiter))}, "
        + ("decimal comma (1,5 read as 1.5)" if decimal_comma else "decimal point")
    ]
    return TextDialect(encoding, skip, delimiter, decimal_comma, skip_lines, notes)
