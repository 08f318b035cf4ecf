"""Schedules service: what the dashboard's Schedules page and ``kdmon jobs`` call."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.services import schedules
from app.services.auth import Actor
from app.services.errors import PermissionDeniedError, ValidationError
from db.engine import unit_of_work
from db.models import AuditEvent, JobRun, Line, Role, RunStatus
from tests.seeding import seed_line

ADMIN = Actor("ada", Role.ADMIN)
REVIEWER = Actor("rex", Role.REVIEWER)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _line(factory: sessionmaker[Session], name: str) -> int:
    line_id, _ = seed_line(factory, name, np.zeros((3, 2), dtype=np.float32))
    return line_id


def test_list_schedules_shows_cron_zone_and_the_next_fire_time(
    session_factory: sessionmaker[Session],
) -> None:
    a = _line(session_factory, "a")
    b = _line(session_factory, "b")
    with unit_of_work(session_factory) as session:
        schedules.set_schedule(session, ADMIN, b, "30 3 * * 1-5", "Europe/Berlin")
        schedules.pause(session, ADMIN, a)
    with unit_of_work(session_factory) as session:
        rows = schedules.list_schedules(session, now=NOW)
    by_name = {r.line_name: r for r in rows}
    assert by_name["a"].paused and by_name["a"].next_fire_time is None
    b_row = by_name["b"]
    assert (b_row.cron, b_row.timezone, b_row.paused) == ("30 3 * * 1-5", "Europe/Berlin", False)
    # Friday 2026-11-20 12:00 UTC: next weekday 03:30 Berlin is Monday the 23rd.
    assert b_row.next_fire_time == datetime(2026, 11, 23, 2, 30, tzinfo=UTC)
    assert str(b_row.next_fire_time.tzinfo) == "Europe/Berlin"
    assert b_row.last_run is None


@pytest.mark.parametrize(
    ("cron", "weekdays"),
    [
        ("0 2 * * 1-5", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("0 2 * * 0", ["Sun"]),
        ("0 2 * * 7", ["Sun"]),
        ("0 2 * * 6,0", ["Sat", "Sun"]),
        ("0 2 * * */2", ["Sun", "Tue", "Thu", "Sat"]),
        ("0 2 * * mon-fri", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
    ],
)
def test_day_of_week_means_what_it_means_in_crontab(cron: str, weekdays: list[str]) -> None:
    trigger = schedules.retrain_trigger(cron, "UTC")
    fired, t = [], NOW
    for _ in range(len(weekdays)):
        t = trigger.get_next_fire_time(None, t)
        fired.append(t.strftime("%a"))
        t = t.replace(minute=1)
    assert sorted(fired) == sorted(weekdays)


@pytest.mark.parametrize(
    ("cron", "zone", "message"),
    [
        ("0 2 * *", "UTC", "expected 5 fields"),
        ("61 2 * * *", "UTC", "Invalid cron expression"),
        ("0 2 * * *", "Mars/Olympus", "Unknown time zone"),
        ("0 2 * * 8", "UTC", "out of range"),
    ],
)
def test_set_schedule_rejects_bad_input_with_a_clear_message_and_changes_nothing(
    session_factory: sessionmaker[Session], cron: str, zone: str, message: str
) -> None:
    line_id = _line(session_factory, "a")
    with unit_of_work(session_factory) as session, pytest.raises(ValidationError, match=message):
        schedules.set_schedule(session, ADMIN, line_id, cron, zone)
    with unit_of_work(session_factory) as session:
        line = session.get(Line, line_id)
        assert line is not None and (line.retrain_cron, line.timezone) == ("0 2 * * *", "UTC")


def test_schedule_changes_are_admin_only_and_audited(
    session_factory: sessionmaker[Session],
) -> None:
    line_id = _line(session_factory, "a")
    with unit_of_work(session_factory) as session:
        for action in (
            lambda: schedules.set_schedule(session, REVIEWER, line_id, "0 3 * * *", "UTC"),
            lambda: schedules.pause(session, REVIEWER, line_id),
            lambda: schedules.resume(session, REVIEWER, line_id),
            lambda: schedules.run_now(session, REVIEWER, "retrain", line_id),
        ):
            with pytest.raises(PermissionDeniedError):
                action()
    with unit_of_work(session_factory) as session:
        schedules.set_schedule(session, ADMIN, line_id, "0  3 * * *", "UTC")
        schedules.pause(session, ADMIN, line_id)
        schedules.pause(session, ADMIN, line_id)  # already paused: no second event
        row = schedules.resume(session, ADMIN, line_id)
        assert row.cron == "0 3 * * *" and not row.paused
    with unit_of_work(session_factory) as session:
        events = session.execute(
            select(
                AuditEvent.actor, AuditEvent.action, AuditEvent.target, AuditEvent.details
            ).order_by(AuditEvent.id)
        ).all()
    assert [(e.actor, e.action, e.target) for e in events] == [
        ("ada", "schedule.set", "line:a"),
        ("ada", "schedule.pause", "line:a"),
        ("ada", "schedule.resume", "line:a"),
    ]
    assert events[0].details["before"]["cron"] == "0 2 * * *"


def test_run_now_queues_a_manual_run_once_even_for_a_paused_line(
    session_factory: sessionmaker[Session],
) -> None:
    line_id = _line(session_factory, "a")
    with unit_of_work(session_factory) as session:
        schedules.pause(session, ADMIN, line_id)
        first = schedules.run_now(session, ADMIN, "retrain", line_id)
        again = schedules.run_now(session, ADMIN, "retrain", line_id)
        report = schedules.run_now(session, ADMIN, "report")
        assert again.id == first.id  # already waiting: the same run
        with pytest.raises(ValidationError, match="needs a line"):
            schedules.run_now(session, ADMIN, "score")
        with pytest.raises(ValidationError, match="Unknown job"):
            schedules.run_now(session, ADMIN, "format-disk", line_id)
    with unit_of_work(session_factory) as session:
        rows = list(session.scalars(select(JobRun).order_by(JobRun.id)))
        assert [(r.job, r.line_id, r.trigger, r.status) for r in rows] == [
            ("retrain", line_id, "manual", RunStatus.QUEUED),
            ("report", None, "manual", RunStatus.QUEUED),
        ]
        assert rows[0].result == {"requested_by": "ada"} and report.id == rows[1].id
        actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
        assert actions == ["schedule.pause", "job.run_now", "job.run_now"]
