"""Workers: claim queued ``job_run`` rows, run the handler, record the outcome.

A worker runs one claim loop per *lane* in its own thread: ``train`` (retraining, minutes)
and ``fast`` (scoring, inbox ingest, report, prune; seconds). So scoring of one line never
waits behind a long retrain of another, and a retrain of line A never waits behind scoring.
More throughput is more workers (``kdmon worker`` processes, or containers); claims are safe
across them (see :mod:`app.services.runs`).

While a run executes, a heartbeat thread refreshes ``heartbeat_at``. Every worker also sweeps
for running rows whose heartbeat stopped (a killed worker): they are marked failed with the
reason and retried once more, up to :data:`app.services.runs.MAX_ATTEMPTS` tries.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
import traceback
from collections.abc import Iterable

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.services import runs
from app.services.runs import RunStatus, default_worker_name, describe_error
from db.engine import make_engine, make_session_factory, unit_of_work
from jobs.handlers import HANDLERS, ClaimedRun, HandlerResult, WorkerContext

log = logging.getLogger(__name__)

LANES: dict[str, tuple[str, ...]] = {
    "train": (runs.RETRAIN,),
    "fast": (runs.SCORE, runs.INGEST_INBOX, runs.REPORT, runs.PRUNE),
}
POLL_SECONDS = 2.0
RECOVER_EVERY_SECONDS = 30.0


class _RunLog(logging.Handler):
    """Collects the log lines emitted by one thread while it runs a job (the log excerpt)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self._thread = threading.get_ident()
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self._thread:
            self.lines.append(self.format(record))

    def text(self) -> str:
        return "\n".join(self.lines)


def claim(
    factory: sessionmaker[Session], worker: str, jobs: Iterable[str] | None = None
) -> ClaimedRun | None:
    """Claim one queued run in its own short transaction."""
    with unit_of_work(factory) as session:
        run = runs.claim_next(session, worker, tuple(jobs) if jobs is not None else None)
        return ClaimedRun.of(run) if run is not None else None


def execute(
    ctx: WorkerContext,
    run: ClaimedRun,
    *,
    heartbeat_seconds: float = runs.HEARTBEAT_SECONDS,
) -> RunStatus:
    """Run a claimed run's handler and record how it ended; never raises for job errors."""
    capture = _RunLog()
    root = logging.getLogger()
    root.addHandler(capture)
    started = time.perf_counter()
    outcome: HandlerResult | None = None
    error: str | None = None
    tb = ""
    try:
        handler = HANDLERS.get(run.job)
        if handler is None:
            raise ValueError(f"no handler for job kind {run.job!r}")
        with runs.keep_alive(ctx.factory, run.id, ctx.worker, heartbeat_seconds):
            outcome = handler(ctx, run)
        error = outcome.failure
    except Exception as exc:
        error = describe_error(exc)
        tb = traceback.format_exc()
    finally:
        root.removeHandler(capture)
    seconds = time.perf_counter() - started
    status = RunStatus.FAILED if error else RunStatus.SUCCEEDED
    summary = outcome.summary if outcome else f"failed after {seconds:.1f} s: {error}"
    excerpt = "\n".join(part for part in (capture.text(), tb, summary) if part)
    result = dict(outcome.result) if outcome else {}
    result["seconds"] = round(seconds, 3)
    with unit_of_work(ctx.factory) as session:
        recorded = runs.finish(
            session,
            run.id,
            ctx.worker,
            status,
            error=error,
            log_excerpt=excerpt,
            model_version_id=outcome.model_version_id if outcome else None,
            result=result,
        )
    if not recorded:
        log.warning("run %d was taken from %s meanwhile; outcome not recorded", run.id, ctx.worker)
    level = logging.INFO if status == RunStatus.SUCCEEDED else logging.WARNING
    log.log(level, "run %d (%s) %s: %s", run.id, run.job, status.value, error or summary)
    return status


def recover(
    factory: sessionmaker[Session], *, stale_after_seconds: float = runs.STALE_AFTER_SECONDS
) -> list[int]:
    """Fail and retry runs whose worker died; returns the failed run ids."""
    with unit_of_work(factory) as session:
        return runs.recover_stale(session, stale_after_seconds=stale_after_seconds)


