"""Reports on line(s) over a period, as PDF, CSV or XLSX; and the nightly archive.

The dashboard, ``kdmon report`` and the nightly job all come through here, so a report of
the same lines and period looks the same wherever it was asked for. The parts live in
``app.reports`` (collection, charts, PDF, tables); this module opens the unit of work,
picks the renderer and writes the archive.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, get_args

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.reports.collect import collect_report
from app.reports.data import (
    FlaggedSample,
    LineKpis,
    LineReport,
    ModelInForce,
    ReportData,
    TimelineBucket,
)
from app.reports.pdf import PDF_FLAGGED_LIMIT, render_pdf
from app.reports.request import ReportRequest
from app.reports.tables import FLAGGED_COLUMNS, render_csv, render_xlsx
from app.services.errors import ValidationError
from app.services.lines import list_line_names
from db.engine import unit_of_work

__all__ = [
    "FLAGGED_COLUMNS",
    "FORMATS",
    "MEDIA_TYPES",
    "FlaggedSample",
    "LineKpis",
    "LineReport",
    "ModelInForce",
    "ReportData",
    "ReportFormat",
    "ReportRequest",
    "TimelineBucket",
    "build_nightly_report",
    "build_report",
    "collect_report",
    "render_csv",
    "render_pdf",
    "render_xlsx",
    "report_filename",
]

log = logging.getLogger(__name__)

ReportFormat = Literal["pdf", "csv", "xlsx"]
FORMATS: tuple[ReportFormat, ...] = get_args(ReportFormat)
MEDIA_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_RENDERERS = {"pdf": render_pdf, "csv": render_csv, "xlsx": render_xlsx}
_MAX_NAMED_LINES = 3


def build_report(
    factory: sessionmaker[Session],
    settings: Settings,
    request: ReportRequest,
    fmt: ReportFormat,
) -> bytes:
    """The report as bytes in ``fmt``; reads in one unit of work, renders outside it.

    A PDF alone fetches only the flagged samples it can show; CSV and XLSX get all of them.
    ``settings`` is taken for symmetry with the other services (the CLI and jobs pass it).
    """
    _check_format(fmt)
    with unit_of_work(factory) as session:
        data = collect_report(
            session, request, flagged_limit=PDF_FLAGGED_LIMIT if fmt == "pdf" else None
        )
    return _RENDERERS[fmt](data)


def report_filename(request: ReportRequest, fmt: ReportFormat) -> str:
    """A safe, descriptive file name, e.g. ``kdmon-report_press-1_2024-05-01.pdf``."""
    _check_format(fmt)
    if len(request.lines) > _MAX_NAMED_LINES:
        lines = f"{len(request.lines)}-lines"
    else:
        lines = "+".join(_slug(name) for name in request.lines)
    if request.is_whole_days:
        first, last = request.start.date(), (request.end - timedelta(days=1)).date()
        period = first.isoformat() if first == last else f"{first}_to_{last}"
    else:
        period = f"{request.start:%Y%m%dT%H%MZ}_to_{request.end:%Y%m%dT%H%MZ}"
    return f"kdmon-report_{lines}_{period}.{fmt}"


def build_nightly_report(
    factory: sessionmaker[Session], settings: Settings, now: datetime | None = None
) -> list[Path]:
    """Archive yesterday's (UTC) report of every line as PDF, CSV and XLSX.

    Files go to ``report_dir/YYYY-MM-DD/kdmon-daily_YYYY-MM-DD.{pdf,csv,xlsx}``: names depend
    only on the day, so running the job again (a retry, a catch-up) replaces them instead of
    adding copies; each file is written to a temporary name first and then moved into place.
    Returns the written paths (none when there are no lines yet).
    """
    now = datetime.now(UTC) if now is None else now
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValidationError("The nightly report needs an aware time for 'now'.")
    day = now.astimezone(UTC).date() - timedelta(days=1)
    with unit_of_work(factory) as session:
        names = list_line_names(session)
        if not names:
            log.info("nightly report for %s skipped: no lines yet", day)
            return []
        request = ReportRequest.for_days(names, day)
        data = collect_report(session, request, now=now)
    folder = settings.report_dir / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in FORMATS:
        path = folder / f"kdmon-daily_{day.isoformat()}.{fmt}"
        _write_atomically(path, _RENDERERS[fmt](data))
        paths.append(path)
    log.info(
        "nightly report for %s: %d lines, %d flagged, written to %s",
        day,
        len(names),
        data.flagged_total,
        folder,
    )
    return paths


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValidationError(f"Unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}.")


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()
    return slug[:40] or "line"


def _write_atomically(path: Path, content: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
