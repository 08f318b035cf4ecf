"""The long-lived scheduler process (``kdmon scheduler``).

APScheduler 3 (BackgroundScheduler) keeps its jobs in kdmon's own database
(``SQLAlchemyJobStore``, table ``apscheduler_jobs``), so schedules and their next fire times
survive restarts. The jobs are addresses in :mod:`jobs.tasks` with simple arguments, and they
only enqueue ``job_run`` rows; workers do the work (one hosted here unless ``worker=False``).

- **One leader.** A ``lease`` row named ``scheduler``, renewed every 10 s (at most a third of
  its length). Only the holder runs APScheduler (APScheduler 3 must not share a job store
  between running schedulers); a second process started by mistake waits as standby and takes
  over once the lease expires. Dedupe keys on the enqueued rows are the second line of defence.
- **Follows the database.** Every ``reconcile_seconds`` the APScheduler jobs are made to match
  the ``line`` table (new lines, changed cron/time zone, paused) and the settings; a job whose
  schedule did not change keeps its stored next fire time, so a missed firing is not lost.
- **Missed runs.** ``coalesce=True`` (a backlog fires once), ``max_instances=1``, and a
  per-job ``misfire_grace_time``: see :data:`RETRAIN_GRACE_SECONDS` and ``docs/jobs.md``.
"""

from __future__ import annotations

import argparse
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, inspect, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.services.errors import ValidationError
from app.services.runs import default_worker_name
from app.services.schedules import retrain_trigger
from db.engine import make_engine, make_session_factory, unit_of_work
from db.models import Line
from jobs import tasks
from jobs.lease import SCHEDULER_LEASE, LeaseKeeper

log = logging.getLogger(__name__)

JOBSTORE_TABLE = "apscheduler_jobs"
LEASE_SECONDS = 60.0
RECONCILE_SECONDS = 30.0

RETRAIN_GRACE_SECONDS = 6 * 3600
"""A nightly retrain missed by up to 6 h (scheduler restarted early in the morning) still runs;
later than that it waits for the next night, so a retrain never lands mid-shift unasked."""
REPORT_GRACE_SECONDS = 6 * 3600
"""The nightly report is wanted at shift start; much later, the next one is due anyway."""
INTERVAL_GRACE_SECONDS: int | None = None
"""Scoring, inbox and prune ticks always catch up (coalesced into one run): late is still useful."""

REPORT_CRON = "0 6 * * *"
"""Nightly report at 06:00 in the scheduler time zone: after the night's retrains."""
PRUNE_CRON = "30 4 * * *"


@dataclass(frozen=True)
class JobSpec:
    """One APScheduler job as it should be; ``signature`` is stored as the job's name."""

    id: str
    func: str
    trigger: BaseTrigger
    signature: str
    args: tuple[Any, ...] = ()
    misfire_grace_time: int | None = None


@dataclass
class ReconcileReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def _interval(minutes: int) -> IntervalTrigger:
    return IntervalTrigger(minutes=max(1, minutes), start_date=tasks.INTERVAL_EPOCH, timezone=UTC)


