"""Retraining schedules per line: read, change, pause, resume, and "run now".

The schedule lives on the ``line`` row (``retrain_cron``, ``timezone``, ``schedule_paused``);
the scheduler process re-reads it every few seconds, so a change made here from the dashboard
or the CLI reaches the running scheduler through the database. Changes are admin-only and
audited in the same transaction.

Pausing a line pauses its *scheduled retraining* only: monitoring (inbox ingest and scoring of
new batches) keeps going, because a paused line is usually one whose data should not be learnt
from for a while (maintenance, a known fault), not one that should stop being watched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services import audit
from app.services.auth import Actor, require
from app.services.errors import ValidationError
from app.services.lines import get_line
from app.services.runs import JOB_KINDS, LINE_JOBS, RunRow, enqueue, last_run, queued_run
from db.models import JobRun, Line, Role


@dataclass(frozen=True)
class ScheduleRow:
    """One line's retraining schedule as the dashboard and ``kdmon jobs list`` show it."""

    line_id: int
    line_name: str
    cron: str
    timezone: str
    paused: bool
    next_fire_time: datetime | None
    """Next scheduled retrain in the line's time zone; None while paused."""
    last_run: RunRow | None


def parse_timezone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``, or a ValidationError that says what is expected."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            f"Unknown time zone {name!r}; use an IANA name such as 'UTC' or 'Europe/Berlin'."
        ) from exc


_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _cron_day_of_week(field: str) -> str:
    """Crontab's day-of-week (0 or 7 = Sunday) as APScheduler 3 day names.

    APScheduler 3 numbers days from Monday = 0, so ``from_crontab("0 2 * * 1-5")`` would run
    Tuesday to Saturday; names mean the same in both, so numbers are spelled out as names.
    """
    if field == "*" or not any(ch.isdigit() for ch in field):
        return field
    days: list[int] = []
    for token in field.split(","):
        spec, _, step_text = token.partition("/")
        step = int(step_text) if step_text else 1
        if spec == "*":
            first, last = 0, 6
        elif "-" in spec:
            a, b = spec.split("-", 1)
            first, last = int(a), int(b)
        else:
            first = int(spec)
            last = 6 if step_text else first
        if not (0 <= first <= 7 and 0 <= last <= 7 and first <= last and step >= 1):
            raise ValueError(f"day of week {token!r} is out of range 0-7")
        days.extend(range(first, last + 1, step))
    return ",".join(dict.fromkeys(_CRON_DAYS[d] for d in days))


def retrain_trigger(cron: str, timezone: str) -> CronTrigger:
    """The cron trigger for a standard 5-field crontab in ``timezone``; clear errors otherwise."""
    zone = parse_timezone(timezone)
    fields = cron.split()
    if len(fields) != 5:
        raise ValidationError(
            f"Invalid cron expression {cron!r}: expected 5 fields (minute hour day-of-month "
            f"month day-of-week), e.g. '0 2 * * *' for 02:00 every night."
        )
    minute, hour, day, month, day_of_week = fields
    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_cron_day_of_week(day_of_week),
            timezone=zone,
        )
    except ValueError as exc:
        raise ValidationError(f"Invalid cron expression {cron!r}: {exc}.") from exc


def next_fire_time(cron: str, timezone: str, now: datetime | None = None) -> datetime | None:
    """When a schedule next fires after ``now`` (in the schedule's time zone)."""
    trigger = retrain_trigger(cron, timezone)
    now = (now or datetime.now(UTC)).astimezone(trigger.timezone)
    return trigger.get_next_fire_time(None, now)


def latest_fire_time(
    trigger: CronTrigger, now: datetime, lookback: timedelta = timedelta(days=8)
) -> datetime | None:
    """The newest fire time at or before ``now``: the firing a late job run stands for.

    Used to build the dedupe key of a scheduled run, so two firings of the same slot (a second
    scheduler by mistake, a coalesced backlog) name the same slot.
    """
    now = now.astimezone(trigger.timezone)
    candidate = trigger.get_next_fire_time(None, now - lookback)
    latest = None
    while candidate is not None and candidate <= now:
        latest = candidate
        candidate = trigger.get_next_fire_time(candidate, candidate + timedelta(seconds=1))
    return latest


def _row(session: Session, line: Line, now: datetime) -> ScheduleRow:
    return ScheduleRow(
        line_id=line.id,
        line_name=line.name,
        cron=line.retrain_cron,
        timezone=line.timezone,
        paused=bool(line.schedule_paused),
        next_fire_time=None
        if line.schedule_paused
        else next_fire_time(line.retrain_cron, line.timezone, now),
        last_run=last_run(session, "retrain", line.id),
    )


def list_schedules(session: Session, now: datetime | None = None) -> list[ScheduleRow]:
    """Every line's retraining schedule, by line name."""
    now = now or datetime.now(UTC)
    lines = session.scalars(select(Line).order_by(Line.name))
    return [_row(session, line, now) for line in lines]


def set_schedule(
    session: Session, actor: Actor, line_id: int, cron: str, timezone: str
) -> ScheduleRow:
    """Change when a line retrains (admin); validated before anything is written."""
    require(actor, Role.ADMIN)
    retrain_trigger(cron, timezone)
    line = get_line(session, line_id)
    before = {"cron": line.retrain_cron, "timezone": line.timezone}
    line.retrain_cron = " ".join(cron.split())
    line.timezone = timezone.strip()
    audit.record(
        session,
        actor.username,
        "schedule.set",
        f"line:{line.name}",
        {"before": before, "after": {"cron": line.retrain_cron, "timezone": line.timezone}},
    )
    session.flush()
    return _row(session, line, datetime.now(UTC))


def _set_paused(session: Session, actor: Actor, line_id: int, paused: bool) -> ScheduleRow:
    require(actor, Role.ADMIN)
    line = get_line(session, line_id)
    if bool(line.schedule_paused) != paused:
        line.schedule_paused = paused
        action = "schedule.pause" if paused else "schedule.resume"
        audit.record(session, actor.username, action, f"line:{line.name}", {})
        session.flush()
    return _row(session, line, datetime.now(UTC))


def pause(session: Session, actor: Actor, line_id: int) -> ScheduleRow:
    """Stop scheduled retraining of a line (admin); scoring of new data goes on."""
    return _set_paused(session, actor, line_id, True)


def resume(session: Session, actor: Actor, line_id: int) -> ScheduleRow:
    """Restart scheduled retraining of a line (admin) from its next cron slot."""
    return _set_paused(session, actor, line_id, False)


def run_now(session: Session, actor: Actor, job: str, line_id: int | None = None) -> JobRun:
    """Queue a manual run (admin); returns the queued run (an existing one if already waiting).

    Works for paused lines too: pausing stops the schedule, not a person.
    """
    require(actor, Role.ADMIN)
    if job not in JOB_KINDS:
        raise ValidationError(f"Unknown job {job!r}; choose one of {', '.join(JOB_KINDS)}.")
    if job in LINE_JOBS and line_id is None:
        raise ValidationError(f"The {job} job needs a line.")
    target = "all lines"
    if line_id is not None:
        target = f"line:{get_line(session, line_id).name}"
    run = enqueue(session, job, line_id, "manual", result={"requested_by": actor.username})
    if run is None:
        existing = queued_run(session, job, line_id)
        assert existing is not None  # enqueue only skips when one is waiting
        return existing
    audit.record(session, actor.username, "job.run_now", target, {"job": job, "run_id": run.id})
    return run
