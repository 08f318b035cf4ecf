"""CSV and XLSX exports: every flagged sample, one row each, in stable columns.

Columns only ever get appended, so scripts reading the CSV keep working. Free text (comments,
reviewer and line names) never runs as a spreadsheet formula: the CSV prefixes risky text with
an apostrophe, the XLSX stores it as a typed text cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from app.reports import formatting as fmt
from app.reports.data import FlaggedSample, ReportData

FLAGGED_COLUMNS = (
    "sample_id",
    "line",
    "time_utc",
    "score",
    "threshold",
    "model_version",
    "verdict",
    "reviewer",
    "reviewed_at_utc",
    "comment",
    "top_features",
    "extreme_risk",  # empty unless the model forecasts extreme events (xTime)
)
SUMMARY_COLUMNS = (
    "line",
    "model_versions",
    "threshold",
    "threshold_now",
    "scored",
    "flagged",
    "flagged_share",
    "reviewed_share",
    "confirmed",
    "dismissed",
    "unsure",
)
XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit, less the header
_BOLD = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="E1E8F0")
_TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"


def _flagged_values(f: FlaggedSample, text: Callable[[str | None], str]) -> tuple[Any, ...]:
    return (
        f.sample_id,
        text(f.line),
        f.ts,
        f.score,
        f.threshold,
        f.model_version,
        f.verdict or "",
        text(f.reviewer),
        f.reviewed_at,
        text(f.comment),
        fmt.features(f.top_features),
        f.extreme_risk,
    )


def _as_is(value: str | None) -> str:
    return value or ""


def render_csv(data: ReportData) -> bytes:
    """UTF-8 CSV with a header row; times are ISO 8601 UTC, empty cells mean "not reviewed"."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FLAGGED_COLUMNS)
    for f in data.flagged:
        writer.writerow(
            v.isoformat() if isinstance(v, datetime) else ("" if v is None else v)
            for v in _flagged_values(f, fmt.spreadsheet_text)
        )
    return buffer.getvalue().encode("utf-8")


def render_xlsx(data: ReportData) -> bytes:
    """A workbook with a Summary sheet (report facts, KPIs per line) and a Flagged sheet."""
    workbook = Workbook(write_only=True)
    _summary_sheet(workbook.create_sheet("Summary"), data)
    _flagged_sheet(workbook.create_sheet("Flagged"), data)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _cell(sheet: WriteOnlyWorksheet, value: Any, **style: Any) -> WriteOnlyCell:
    if isinstance(value, datetime):
        # Excel has no time zones: write the UTC wall time and say so in the header.
        value = value.replace(tzinfo=None)
        style.setdefault("number_format", _TIME_FORMAT)
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"  # text that looks like a formula stays text, exactly as typed
    for name, setting in style.items():
        setattr(cell, name, setting)
    return cell


def _header(sheet: WriteOnlyWorksheet, names: tuple[str, ...]) -> list[WriteOnlyCell]:
    return [_cell(sheet, n, font=_BOLD, fill=_HEADER_FILL) for n in names]


def _summary_sheet(sheet: WriteOnlyWorksheet, data: ReportData) -> None:
    for column, width in zip(
        "ABCDEFGHIJK", (28, 26, 14, 14, 10, 10, 14, 14, 11, 11, 10), strict=True
    ):
        sheet.column_dimensions[column].width = width
    request = data.request
    facts: list[tuple[str, Any]] = [
        ("Report", "kdmon anomaly report"),
        ("Lines", ", ".join(request.lines)),
        ("Period", fmt.period(request)),
        ("Period start (UTC)", request.start),
        ("Period end (UTC, exclusive)", request.end),
        ("Generated (UTC)", data.generated_at),
        ("Flagged samples", data.flagged_total),
    ]
    if data.flagged_total == 0:
        facts.append(("Note", "No samples were flagged in this period."))
    elif min(len(data.flagged), XLSX_MAX_ROWS) < data.flagged_total:
        listed = min(len(data.flagged), XLSX_MAX_ROWS)
        facts.append(("Note", f"The Flagged sheet lists {listed:,} of {data.flagged_total:,}."))
    for label, value in facts:
        sheet.append([_cell(sheet, label, font=_BOLD), _cell(sheet, value)])
    sheet.append([])
    sheet.append(_header(sheet, SUMMARY_COLUMNS))
    for line in data.lines:
        k = line.kpis
        sheet.append(
            [
                _cell(sheet, line.name),
                _cell(sheet, fmt.models(line)),
                _cell(sheet, fmt.thresholds(line)),
                _cell(sheet, line.current_threshold),
                _cell(sheet, k.scored),
                _cell(sheet, k.flagged),
                _cell(sheet, k.flagged_share, number_format="0.0%"),
                _cell(sheet, k.reviewed_share, number_format="0.0%"),
                _cell(sheet, k.confirmed),
                _cell(sheet, k.dismissed),
                _cell(sheet, k.unsure),
            ]
        )


def _flagged_sheet(sheet: WriteOnlyWorksheet, data: ReportData) -> None:
    widths = (10, 22, 20, 11, 11, 9, 11, 16, 20, 48, 48, 12)
    for column, width in zip("ABCDEFGHIJKL", widths, strict=True):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A2"
    sheet.append(_header(sheet, FLAGGED_COLUMNS))
    for f in data.flagged[:XLSX_MAX_ROWS]:
        sheet.append([_cell(sheet, v) for v in _flagged_values(f, _as_is)])
