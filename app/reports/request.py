"""What a report covers: one or more lines over a half-open UTC period ``[start, end)``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from app.services.errors import ValidationError


def as_utc(value: datetime, what: str = "time") -> datetime:
    """The same instant in UTC; naive times are refused so no one guesses a time zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            f"The report {what} {value.isoformat()} has no time zone; give an aware UTC time."
        )
    return value.astimezone(UTC)


@dataclass(frozen=True)
class ReportRequest:
    """Lines (by name) and a period; ``end`` is exclusive, both are stored in UTC."""

    lines: tuple[str, ...]
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        raw = (self.lines,) if isinstance(self.lines, str) else tuple(self.lines)
        names = tuple(dict.fromkeys(str(n).strip() for n in raw))
        if not names or any(not n for n in names):
            raise ValidationError("Choose at least one line for the report.")
        start = as_utc(self.start, "start")
        end = as_utc(self.end, "end")
        if start >= end:
            raise ValidationError(
                f"The report period must start before it ends, got {start.isoformat()} "
                f"to {end.isoformat()}."
            )
        object.__setattr__(self, "lines", names)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @classmethod
    def for_days(
        cls, lines: Iterable[str] | str, first: date, last: date | None = None
    ) -> ReportRequest:
        """Whole UTC days ``first`` to ``last`` inclusive (a date picker's range)."""
        last = first if last is None else last
        if last < first:
            raise ValidationError(
                f"The last day ({last.isoformat()}) is before the first ({first.isoformat()})."
            )
        start = datetime.combine(first, time(), tzinfo=UTC)
        end = datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC)
        return cls(_names(lines), start, end)

    @classmethod
    def parse(cls, lines: Iterable[str] | str, start: str, end: str) -> ReportRequest:
        """From command-line text: ISO dates or datetimes; naive values are read as UTC.

        A date-only ``end`` includes that whole day (``--start 2024-05-01 --end 2024-05-01``
        is one day); an ``end`` with a time of day is exclusive.
        """
        first = _parse_when(start, "start")
        last = _parse_when(end, "end")
        if _is_date_only(end):
            last += timedelta(days=1)
        return cls(_names(lines), first, last)

    @property
    def is_whole_days(self) -> bool:
        return self.start.time() == time() and self.end.time() == time()


def _names(lines: Iterable[str] | str) -> tuple[str, ...]:
    return (lines,) if isinstance(lines, str) else tuple(lines)


def _is_date_only(text: str) -> bool:
    try:
        date.fromisoformat(text.strip())
    except ValueError:
        return False
    return True


def _parse_when(text: str, what: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValidationError(
            f"The report {what} {text!r} is not an ISO date or time (e.g. 2024-05-01 or "
            "2024-05-01T06:00Z)."
        ) from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
