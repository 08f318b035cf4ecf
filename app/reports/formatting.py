"""How times, shares, features and free text look in every report format, in one place."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from app.reports.data import LineReport
from app.reports.request import ReportRequest

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def period(request: ReportRequest) -> str:
    """``2024-05-01 (UTC)`` for a day, ``2024-05-01 to 2024-05-07 (UTC)`` for whole days."""
    if request.is_whole_days:
        first = request.start.date()
        last = (request.end - timedelta(days=1)).date()
        days = (last - first).days + 1
        if first == last:
            return f"{first.isoformat()} (UTC)"
        return f"{first.isoformat()} to {last.isoformat()} (UTC, {days} days)"
    return f"{request.start:%Y-%m-%d %H:%M} to {request.end:%Y-%m-%d %H:%M} (UTC)"


def share(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def number(value: float) -> str:
    """Scores with four significant digits: enough to compare with the threshold."""
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def features(pairs: Sequence[tuple[str, float]]) -> str:
    return "; ".join(f"{name} ({number(weight)})" for name, weight in pairs)


def models(line: LineReport) -> str:
    """Model version(s) that scored the period, or the active one when nothing was scored."""
    if line.models:
        return ", ".join(f"v{m.version} ({m.detector})" for m in line.models)
    if line.active_version is not None:
        return f"v{line.active_version} (active, no scores in period)"
    return "no active model"


def thresholds(line: LineReport) -> str:
    if line.models:
        lo = min(m.threshold_min for m in line.models)
        hi = max(m.threshold_max for m in line.models)
        return number(lo) if lo == hi else f"{number(lo)} to {number(hi)}"
    return number(line.current_threshold) if line.current_threshold is not None else "–"


def clean(text: str | None, limit: int | None = None) -> str:
    """One line of printable text (control characters and newlines become spaces)."""
    value = _CONTROL.sub(" ", text or "").strip()
    if limit is not None and len(value) > limit:
        value = value[: limit - 1].rstrip() + "…"
    return value


def spreadsheet_text(text: str | None) -> str:
    """Free text that a spreadsheet will not run as a formula (CSV/formula injection)."""
    value = text or ""
    return "'" + value if value.startswith(_FORMULA_START) else value
