"""The run queue: enqueue dedupe, exclusive claims, finishing, history, manual runs."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.services import runs
from app.services.errors import ValidationError
from db.engine import unit_of_work
from db.models import JobRun, RunStatus
from tests.seeding import seed_line

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def _line(factory: sessionmaker[Session], name: str = "press") -> int:
    X = np.zeros((5, 2), dtype=np.float32)
    line_id, _ = seed_line(factory, name, X)
    return line_id


def test_the_same_scheduled_slot_enqueued_twice_inserts_one_row(
    session_factory: sessionmaker[Session],
) -> None:
    line_id = _line(session_factory)
    key = f"retrain:{line_id}:{NOW.isoformat()}"
    with unit_of_work(session_factory) as session:
        first = runs.enqueue(session, "retrain", line_id, "schedule", key, skip_if_queued=False)
    with unit_of_work(session_factory) as session:
        second = runs.enqueue(session, "retrain", line_id, "schedule", key, skip_if_queued=False)
    assert first is not None and second is None
    with unit_of_work(session_factory) as session:
        assert session.scalar(select(func.count()).select_from(JobRun)) == 1


def test_a_second_run_is_not_queued_while_one_is_waiting(
    session_factory: sessionmaker[Session],
) -> None:
    line_id = _line(session_factory)
    with unit_of_work(session_factory) as session:
        assert runs.enqueue(session, "score", line_id, "schedule", "score:a") is not None
        assert runs.enqueue(session, "score", line_id, "schedule", "score:b") is None
        # Another line or another job is independent.
        assert runs.enqueue(session, "retrain", line_id, "schedule", "retrain:a") is not None


def test_enqueue_rejects_unknown_jobs_and_line_jobs_without_a_line(
    session_factory: sessionmaker[Session],
) -> None:
    with unit_of_work(session_factory) as session:
        with pytest.raises(ValidationError, match="Unknown job"):
            runs.enqueue(session, "reboot", None, "manual")
        with pytest.raises(ValidationError, match="needs a line"):
            runs.enqueue(session, "retrain", None, "manual")


def test_concurrent_workers_never_claim_the_same_run(
    session_factory: sessionmaker[Session],
) -> None:
    line_ids = [_line(session_factory, f"line-{i}") for i in range(12)]
    with unit_of_work(session_factory) as session:
        for line_id in line_ids:
            runs.enqueue(session, "score", line_id, "schedule")
    claimed: dict[str, list[int]] = {}
    barrier = threading.Barrier(4)

    def claimer(name: str) -> None:
        mine: list[int] = []
        barrier.wait()
        while True:
            with unit_of_work(session_factory) as session:
                run = runs.claim_next(session, name)
                if run is None:
                    break
                mine.append(run.id)
        claimed[name] = mine

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_ids = [i for ids in claimed.values() for i in ids]
    assert len(all_ids) == 12 and len(set(all_ids)) == 12
    with unit_of_work(session_factory) as session:
        rows = session.scalars(select(JobRun)).all()
        assert {r.status for r in rows} == {RunStatus.RUNNING}
        assert all(r.worker in claimed and r.id in claimed[r.worker] for r in rows)


def test_a_line_job_is_not_claimed_while_the_same_job_runs_for_that_line(
    session_factory: sessionmaker[Session],
) -> None:
    line_id = _line(session_factory)
    with unit_of_work(session_factory) as session:
        runs.enqueue(session, "retrain", line_id, "schedule")
    with unit_of_work(session_factory) as session:
        first = runs.claim_next(session, "w1")
    with unit_of_work(session_factory) as session:
        runs.enqueue(session, "retrain", line_id, "manual")
    with unit_of_work(session_factory) as session:
        assert runs.claim_next(session, "w2") is None
    with unit_of_work(session_factory) as session:
        assert first is not None
        runs.finish(session, first.id, "w1", RunStatus.SUCCEEDED)
    with unit_of_work(session_factory) as session:
        second = runs.claim_next(session, "w2")
        assert second is not None and second.trigger == "manual"


def test_finish_records_the_outcome_and_only_for_the_claiming_worker(
    session_factory: sessionmaker[Session],
) -> None:
    line_id = _line(session_factory)
    with unit_of_work(session_factory) as session:
        runs.enqueue(session, "score", line_id, "schedule")
    with unit_of_work(session_factory) as session:
        run = runs.claim_next(session, "w1")
        assert run is not None
        run_id = run.id
    with unit_of_work(session_factory) as session:
        assert not runs.finish(session, run_id, "intruder", RunStatus.SUCCEEDED)
        assert runs.finish(
            session,
            run_id,
            "w1",
            RunStatus.FAILED,
            error="ValueError: boom",
            log_excerpt="x" * 10_000,
            result={"n": 1},
        )
    with unit_of_work(session_factory) as session:
        row = runs.get_run(session, run_id)
        assert row.status == RunStatus.FAILED and row.error == "ValueError: boom"
        assert row.log_excerpt is not None and len(row.log_excerpt) == runs.LOG_EXCERPT_CHARS
        assert row.result == {"n": 1} and row.line_name == "press"
        assert row.seconds is not None and row.seconds >= 0


def test_stale_running_runs_are_failed_with_a_reason_and_retried_once(
    session_factory: sessionmaker[Session],
) -> None:
    line_id = _line(session_factory)
    with unit_of_work(session_factory) as session:
        runs.enqueue(session, "retrain", line_id, "schedule", now=NOW)
    with unit_of_work(session_factory) as session:
        dead = runs.claim_next(session, "killed-worker", now=NOW)
        assert dead is not None
        dead_id = dead.id
    later = NOW + timedelta(seconds=runs.STALE_AFTER_SECONDS - 1)
    with unit_of_work(session_factory) as session:
        assert runs.recover_stale(session, now=later) == []  # not stale yet
    much_later = NOW + timedelta(seconds=runs.STALE_AFTER_SECONDS + 5)
    with unit_of_work(session_factory) as session:
        assert runs.recover_stale(session, now=much_later) == [dead_id]
    with unit_of_work(session_factory) as session:
        assert runs.recover_stale(session, now=much_later) == []  # idempotent
        failed = session.get(JobRun, dead_id)
        assert failed is not None and failed.status == RunStatus.FAILED
        assert "killed-worker" in (failed.error or "") and "heartbeat" in (failed.error or "")
        retry = session.scalar(select(JobRun).where(JobRun.id != dead_id))
        assert retry is not None and retry.status == RunStatus.QUEUED
        assert retry.trigger == "retry" and retry.result == {"attempt": 2, "retry_of": dead_id}


def test_a_run_that_keeps_dying_is_not_retried_forever(
    session_factory: sessionmaker[Session],
) -> None:
    line_id = _line(session_factory)
    now = NOW
    with unit_of_work(session_factory) as session:
        runs.enqueue(session, "retrain", line_id, "schedule", now=now)
    for _ in range(runs.MAX_ATTEMPTS + 1):
        with unit_of_work(session_factory) as session:
            if runs.claim_next(session, "crashy", now=now) is None:
                break
        now += timedelta(seconds=runs.STALE_AFTER_SECONDS + 1)
        with unit_of_work(session_factory) as session:
            runs.recover_stale(session, now=now)
    with unit_of_work(session_factory) as session:
        statuses = list(session.scalars(select(JobRun.status).order_by(JobRun.id)))
    assert statuses == [RunStatus.FAILED] * runs.MAX_ATTEMPTS


def test_record_manual_run_records_success_and_failure(
    session_factory: sessionmaker[Session],
) -> None:
    line_id = _line(session_factory)
    with runs.record_manual_run(session_factory, "retrain", line_id, worker="cli@test") as rec:
        rec.result = {"version": 3}
    with (
        pytest.raises(RuntimeError, match="no data"),
        runs.record_manual_run(session_factory, "score", line_id, worker="cli@test"),
    ):
        raise RuntimeError("no data")
    with unit_of_work(session_factory) as session:
        page = runs.list_runs(session, line_id=line_id)
    assert page.total == 2
    failed, succeeded = page.items  # newest first
    assert succeeded.status == RunStatus.SUCCEEDED and succeeded.result == {"version": 3}
    assert succeeded.trigger == "cli" and succeeded.worker == "cli@test"
    assert failed.status == RunStatus.FAILED and failed.error == "RuntimeError: no data"
    assert "Traceback" in (failed.log_excerpt or "")


def test_list_runs_pages_and_filters(session_factory: sessionmaker[Session]) -> None:
    a = _line(session_factory, "a")
    b = _line(session_factory, "b")
    with unit_of_work(session_factory) as session:
        for i in range(5):
            runs.enqueue(
                session,
                "score",
                a,
                "schedule",
                f"k{i}",
                skip_if_queued=False,
                now=NOW + timedelta(minutes=i),
            )
        runs.enqueue(session, "retrain", b, "manual", now=NOW)
        runs.enqueue(session, "prune", None, "schedule", now=NOW)
    with unit_of_work(session_factory) as session:
        first = runs.list_runs(session, line_id=a, limit=2)
        second = runs.list_runs(session, line_id=a, limit=2, offset=2)
        assert first.total == 5 and len(first.items) == 2
        assert [r.queued_at for r in first.items] == sorted(
            (r.queued_at for r in first.items), reverse=True
        )
        assert not {r.id for r in first.items} & {r.id for r in second.items}
        assert runs.list_runs(session, job="retrain").items[0].line_name == "b"
        assert runs.list_runs(session, status="queued").total == 7
        assert runs.list_runs(session, job="prune").items[0].line_name is None
