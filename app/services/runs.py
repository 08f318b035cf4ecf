"""Run history and the work queue: every retrain, scoring, ingest, report and prune is a row.

The scheduler only *enqueues* rows here; workers *claim* them, run the service and *finish*
them. The row is both the queue entry and the history the dashboard shows, so what ran, when,
where and why it failed is in one place.

Claiming is safe with many workers: on PostgreSQL the candidate row is selected
``FOR UPDATE SKIP LOCKED``; on SQLite (one writer at a time) the claim is a conditional
``UPDATE ... WHERE id = ? AND status = 'queued'`` whose rowcount says who won. A worker that
is killed stops updating ``heartbeat_at``; :func:`recover_stale` marks such runs failed and
queues one retry.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import socket
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased, sessionmaker

from app.services.errors import NotFoundError, ValidationError
from db.engine import unit_of_work
from db.models import JobRun, Line, RunStatus

log = logging.getLogger(__name__)

RETRAIN = "retrain"
SCORE = "score"
INGEST_INBOX = "ingest_inbox"
REPORT = "report"
PRUNE = "prune"
JOB_KINDS: tuple[str, ...] = (RETRAIN, SCORE, INGEST_INBOX, REPORT, PRUNE)
LINE_JOBS = frozenset({RETRAIN, SCORE, INGEST_INBOX})
"""Jobs that act on one line (the others act on the whole installation)."""

HEARTBEAT_SECONDS = 10.0
STALE_AFTER_SECONDS = 120.0
"""A running row without a heartbeat for this long belongs to a dead worker."""
MAX_ATTEMPTS = 3
"""A run whose worker dies is retried until it has been tried this many times."""
LOG_EXCERPT_CHARS = 4000


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime:
    """Timestamps go to the database in UTC (SQLite keeps the wall time and drops the zone)."""
    if value is None:
        return utcnow()
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def default_worker_name(role: str = "worker") -> str:
    """``role@host:pid`` so a run row says which process ran it."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}"


def _check_job(job: str, line_id: int | None) -> None:
    if job not in JOB_KINDS:
        raise ValidationError(f"Unknown job {job!r}; choose one of {', '.join(JOB_KINDS)}.")
    if job in LINE_JOBS and line_id is None:
        raise ValidationError(f"The {job} job needs a line.")


# --- enqueue --------------------------------------------------------------------------------