def desired_jobs(session: Session, settings: Settings) -> dict[str, JobSpec]:
    """The APScheduler jobs kdmon wants now, from the ``line`` table and the settings."""
    zone = settings.scheduler_timezone
    specs = [
        JobSpec(
            "score",
            "jobs.tasks:enqueue_scoring",
            _interval(settings.score_interval_minutes),
            f"score every {settings.score_interval_minutes} min",
            misfire_grace_time=INTERVAL_GRACE_SECONDS,
        ),
        JobSpec(
            "ingest_inbox",
            "jobs.tasks:enqueue_inbox",
            _interval(settings.inbox_interval_minutes),
            f"inbox every {settings.inbox_interval_minutes} min",
            misfire_grace_time=INTERVAL_GRACE_SECONDS,
        ),
        JobSpec(
            "report",
            "jobs.tasks:enqueue_report",
            retrain_trigger(REPORT_CRON, zone),
            f"report '{REPORT_CRON}' {zone}",
            misfire_grace_time=REPORT_GRACE_SECONDS,
        ),
        JobSpec(
            "prune",
            "jobs.tasks:enqueue_prune",
            retrain_trigger(PRUNE_CRON, zone),
            f"prune '{PRUNE_CRON}' {zone}",
            misfire_grace_time=INTERVAL_GRACE_SECONDS,
        ),
    ]
    lines = session.execute(
        select(Line.id, Line.name, Line.retrain_cron, Line.timezone).where(
            Line.schedule_paused.is_(False)
        )
    )
    for line_id, name, cron, timezone in lines:
        try:
            trigger = retrain_trigger(cron, timezone)
        except ValidationError as exc:
            log.error("line %s: retraining not scheduled: %s", name, exc)
            continue
        specs.append(
            JobSpec(
                f"retrain:{line_id}",
                "jobs.tasks:enqueue_retrain",
                trigger,
                f"retrain line {line_id} '{cron}' {timezone}",
                args=(line_id,),
                misfire_grace_time=RETRAIN_GRACE_SECONDS,
            )
        )
    return {spec.id: spec for spec in specs}


class OfflineScheduler(BaseScheduler):
    """Reads and edits the stored jobs without ever running one (inspection, tests).

    A started-but-paused BackgroundScheduler is not enough: while it shuts down, its thread may
    still process due jobs once.
    """

    def wakeup(self) -> None:
        pass

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)


def ensure_jobstore_table(engine: Engine) -> None:
    """Create APScheduler's table unless it exists, tolerating a process doing it concurrently.

    APScheduler creates it on start with a check-then-create that two processes starting at
    once (a standby and ``kdmon jobs list``, say) can both fail on.
    """
    table = SQLAlchemyJobStore(engine=engine, tablename=JOBSTORE_TABLE).jobs_t
    try:
        table.create(engine, checkfirst=True)
    except DBAPIError:
        if not inspect(engine).has_table(JOBSTORE_TABLE):
            raise


def build_scheduler(settings: Settings, engine: Engine, *, offline: bool = False) -> BaseScheduler:
    """An APScheduler whose jobs persist in kdmon's database; not started."""
    ensure_jobstore_table(engine)
    cls = OfflineScheduler if offline else BackgroundScheduler
    return cls(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=JOBSTORE_TABLE)},
        executors={"default": ThreadPoolExecutor(max_workers=4)},
        job_defaults={"coalesce": True, "max_instances": 1},
        timezone=ZoneInfo(settings.scheduler_timezone),
    )


def reconcile(
    scheduler: BaseScheduler, factory: sessionmaker[Session], settings: Settings
) -> ReconcileReport:
    """Make the scheduler's jobs match :func:`desired_jobs`; unchanged jobs are not touched."""
    with unit_of_work(factory) as session:
        desired = desired_jobs(session, settings)
    existing = {job.id: job for job in scheduler.get_jobs()}
    report = ReconcileReport()
    for job_id in existing.keys() - desired.keys():
        scheduler.remove_job(job_id)
        report.removed.append(job_id)
    for job_id, spec in desired.items():
        current = existing.get(job_id)
        if current is not None and current.name == spec.signature:
            continue
        scheduler.add_job(
            spec.func,
            trigger=spec.trigger,
            args=list(spec.args),
            id=spec.id,
            name=spec.signature,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=spec.misfire_grace_time,
        )
        (report.changed if current is not None else report.added).append(job_id)
    if report:
        log.info(
            "schedules reconciled: added %s, changed %s, removed %s",
            report.added,
            report.changed,
            report.removed,
        )
    return report