def run_pending(
    factory: sessionmaker[Session],
    settings: Settings,
    worker_name: str,
    max_jobs: int | None = None,
    *,
    jobs: Iterable[str] | None = None,
) -> int:
    """Run queued runs one after another until none is left (or ``max_jobs``); returns how many.

    The synchronous form of a worker, for tests, the demo and one-shot maintenance. Runs queued
    while draining (e.g. scoring after an inbox ingest) are drained too.
    """
    ctx = WorkerContext(settings, factory, worker_name)
    kinds = tuple(jobs) if jobs is not None else None
    done = 0
    while max_jobs is None or done < max_jobs:
        run = claim(factory, worker_name, kinds)
        if run is None:
            break
        execute(ctx, run)
        done += 1
    return done


def _lane_loop(
    ctx: WorkerContext,
    kinds: tuple[str, ...],
    stop: threading.Event,
    poll_seconds: float,
    heartbeat_seconds: float,
) -> None:
    while not stop.is_set():
        try:
            run = claim(ctx.factory, ctx.worker, kinds)
        except Exception:
            log.exception("claiming a run failed; retrying in %.0f s", poll_seconds)
            run = None
        if run is None:
            stop.wait(poll_seconds)
            continue
        try:
            execute(ctx, run, heartbeat_seconds=heartbeat_seconds)
        except Exception:  # recording the outcome failed (database down): the sweep recovers
            log.exception("run %d: recording its outcome failed", run.id)
            stop.wait(poll_seconds)


def run_worker(
    settings: Settings,
    *,
    stop_event: threading.Event | None = None,
    poll_seconds: float = POLL_SECONDS,
    name: str | None = None,
    lanes: dict[str, tuple[str, ...]] | None = None,
    heartbeat_seconds: float = runs.HEARTBEAT_SECONDS,
    stale_after_seconds: float = runs.STALE_AFTER_SECONDS,
    factory: sessionmaker[Session] | None = None,
) -> None:
    """Claim and run queued jobs until ``stop_event`` is set (``kdmon worker``).

    On stop, each lane finishes the run it is in (a retrain may take minutes; a worker killed
    instead is recovered by the heartbeat sweep).
    """
    stop = _process_stop_event(stop_event)
    engine = None
    if factory is None:
        engine = make_engine(settings.database_url)
        factory = make_session_factory(engine)
    worker = name or default_worker_name()
    threads = []
    for lane, kinds in (lanes or LANES).items():
        ctx = WorkerContext(settings, factory, f"{worker}/{lane}")
        thread = threading.Thread(
            target=_lane_loop,
            args=(ctx, kinds, stop, poll_seconds, heartbeat_seconds),
            name=f"kdmon-{lane}",
            daemon=True,
        )
        thread.start()
        threads.append(thread)
    log.info("worker %s running lanes %s", worker, ", ".join(lanes or LANES))
    try:
        while not stop.is_set():
            try:
                recovered = recover(factory, stale_after_seconds=stale_after_seconds)
                if recovered:
                    log.warning("recovered stale runs %s", recovered)
            except Exception:
                log.exception("stale-run sweep failed")
            stop.wait(min(RECOVER_EVERY_SECONDS, stale_after_seconds / 2))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        if engine is not None:
            engine.dispose()
        log.info("worker %s stopped", worker)


def _process_stop_event(stop_event: threading.Event | None) -> threading.Event:
    """The caller's stop event; without one, this is a process entry point (``kdmon worker``):
    SIGTERM/SIGINT stop it cleanly and INFO logging goes to stderr."""
    if stop_event is not None:
        return stop_event
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        install_stop_signals(stop)
        configure_logging()
    return stop


def install_stop_signals(stop: threading.Event) -> None:
    """SIGTERM/SIGINT ask for a clean stop; a second one exits at once."""

    def _handler(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise SystemExit(128 + signum)
        log.info("signal %d: finishing current runs, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)


def configure_logging(level: str = "INFO") -> None:
    """INFO to stderr unless logging is configured already (run log excerpts need INFO)."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(processName)s %(threadName)s %(name)s: %(message)s",
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.worker``: the same as ``kdmon worker``."""
    parser = argparse.ArgumentParser(prog="python -m jobs.worker", description=__doc__)
    parser.add_argument("--poll-seconds", type=float, default=POLL_SECONDS)
    parser.add_argument("--name", default=None)
    parser.add_argument("--lanes", default=",".join(LANES), help="e.g. 'train' or 'fast'")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    lanes = {lane: LANES[lane] for lane in args.lanes.split(",") if lane}
    stop = threading.Event()
    install_stop_signals(stop)
    run_worker(
        Settings.from_env(),
        stop_event=stop,
        poll_seconds=args.poll_seconds,
        name=args.name,
        lanes=lanes,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