def enqueue(
    session: Session,
    job: str,
    line_id: int | None,
    trigger: str,
    dedupe_key: str | None = None,
    *,
    skip_if_queued: bool = True,
    result: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> JobRun | None:
    """Queue a run; returns the new row, or None when nothing was inserted.

    Nothing is inserted when ``dedupe_key`` already exists (the same scheduled firing seen
    twice) or, with ``skip_if_queued``, when the same job for the same line is already waiting:
    a queued retrain or scoring run covers whatever a second one would do.
    """
    _check_job(job, line_id)
    if skip_if_queued and queued_run(session, job, line_id) is not None:
        return None
    values = {
        "job": job,
        "line_id": line_id,
        "trigger": trigger,
        "status": RunStatus.QUEUED.value,
        "dedupe_key": dedupe_key,
        "queued_at": as_utc(now),
        "result": dict(result or {}),
    }
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(JobRun).values(values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(JobRun).values(values).on_conflict_do_nothing()
    else:  # pragma: no cover - only the two supported backends are tested
        raise NotImplementedError(f"enqueue does not support {dialect}")
    new_id = session.execute(stmt.returning(JobRun.id)).scalar_one_or_none()
    if new_id is None:
        return None
    return session.get(JobRun, new_id)


def queued_run(session: Session, job: str, line_id: int | None) -> JobRun | None:
    """The oldest queued run of ``job`` for ``line_id``, if any."""
    line_cond = JobRun.line_id.is_(None) if line_id is None else JobRun.line_id == line_id
    return session.scalar(
        select(JobRun)
        .where(JobRun.job == job, line_cond, JobRun.status == RunStatus.QUEUED)
        .order_by(JobRun.id)
        .limit(1)
    )


# --- claim / heartbeat / finish --------------------------------------------------------------


def claim_next(
    session: Session,
    worker: str,
    jobs: tuple[str, ...] | frozenset[str] | None = None,
    *,
    now: datetime | None = None,
) -> JobRun | None:
    """Claim the oldest queued run of the given kinds; the caller commits the session.

    A run is not claimed while the same job for the same line is already running (two
    retrains of one line would race for the version number; two scorings for the same rows).
    """
    now = as_utc(now)
    running = aliased(JobRun)
    busy = exists().where(
        running.status == RunStatus.RUNNING,
        running.job == JobRun.job,
        running.line_id == JobRun.line_id,
    )
    query = (
        select(JobRun.id)
        .where(JobRun.status == RunStatus.QUEUED, ~busy)
        .order_by(JobRun.queued_at, JobRun.id)
    )
    if jobs is not None:
        query = query.where(JobRun.job.in_(list(jobs)))
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        # SKIP LOCKED: concurrent workers each get a different row, nobody waits.
        candidates = list(session.scalars(query.limit(1).with_for_update(skip_locked=True)))
    else:
        candidates = list(session.scalars(query.limit(5)))
    for run_id in candidates:
        claimed = session.execute(
            update(JobRun)
            .where(JobRun.id == run_id, JobRun.status == RunStatus.QUEUED)
            .values(
                status=RunStatus.RUNNING,
                started_at=now,
                heartbeat_at=now,
                worker=worker[:200],
            )
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount == 1:
            run = session.get(JobRun, run_id)
            if run is not None:
                session.refresh(run)
            return run
    return None


def heartbeat(session: Session, run_id: int, worker: str, *, now: datetime | None = None) -> bool:
    """Tell the others this run's worker is alive; False if the run is no longer ours."""
    result = session.execute(
        update(JobRun)
        .where(JobRun.id == run_id, JobRun.worker == worker, JobRun.status == RunStatus.RUNNING)
        .values(heartbeat_at=as_utc(now))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def finish(
    session: Session,
    run_id: int,
    worker: str,
    status: RunStatus,
    *,
    error: str | None = None,
    log_excerpt: str | None = None,
    model_version_id: int | None = None,
    result: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> bool:
    """Record a run's end; False if the run was not claimed by ``worker``.

    What the worker that really ran it reports wins, even over a stale-run recovery that
    wrongly declared it dead (the retry queued then does no harm).
    """
    if status not in (RunStatus.SUCCEEDED, RunStatus.FAILED):
        raise ValueError(f"finish() takes succeeded or failed, not {status}")
    run = session.get(JobRun, run_id)
    if run is None or run.worker != worker:
        return False
    run.status = status
    run.finished_at = as_utc(now)
    run.error = error
    if log_excerpt is not None:
        run.log_excerpt = log_excerpt[-LOG_EXCERPT_CHARS:]
    if model_version_id is not None:
        run.model_version_id = model_version_id
    run.result = {**dict(run.result or {}), **dict(result or {})}
    return True


def recover_stale(
    session: Session,
    *,
    stale_after_seconds: float = STALE_AFTER_SECONDS,
    max_attempts: int = MAX_ATTEMPTS,
    now: datetime | None = None,
) -> list[int]:
    """Fail running rows whose worker stopped heartbeating and queue one retry for each.

    Returns the ids of the runs marked failed. Safe to call from every worker at once: the
    conditional update decides who fails a row, the retry's dedupe key who queues its retry.
    """
    now = as_utc(now)
    cutoff = now - timedelta(seconds=stale_after_seconds)
    stale = list(
        session.scalars(
            select(JobRun).where(
                JobRun.status == RunStatus.RUNNING,
                func.coalesce(JobRun.heartbeat_at, JobRun.started_at) < cutoff,
            )
        )
    )
    failed: list[int] = []
    for run in stale:
        beat = aware(run.heartbeat_at or run.started_at)
        reason = (
            f"worker {run.worker} stopped sending heartbeats at "
            f"{beat.isoformat(timespec='seconds') if beat else '?'} (killed or crashed)"
        )
        done = session.execute(
            update(JobRun)
            .where(JobRun.id == run.id, JobRun.status == RunStatus.RUNNING)
            .where(func.coalesce(JobRun.heartbeat_at, JobRun.started_at) < cutoff)
            .values(status=RunStatus.FAILED, finished_at=now, error=reason)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:
            continue
        failed.append(run.id)
        attempt = int((run.result or {}).get("attempt", 1))
        if run.trigger == "cli" or attempt >= max_attempts:
            log.warning("run %d failed: %s; not retried (attempt %d)", run.id, reason, attempt)
            continue
        retry = enqueue(
            session,
            run.job,
            run.line_id,
            "retry",
            dedupe_key=f"retry:{run.id}",
            skip_if_queued=True,
            result={"attempt": attempt + 1, "retry_of": run.id},
            now=now,
        )
        log.warning(
            "run %d failed: %s; %s",
            run.id,
            reason,
            f"retry queued as run {retry.id}" if retry else "a run is already queued",
        )
    return failed


# --- manual runs (CLI) -----------------------------------------------------------------------


class _Heartbeat:
    """Background thread that keeps a running row's heartbeat fresh."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        run_id: int,
        worker: str,
        every: float = HEARTBEAT_SECONDS,
    ) -> None:
        self._factory = factory
        self._run_id = run_id
        self._worker = worker
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self._every):
            try:
                with unit_of_work(self._factory) as session:
                    heartbeat(session, self._run_id, self._worker)
            except Exception:  # a missed beat is retried; never kill the run for it
                log.warning("heartbeat for run %d failed", self._run_id, exc_info=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self._every + 5)


def keep_alive(
    factory: sessionmaker[Session], run_id: int, worker: str, every: float = HEARTBEAT_SECONDS
) -> _Heartbeat:
    """Context manager: heartbeat the run every ``every`` seconds while the block runs."""
    return _Heartbeat(factory, run_id, worker, every)


@dataclass
class RunRecorder:
    """What the code inside :func:`record_manual_run` may fill in about its run."""

    run_id: int
    model_version_id: int | None = None
    result: dict[str, Any] = field(default_factory=dict)
    log_excerpt: str | None = None


@contextmanager
def record_manual_run(
    factory: sessionmaker[Session],
    job: str,
    line_id: int | None,
    *,
    trigger: str = "cli",
    worker: str | None = None,
) -> Iterator[RunRecorder]:
    """Record work done outside the queue (``kdmon train``, ``kdmon score``) as a run.

    The row is committed as running before the block starts and heartbeats while it runs, so
    the run history shows it live; the block's exception marks it failed and is re-raised.
    """
    _check_job(job, line_id)
    worker = worker or default_worker_name("cli")
    now = utcnow()
    with unit_of_work(factory) as session:
        run = JobRun(
            job=job,
            line_id=line_id,
            trigger=trigger,
            status=RunStatus.RUNNING,
            queued_at=now,
            started_at=now,
            heartbeat_at=now,
            worker=worker,
            result={},
        )
        session.add(run)
        session.flush()
        recorder = RunRecorder(run.id)
    try:
        with keep_alive(factory, recorder.run_id, worker):
            yield recorder
    except BaseException as exc:
        with unit_of_work(factory) as session:
            finish(
                session,
                recorder.run_id,
                worker,
                RunStatus.FAILED,
                error=describe_error(exc),
                log_excerpt=recorder.log_excerpt or traceback.format_exc(),
                model_version_id=recorder.model_version_id,
                result=recorder.result,
            )
        raise
    with unit_of_work(factory) as session:
        finish(
            session,
            recorder.run_id,
            worker,
            RunStatus.SUCCEEDED,
            log_excerpt=recorder.log_excerpt,
            model_version_id=recorder.model_version_id,
            result=recorder.result,
        )


def describe_error(exc: BaseException) -> str:
    """One line a person can act on: the exception's type and message."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    message = str(exc).strip() or repr(exc)
    return f"{type(exc).__name__}: {message}"[:2000]


# --- history ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRow:
    id: int
    job: str
    line_id: int | None
    line_name: str | None
    trigger: str
    status: RunStatus
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    worker: str | None
    error: str | None
    log_excerpt: str | None
    model_version_id: int | None
    result: dict[str, Any]

    @property
    def seconds(self) -> float | None:
        """How long it ran (None until it has started and finished)."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class RunPage:
    items: list[RunRow]
    total: int
    limit: int
    offset: int


def _row(run: JobRun, line_name: str | None) -> RunRow:
    return RunRow(
        id=run.id,
        job=run.job,
        line_id=run.line_id,
        line_name=line_name,
        trigger=run.trigger,
        status=RunStatus(run.status),
        queued_at=aware(run.queued_at),  # type: ignore[arg-type]
        started_at=aware(run.started_at),
        finished_at=aware(run.finished_at),
        worker=run.worker,
        error=run.error,
        log_excerpt=run.log_excerpt,
        model_version_id=run.model_version_id,
        result=dict(run.result or {}),
    )


def list_runs(
    session: Session,
    line_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
    *,
    job: str | None = None,
    status: RunStatus | str | None = None,
) -> RunPage:
    """Newest runs first, one page at a time, optionally for one line / job / status."""
    limit = max(1, min(int(limit), 1000))
    offset = max(0, int(offset))
    where = []
    if line_id is not None:
        where.append(JobRun.line_id == line_id)
    if job is not None:
        where.append(JobRun.job == job)
    if status is not None:
        where.append(JobRun.status == RunStatus(status))
    total = session.scalar(select(func.count()).select_from(JobRun).where(*where)) or 0
    rows = session.execute(
        select(JobRun, Line.name)
        .outerjoin(Line, Line.id == JobRun.line_id)
        .where(*where)
        .order_by(JobRun.queued_at.desc(), JobRun.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return RunPage([_row(run, name) for run, name in rows], int(total), limit, offset)


def get_run(session: Session, run_id: int) -> RunRow:
    row = session.execute(
        select(JobRun, Line.name)
        .outerjoin(Line, Line.id == JobRun.line_id)
        .where(JobRun.id == run_id)
    ).first()
    if row is None:
        raise NotFoundError(f"No job run with id {run_id}.")
    return _row(row[0], row[1])


def last_run(session: Session, job: str, line_id: int | None) -> RunRow | None:
    """The newest finished-or-running run of ``job`` for ``line_id`` (for schedule tables)."""
    page = list_runs(session, line_id=line_id, limit=1, job=job)
    return page.items[0] if page.items else None


def jsonable(value: Any) -> Any:
    """Service outcomes (dataclasses, enums, dates, paths) as JSON for ``job_run.result``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