def _start_leading(
    settings: Settings, engine: Engine, factory: sessionmaker[Session]
) -> BaseScheduler | None:
    """Start APScheduler with the stored jobs brought up to date; None if that failed."""
    scheduler = build_scheduler(settings, engine)
    try:
        scheduler.start(paused=True)  # loads the stored jobs and their next fire times
        reconcile(scheduler, factory, settings)
        scheduler.resume()
    except Exception:
        log.exception("starting the schedules failed; retrying next tick")
        if scheduler.running:
            scheduler.shutdown(wait=False)
        return None
    return scheduler


def run_scheduler(
    settings: Settings,
    *,
    worker: bool = True,
    stop_event: threading.Event | None = None,
    lease_seconds: float = LEASE_SECONDS,
    reconcile_seconds: float = RECONCILE_SECONDS,
    name: str | None = None,
) -> None:
    """Run until ``stop_event`` is set: lead (or stand by), reconcile, and host a worker.

    Blocks the calling thread. ``worker=False`` schedules only (workers run elsewhere). Without
    ``stop_event`` (``kdmon scheduler``) SIGTERM/SIGINT stop it cleanly: the lease is released
    at once and the hosted worker finishes the runs it is in.
    """
    from jobs.worker import _process_stop_event

    stop = _process_stop_event(stop_event)
    settings.ensure_dirs()
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    name = name or default_worker_name("scheduler")
    keeper = LeaseKeeper(factory, SCHEDULER_LEASE, name, lease_seconds)
    tasks.configure(settings, factory, name, lambda: keeper.held)

    worker_thread = None
    if worker:
        from jobs.worker import run_worker

        worker_thread = threading.Thread(
            target=run_worker,
            kwargs={
                "settings": settings,
                "stop_event": stop,
                "name": name.replace("scheduler@", "worker@", 1),
                "factory": factory,
            },
            name="kdmon-worker",
            daemon=True,
        )
        worker_thread.start()

    scheduler: BaseScheduler | None = None
    standby_logged = False
    since_reconcile = reconcile_seconds
    tick = max(0.2, min(lease_seconds / 3, reconcile_seconds / 2, 10.0))
    log.info("scheduler %s starting (lease %.0f s)", name, lease_seconds)
    try:
        while not stop.is_set():
            held = keeper.renew()
            if held and scheduler is None:
                log.info("scheduler %s is the leader; starting schedules", name)
                scheduler = _start_leading(settings, engine, factory)
                since_reconcile = 0.0
                standby_logged = False
            elif not held and scheduler is not None:
                log.warning("scheduler %s lost the lease; standing by", name)
                scheduler.shutdown(wait=False)
                scheduler = None
                standby_logged = True
            elif not held:
                if not standby_logged:
                    log.info("scheduler %s on standby: another scheduler holds the lease", name)
                    standby_logged = True
            elif scheduler is not None and since_reconcile >= reconcile_seconds:
                try:
                    reconcile(scheduler, factory, settings)
                except Exception:
                    log.exception("reconciling schedules failed; retrying next tick")
                since_reconcile = 0.0
            stop.wait(tick)
            since_reconcile += tick
    finally:
        stop.set()
        if scheduler is not None:
            scheduler.shutdown(wait=True)
        keeper.release()  # only if still ours; a standby's release changes nothing
        if worker_thread is not None:
            worker_thread.join()
        engine.dispose()
        log.info("scheduler %s stopped", name)


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.scheduler``: the same as ``kdmon scheduler``."""
    from jobs.worker import configure_logging, install_stop_signals

    parser = argparse.ArgumentParser(prog="python -m jobs.scheduler", description=__doc__)
    parser.add_argument("--no-worker", action="store_true", help="schedule only")
    parser.add_argument("--lease-seconds", type=float, default=LEASE_SECONDS)
    parser.add_argument("--reconcile-seconds", type=float, default=RECONCILE_SECONDS)
    parser.add_argument("--name", default=None)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    stop = threading.Event()
    install_stop_signals(stop)
    run_scheduler(
        Settings.from_env(),
        worker=not args.no_worker,
        stop_event=stop,
        lease_seconds=args.lease_seconds,
        reconcile_seconds=args.reconcile_seconds,
        name=args.name,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
