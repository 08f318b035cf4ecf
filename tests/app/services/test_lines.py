"""Line settings: who may change them, what is accepted, and what the next retrain uses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.services import audit
from app.services.auth import Actor
from app.services.errors import PermissionDeniedError, ValidationError
from app.services.lines import (
    change_line_contamination,
    change_line_reference_window,
    get_line,
)
from app.services.training import train_line
from db.engine import unit_of_work
from db.models import Role
from tests.seeding import correlated_rows, seed_line

ADMIN = Actor("ada", Role.ADMIN)


def test_a_stated_contamination_is_what_the_next_model_trains_with(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    X, _ = correlated_rows(600, 4, 0.03, seed=2)
    seed_line(session_factory, "oven", X, contamination=None)
    auto = train_line(session_factory, settings, "oven", detector="iforest", params={})
    assert auto.contamination == pytest.approx(0.05)  # the baseline's default without a statement

    with unit_of_work(session_factory) as session:
        change_line_contamination(session, ADMIN, "oven", "0.02")
    stated = train_line(session_factory, settings, "oven", detector="iforest", params={})
    assert stated.contamination == pytest.approx(0.02)

    with unit_of_work(session_factory) as session:
        change_line_contamination(session, ADMIN, "oven", " Auto ")
    with session_factory() as session:
        assert get_line(session, "oven").contamination is None
        events = audit.list_events(session).items
    assert [(e.action, e.details) for e in events] == [
        ("line.contamination", {"before": 0.02, "after": None}),
        ("line.contamination", {"before": None, "after": 0.02}),
    ]


@pytest.mark.parametrize("value", ["0", "0.5", "-0.1", "five percent"])
def test_an_impossible_contamination_is_refused_and_changes_nothing(
    session_factory: sessionmaker[Session], value: str
) -> None:
    X, _ = correlated_rows(50, 3, 0.0, seed=1)
    seed_line(session_factory, "oven", X, contamination=None)
    refused = pytest.raises(ValidationError, match="Contamination must be")
    with refused, unit_of_work(session_factory) as session:
        change_line_contamination(session, ADMIN, "oven", value)
    with session_factory() as session:
        assert get_line(session, "oven").contamination is None
        assert audit.list_events(session).total == 0


def test_only_admins_state_a_contamination(session_factory: sessionmaker[Session]) -> None:
    X, _ = correlated_rows(50, 3, 0.0, seed=1)
    seed_line(session_factory, "oven", X, contamination=None)
    with pytest.raises(PermissionDeniedError), unit_of_work(session_factory) as session:
        change_line_contamination(session, Actor("rex", Role.REVIEWER), "oven", 0.05)


def test_a_trusted_clean_window_is_stored_in_utc_audited_and_cleared(
    session_factory: sessionmaker[Session],
) -> None:
    X, _ = correlated_rows(50, 3, 0.0, seed=1)
    seed_line(session_factory, "oven", X, contamination=None)
    start, end = datetime(2026, 11, 2, 6, 0), datetime(2026, 11, 4, 18, 0)  # naive: UTC
    with unit_of_work(session_factory) as session:
        change_line_reference_window(session, ADMIN, "oven", start, end)
    with session_factory() as session:
        line = get_line(session, "oven")
        assert (line.reference_start, line.reference_end) == (
            start.replace(tzinfo=UTC),
            end.replace(tzinfo=UTC),
        )
    with unit_of_work(session_factory) as session:
        change_line_reference_window(session, ADMIN, "oven", None, None)
    with session_factory() as session:
        assert get_line(session, "oven").reference_start is None
        events = audit.list_events(session).items
    window = "2026-11-02T06:00:00+00:00 .. 2026-11-04T18:00:00+00:00"
    assert [(e.action, e.details) for e in events] == [
        ("line.reference_window", {"before": window, "after": None}),
        ("line.reference_window", {"before": None, "after": window}),
    ]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (datetime(2026, 11, 4, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC), "start before"),
        (datetime(2026, 11, 2, tzinfo=UTC), None, "both a start and an end"),
    ],
)
def test_an_impossible_clean_window_is_refused_and_changes_nothing(
    session_factory: sessionmaker[Session],
    start: datetime | None,
    end: datetime | None,
    message: str,
) -> None:
    X, _ = correlated_rows(50, 3, 0.0, seed=1)
    seed_line(session_factory, "oven", X, contamination=None)
    with pytest.raises(ValidationError, match=message), unit_of_work(session_factory) as session:
        change_line_reference_window(session, ADMIN, "oven", start, end)
    with pytest.raises(PermissionDeniedError), unit_of_work(session_factory) as session:
        reviewer = Actor("rex", Role.REVIEWER)
        change_line_reference_window(
            session, reviewer, "oven", datetime(2026, 11, 2), datetime(2026, 11, 3)
        )
    with session_factory() as session:
        assert get_line(session, "oven").reference_start is None
        assert audit.list_events(session).total == 0
