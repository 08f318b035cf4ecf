"""Workers run what the scheduler queued: retrain, score, failures, killed workers, lanes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.services import runs
from app.services.models import activate
from app.services.thresholds import active_model
from app.services.training import train_line
from db.engine import unit_of_work
from db.models import Batch, JobRun, Line, ModelStatus, ModelVersion, RunStatus
from jobs import handlers, tasks
from jobs.handlers import ClaimedRun, HandlerResult, WorkerContext
from jobs.worker import run_pending, run_worker
from tests.jobs.conftest import make_line, needs_detectors

REPO_ROOT = Path(__file__).resolve().parents[2]


def _runs(factory: sessionmaker[Session]) -> list[JobRun]:
    with unit_of_work(factory) as session:
        return list(session.scalars(select(JobRun).order_by(JobRun.id)))


def _wait_for(predicate, timeout: float = 20.0, step: float = 0.1) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


@needs_detectors
def test_a_scheduled_retrain_creates_and_activates_a_new_model_version(
    settings: Settings, task_runtime: sessionmaker[Session]
) -> None:
    factory = task_runtime
    line_id, _ = make_line(factory, "press-1")

    # The nightly cron (02:00 UTC) fires, then fires late for the same slot: the
    # firing times differ by minutes but stand for one slot, so one run.
    fired = datetime(2026, 3, 4, 2, 0, 1, tzinfo=UTC)
    tasks.enqueue_retrain(line_id, now=fired)
    assert run_pending(factory, settings, "w-test") == 1
    tasks.enqueue_retrain(line_id, now=fired + timedelta(minutes=7))
    assert run_pending(factory, settings, "w-test") == 0

    (run,) = _runs(factory)
    assert run.status == RunStatus.SUCCEEDED and run.trigger == "schedule"
    assert run.dedupe_key == f"retrain:{line_id}:2026-03-04T02:00:00+00:00"
    assert run.started_at and run.finished_at and run.worker == "w-test"
    assert run.model_version_id is not None and run.result["activated"] is True
    assert "trained on" in (run.log_excerpt or "")
    with unit_of_work(factory) as session:
        model = active_model(session, line_id)
        assert model is not None and model.id == run.model_version_id and model.version == 1

    # The next night's slot retrains again and the new version takes over.
    with unit_of_work(factory) as session:
        runs.enqueue(session, "retrain", line_id, "schedule", "retrain:next-night")
    assert run_pending(factory, settings, "w-test") == 1
    with unit_of_work(factory) as session:
        versions = {
            v.version: v.status
            for v in session.scalars(select(ModelVersion).where(ModelVersion.line_id == line_id))
        }
    assert versions == {1: ModelStatus.RETIRED, 2: ModelStatus.ACTIVE}


@needs_detectors
def test_a_failing_retrain_keeps_the_old_model_active_and_records_why(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    factory = session_factory
    line_id, _ = make_line(factory, "kiln")
    first = train_line(factory, settings, "kiln")
    with unit_of_work(factory) as session:
        session.execute(update(Line).where(Line.id == line_id).values(detector="no-such-model"))
        runs.enqueue(session, "retrain", line_id, "schedule", "retrain:night-1")

    assert run_pending(factory, settings, "w-test") == 1

    (run,) = _runs(factory)
    assert run.status == RunStatus.FAILED
    assert run.error and "no-such-model" in run.error
    assert "Traceback" in (run.log_excerpt or "") and run.model_version_id is None
    with unit_of_work(factory) as session:
        model = active_model(session, line_id)
        assert model is not None and model.id == first.model_version_id

    # Fixed, the next scheduled run retries and succeeds.
    with unit_of_work(factory) as session:
        session.execute(update(Line).where(Line.id == line_id).values(detector="iforest"))
        runs.enqueue(session, "retrain", line_id, "schedule", "retrain:night-2")
    assert run_pending(factory, settings, "w-test") == 1
    assert _runs(factory)[-1].status == RunStatus.SUCCEEDED


@needs_detectors
def test_scoring_of_one_line_does_not_wait_for_a_long_retrain_of_another(
    settings: Settings, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = session_factory
    slow_id, _ = make_line(factory, "slow-line")
    fast_id, _ = make_line(factory, "fast-line", batches=2, seed=1)
    train_line(factory, settings, "fast-line")
    release = threading.Event()
    retrain_started = threading.Event()

    def slow_retrain(ctx: WorkerContext, run: ClaimedRun) -> HandlerResult:
        retrain_started.set()
        assert release.wait(30), "test never released the retrain"
        return HandlerResult("slow retrain done")

    monkeypatch.setitem(handlers.HANDLERS, "retrain", slow_retrain)
    with unit_of_work(factory) as session:
        runs.enqueue(session, "retrain", slow_id, "manual")
    stop = threading.Event()
    worker = threading.Thread(
        target=run_worker,
        kwargs={"settings": settings, "stop_event": stop, "poll_seconds": 0.1, "factory": factory},
    )
    worker.start()
    try:
        assert retrain_started.wait(10)
        with unit_of_work(factory) as session:
            runs.enqueue(session, "score", fast_id, "ingest")

        def score_finished() -> bool:
            return any(r.job == "score" and r.finished_at for r in _runs(factory))

        assert _wait_for(score_finished), "scoring waited behind the retrain"
        with unit_of_work(factory) as session:
            unscored = session.scalar(
                select(Batch.id).where(Batch.line_id == fast_id, Batch.scored_at.is_(None))
            )
        assert unscored is None
        statuses = {r.job: r.status for r in _runs(factory)}
        assert statuses == {"retrain": RunStatus.RUNNING, "score": RunStatus.SUCCEEDED}
    finally:
        release.set()
        stop.set()
        worker.join(30)
    assert {r.job: r.status for r in _runs(factory)}["retrain"] == RunStatus.SUCCEEDED


KILLABLE_WORKER = textwrap.dedent(
    """
    import sys, time
    from jobs import handlers
    from jobs.worker import main

    real_retrain = handlers.retrain

    def slow_retrain(ctx, run):
        print("RETRAIN STARTED", flush=True)
        time.sleep(60)  # killed long before this ends
        return real_retrain(ctx, run)

    handlers.HANDLERS["retrain"] = slow_retrain
    sys.exit(main(["--poll-seconds", "0.2", "--name", "doomed"]))
    """
)


@needs_detectors
def test_a_killed_worker_fails_its_run_keeps_the_old_model_and_the_retry_succeeds(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    factory = session_factory
    line_id, _ = make_line(factory, "mixer")
    first = train_line(factory, settings, "mixer")
    with unit_of_work(factory) as session:
        runs.enqueue(session, "retrain", line_id, "schedule", "retrain:tonight")
    env = {
        **os.environ,
        "KDMON_DATABASE_URL": settings.database_url,
        "KDMON_DATA_DIR": str(settings.data_dir),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLABLE_WORKER],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "RETRAIN STARTED" in line:
                break
        os.kill(proc.pid, signal.SIGKILL)  # no clean-up, no finish(): like an OOM kill
    finally:
        proc.kill()
        proc.wait(10)

    (run,) = _runs(factory)
    assert run.status == RunStatus.RUNNING and run.worker == "doomed/train"
    # A surviving worker's sweep finds the silent run (short stale window instead of waiting).
    time.sleep(1.1)
    with unit_of_work(factory) as session:
        assert runs.recover_stale(session, stale_after_seconds=1.0) == [run.id]
    dead, retry = _runs(factory)
    assert dead.status == RunStatus.FAILED and "doomed/train" in (dead.error or "")
    assert retry.status == RunStatus.QUEUED and retry.result["retry_of"] == dead.id
    with unit_of_work(factory) as session:
        assert active_model(session, line_id).id == first.model_version_id  # type: ignore[union-attr]

    assert run_pending(factory, settings, "survivor") == 1
    retry = _runs(factory)[-1]
    assert retry.status == RunStatus.SUCCEEDED and retry.model_version_id != first.model_version_id


@needs_detectors
def test_prune_keeps_the_active_and_newest_versions_and_unknown_folders(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    factory = session_factory
    settings = settings.with_(artifact_retention=1)
    make_line(factory, "press", rows=200)
    outcomes = [train_line(factory, settings, "press") for _ in range(4)]
    with unit_of_work(factory) as session:
        activate(session, session.get(ModelVersion, outcomes[1].model_version_id), "rollback")
        paths = {
            v.version: Path(v.artifact_path)
            for v in session.scalars(select(ModelVersion).order_by(ModelVersion.version))
        }
    in_progress = paths[4].parent / ".v0005-writing"
    in_progress.mkdir()
    with unit_of_work(factory) as session:
        runs.enqueue(session, "prune", None, "schedule")

    assert run_pending(factory, settings, "w-test") == 1

    assert {v for v, p in paths.items() if p.is_dir()} == {2, 4}  # active + newest
    assert in_progress.is_dir()
    (run,) = _runs(factory)
    assert run.status == RunStatus.SUCCEEDED
    assert sorted(Path(p).name for p in run.result["removed"]) == ["v0001", "v0003"]


def test_the_nightly_report_job_calls_the_report_service(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    make_line(session_factory, "press", rows=50)
    with unit_of_work(session_factory) as session:
        runs.enqueue(session, "report", None, "schedule", "report:2026-11-27")

    assert run_pending(session_factory, settings, "w-test") == 1

    (run,) = _runs(session_factory)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.result["files"] and all(Path(p).is_file() for p in run.result["files"])
