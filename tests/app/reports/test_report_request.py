from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from app.reports.request import ReportRequest
from app.services.errors import ValidationError
from app.services.reports import report_filename

DAY = datetime(2024, 5, 1, tzinfo=UTC)


def test_a_period_that_does_not_start_before_it_ends_is_refused() -> None:
    with pytest.raises(ValidationError, match="must start before it ends"):
        ReportRequest(("Press 1",), DAY, DAY)
    with pytest.raises(ValidationError, match="must start before it ends"):
        ReportRequest(("Press 1",), DAY, DAY - timedelta(hours=1))


def test_naive_times_and_missing_lines_are_refused() -> None:
    with pytest.raises(ValidationError, match="no time zone"):
        ReportRequest(("Press 1",), datetime(2024, 5, 1), DAY + timedelta(days=1))
    with pytest.raises(ValidationError, match="at least one line"):
        ReportRequest((), DAY, DAY + timedelta(days=1))
    with pytest.raises(ValidationError, match="at least one line"):
        ReportRequest(("  ",), DAY, DAY + timedelta(days=1))


def test_times_are_kept_in_utc_and_lines_deduplicated() -> None:
    plus2 = timezone(timedelta(hours=2))
    request = ReportRequest(
        ["Press 1", "Press 1", "Oven"],  # type: ignore[arg-type]
        datetime(2024, 5, 1, 2, tzinfo=plus2),
        datetime(2024, 5, 2, 2, tzinfo=plus2),
    )
    assert request.lines == ("Press 1", "Oven")
    assert request.start == DAY and request.start.tzinfo == UTC
    assert request.is_whole_days


def test_parse_reads_a_date_only_end_as_including_that_day() -> None:
    one_day = ReportRequest.parse("Press 1", "2024-05-01", "2024-05-01")
    assert (one_day.start, one_day.end) == (DAY, DAY + timedelta(days=1))
    hours = ReportRequest.parse(["Press 1"], "2024-05-01T06:00", "2024-05-01T18:00+02:00")
    assert hours.start == DAY + timedelta(hours=6)
    assert hours.end == DAY + timedelta(hours=16)
    with pytest.raises(ValidationError, match="not an ISO date"):
        ReportRequest.parse("Press 1", "yesterday", "2024-05-01")


def test_for_days_covers_whole_days_inclusive() -> None:
    request = ReportRequest.for_days("Press 1", date(2024, 5, 1), date(2024, 5, 7))
    assert request.end - request.start == timedelta(days=7)
    with pytest.raises(ValidationError, match="before the first"):
        ReportRequest.for_days("Press 1", date(2024, 5, 7), date(2024, 5, 1))


def test_filenames_name_lines_and_period_and_are_safe() -> None:
    day = ReportRequest.for_days(["Press 1/ä"], date(2024, 5, 1))
    assert report_filename(day, "pdf") == "kdmon-report_press-1_2024-05-01.pdf"
    week = ReportRequest.for_days(["A", "B"], date(2024, 5, 1), date(2024, 5, 7))
    assert report_filename(week, "csv") == "kdmon-report_a+b_2024-05-01_to_2024-05-07.csv"
    many = ReportRequest.for_days(["A", "B", "C", "D"], date(2024, 5, 1))
    assert report_filename(many, "xlsx") == "kdmon-report_4-lines_2024-05-01.xlsx"
    hours = ReportRequest(("A",), DAY + timedelta(hours=6), DAY + timedelta(hours=18))
    assert report_filename(hours, "pdf") == "kdmon-report_a_20240501T0600Z_to_20240501T1800Z.pdf"
    with pytest.raises(ValidationError, match="Unknown report format"):
        report_filename(day, "docx")  # type: ignore[arg-type]
