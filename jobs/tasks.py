"""The functions APScheduler stores by address (``"jobs.tasks:enqueue_retrain"``).

They are module-level, take only simple arguments (a line id) and only *enqueue* ``job_run``
rows, so a restarted scheduler finds them again and the real work happens in workers. Each
enqueue carries a dedupe key naming the schedule slot it stands for
(``retrain:<line id>:<fire time ISO>``): a slot fired twice - a coalesced backlog, a second
scheduler by mistake - inserts one row.

The process that hosts the scheduler calls :func:`configure` once; the functions then use that
database. Without it (e.g. an old job fired by a bare APScheduler) they fall back to
``Settings.from_env()``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.services import runs
from app.services.schedules import latest_fire_time, retrain_trigger
from db.engine import make_engine, make_session_factory, unit_of_work
from db.models import Batch, Line, ModelStatus, ModelVersion

log = logging.getLogger(__name__)

INTERVAL_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
"""Interval jobs fire on multiples of their interval since this instant, in every process."""
RETRAIN_LOOKBACK = timedelta(hours=12)
"""How far back a late retrain looks for the slot it stands for (> its misfire grace)."""


@dataclass
class _Runtime:
    settings: Settings
    factory: sessionmaker[Session]
    source: str
    is_leader: Callable[[], bool]


_runtime: _Runtime | None = None
_lock = threading.Lock()


def configure(
    settings: Settings,
    factory: sessionmaker[Session],
    source: str,
    is_leader: Callable[[], bool] = lambda: True,
) -> None:
    """Point the task functions at this process's database and leader check."""
    global _runtime
    with _lock:
        _runtime = _Runtime(settings, factory, source, is_leader)


def reset() -> None:
    """Forget the configured database (tests; a process that re-configures)."""
    global _runtime
    with _lock:
        _runtime = None


def _rt() -> _Runtime:
    global _runtime
    with _lock:
        if _runtime is None:
            settings = Settings.from_env()
            factory = make_session_factory(make_engine(settings.database_url))
            source = runs.default_worker_name("scheduler")
            _runtime = _Runtime(settings, factory, source, lambda: True)
        return _runtime


def _may_enqueue(rt: _Runtime, what: str) -> bool:
    if rt.is_leader():
        return True
    log.warning("not the leader any more: %s not enqueued", what)
    return False


def interval_slot(now: datetime, minutes: int) -> datetime:
    """Start of the ``minutes``-long interval containing ``now`` (aligned on INTERVAL_EPOCH)."""
    step = timedelta(minutes=max(1, minutes))
    return INTERVAL_EPOCH + ((now - INTERVAL_EPOCH) // step) * step


def _enqueue(rt: _Runtime, job: str, line_id: int | None, key: str) -> None:
    with unit_of_work(rt.factory) as session:
        run = runs.enqueue(session, job, line_id, "schedule", dedupe_key=key)
    # The standby/leader tests count these lines: one per slot across all schedulers.
    log.info(
        "enqueue attempt %s by %s: %s",
        key,
        rt.source,
        f"queued run {run.id}" if run else "nothing new (duplicate slot or already queued)",
    )


def enqueue_retrain(line_id: int, *, now: datetime | None = None) -> None:
    """Queue a retrain of the line for the cron slot that just fired.

    ``now`` is the firing time (the clock by default). The run is named by the cron slot it
    stands for, so a second firing of the same slot adds nothing; with no slot within the
    look-back (a firing far off schedule), by its minute.
    """
    rt = _rt()
    now = now or datetime.now(UTC)
    with unit_of_work(rt.factory) as session:
        line = session.get(Line, line_id)
        if line is None or line.schedule_paused:
            return  # deleted or paused since the last reconcile; the next one removes the job
        cron, zone = line.retrain_cron, line.timezone
    slot = latest_fire_time(retrain_trigger(cron, zone), now, RETRAIN_LOOKBACK)
    stamp = (slot or now.replace(second=0, microsecond=0)).astimezone(UTC).isoformat()
    if _may_enqueue(rt, f"retrain of line {line_id}"):
        _enqueue(rt, runs.RETRAIN, line_id, f"retrain:{line_id}:{stamp}")


def enqueue_scoring() -> None:
    """Queue scoring for every line that has unscored batches and a model to score them with."""
    rt = _rt()
    slot = interval_slot(datetime.now(UTC), rt.settings.score_interval_minutes).isoformat()
    with unit_of_work(rt.factory) as session:
        line_ids = list(
            session.scalars(
                select(Line.id)
                .where(exists().where(Batch.line_id == Line.id, Batch.scored_at.is_(None)))
                .where(
                    exists().where(
                        ModelVersion.line_id == Line.id, ModelVersion.status == ModelStatus.ACTIVE
                    )
                )
                .order_by(Line.id)
            )
        )
    if _may_enqueue(rt, "scoring"):
        for line_id in line_ids:
            _enqueue(rt, runs.SCORE, line_id, f"score:{line_id}:{slot}")


def enqueue_inbox() -> None:
    """Queue an inbox ingest for every line with complete files waiting in its folder."""
    from app.ingest.inbox import pending_files

    rt = _rt()
    slot = interval_slot(datetime.now(UTC), rt.settings.inbox_interval_minutes).isoformat()
    with unit_of_work(rt.factory) as session:
        lines = list(session.execute(select(Line.id, Line.name).order_by(Line.id)))
    waiting = [line_id for line_id, name in lines if pending_files(rt.settings, name)]
    if _may_enqueue(rt, "inbox ingest"):
        for line_id in waiting:
            _enqueue(rt, runs.INGEST_INBOX, line_id, f"ingest_inbox:{line_id}:{slot}")


def enqueue_report() -> None:
    """Queue the nightly report (one per day)."""
    rt = _rt()
    day = datetime.now(UTC).date().isoformat()
    if _may_enqueue(rt, "nightly report"):
        _enqueue(rt, runs.REPORT, None, f"report:{day}")


def enqueue_prune() -> None:
    """Queue the artifact clean-up (one per day)."""
    rt = _rt()
    day = datetime.now(UTC).date().isoformat()
    if _may_enqueue(rt, "artifact prune"):
        _enqueue(rt, runs.PRUNE, None, f"prune:{day}")
