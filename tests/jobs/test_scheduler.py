"""The scheduler process: follows the line table, survives restarts, coalesces, one leader."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from db.engine import unit_of_work
from db.models import JobRun, Lease, Line, RunStatus
from jobs import scheduler as sched
from jobs import tasks
from jobs.lease import SCHEDULER_LEASE, current_holder, try_acquire
from tests.seeding import seed_line

REPO_ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _line(factory: sessionmaker[Session], name: str, cron: str = "0 2 * * *") -> int:
    line_id, _ = seed_line(factory, name, np.zeros((3, 2), dtype=np.float32))
    with unit_of_work(factory) as session:
        session.execute(update(Line).where(Line.id == line_id).values(retrain_cron=cron))
    return line_id


def _started(settings: Settings, factory: sessionmaker[Session]):  # type: ignore[no-untyped-def]
    """An APScheduler on the test database that loads and edits jobs but never fires one."""
    scheduler = sched.build_scheduler(settings, factory.kw["bind"], offline=True)
    scheduler.start(paused=True)
    return scheduler


def _stored_jobs(settings: Settings, factory: sessionmaker[Session]) -> dict[str, tuple]:
    scheduler = _started(settings, factory)
    try:
        return {
            job.id: (job.name, job.next_run_time, job.func_ref, tuple(job.args))
            for job in scheduler.get_jobs()
        }
    finally:
        scheduler.shutdown(wait=False)


def test_reconcile_follows_the_line_table(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    factory = session_factory
    a = _line(factory, "a", "0 2 * * *")
    b = _line(factory, "b", "30 3 * * 1-5")
    scheduler = _started(settings, factory)
    try:
        first = sched.reconcile(scheduler, factory, settings)
        assert set(first.added) == {
            f"retrain:{a}",
            f"retrain:{b}",
            "score",
            "ingest_inbox",
            "report",
            "prune",
        }
        job = scheduler.get_job(f"retrain:{a}")
        assert job.func_ref == "jobs.tasks:enqueue_retrain" and job.args == (a,)
        assert job.coalesce and job.max_instances == 1
        assert job.misfire_grace_time == sched.RETRAIN_GRACE_SECONDS
        assert not sched.reconcile(scheduler, factory, settings)  # nothing changed, nothing done

        with unit_of_work(factory) as session:
            session.execute(
                update(Line)
                .where(Line.id == a)
                .values(retrain_cron="15 1 * * *", timezone="Europe/Berlin")
            )
            session.execute(update(Line).where(Line.id == b).values(schedule_paused=True))
        c = _line(factory, "c")
        report = sched.reconcile(scheduler, factory, settings)
        assert report.changed == [f"retrain:{a}"]
        assert report.removed == [f"retrain:{b}"] and report.added == [f"retrain:{c}"]
        nxt = scheduler.get_job(f"retrain:{a}").next_run_time
        assert (nxt.hour, nxt.minute, str(nxt.tzinfo)) == (1, 15, "Europe/Berlin")
    finally:
        scheduler.shutdown(wait=False)


def test_a_broken_cron_in_the_database_skips_that_line_only(
    settings: Settings, session_factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    good = _line(session_factory, "good")
    _line(session_factory, "bad", "every night")
    with unit_of_work(session_factory) as session:
        jobs = sched.desired_jobs(session, settings)
    assert f"retrain:{good}" in jobs and len([j for j in jobs if j.startswith("retrain")]) == 1
    assert "bad" in caplog.text and "Invalid cron" in caplog.text


def _run_in_thread(settings: Settings, **kwargs) -> tuple[threading.Thread, threading.Event]:  # type: ignore[no-untyped-def]
    stop = threading.Event()
    thread = threading.Thread(
        target=sched.run_scheduler,
        args=(settings,),
        kwargs={
            "stop_event": stop,
            "worker": False,
            "lease_seconds": 3,
            "reconcile_seconds": 0.5,
            **kwargs,
        },
    )
    thread.start()
    return thread, stop


def _wait_for(predicate, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_a_restarted_scheduler_keeps_every_schedule_and_next_fire_time(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    for name in ("a", "b", "c"):
        _line(session_factory, name)

    thread, stop = _run_in_thread(settings, name="scheduler@first")
    try:
        assert _wait_for(lambda: len(_stored_jobs(settings, session_factory)) == 7)
    finally:
        stop.set()
        thread.join(30)
    with unit_of_work(session_factory) as session:
        # A clean stop gives the lease up so a restart need not wait for it to expire.
        assert current_holder(session, SCHEDULER_LEASE) is None
    # A stored next fire time no trigger would compute: a restart must keep it, not recompute.
    a_id = next(j for j in _stored_jobs(settings, session_factory) if j.startswith("retrain:"))
    odd = (datetime.now(UTC) + timedelta(days=3)).replace(hour=2, minute=7, microsecond=0)
    offline = _started(settings, session_factory)
    offline.modify_job(a_id, next_run_time=odd)
    offline.shutdown(wait=False)
    before = _stored_jobs(settings, session_factory)

    thread, stop = _run_in_thread(settings, name="scheduler@second")
    try:

        def leading() -> bool:
            with unit_of_work(session_factory) as session:
                return current_holder(session, SCHEDULER_LEASE) == "scheduler@second"

        assert _wait_for(leading)
        time.sleep(1.2)  # a couple of reconcile rounds
    finally:
        stop.set()
        thread.join(30)
    after = _stored_jobs(settings, session_factory)
    assert after[a_id][1] == odd
    assert {k: (v[0], v[2], v[3]) for k, v in after.items()} == {
        k: (v[0], v[2], v[3]) for k, v in before.items()
    }
    for job_id, (_name, next_run, _func, _args) in before.items():
        if job_id in ("score", "ingest_inbox"):  # may have fired at a 5-minute boundary meanwhile
            assert after[job_id][1] - next_run in (timedelta(0), timedelta(minutes=5))
        else:
            assert after[job_id][1] == next_run, job_id


def test_a_retrain_is_named_by_its_cron_slot_not_by_the_clock(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    line_id = _line(session_factory, "press", "0 2 * * *")
    slot = T0.replace(hour=2)
    evening = T0.replace(hour=23, minute=50)
    firings = [
        # Late firings of the 02:00 slot, up to the look-back, all stand for that slot.
        *(
            slot + late
            for late in (timedelta(seconds=1), timedelta(minutes=59), timedelta(hours=11))
        ),
        # Past the look-back no slot is near: the firing minute names the run.
        *(evening + after for after in (timedelta(0), timedelta(seconds=30), timedelta(minutes=1))),
    ]
    tasks.configure(settings, session_factory, "scheduler@test")
    try:
        for when in firings:
            tasks.enqueue_retrain(line_id, now=when)
            with unit_of_work(session_factory) as session:  # a worker ran it meanwhile
                session.execute(update(JobRun).values(status=RunStatus.SUCCEEDED))
    finally:
        tasks.reset()
    with unit_of_work(session_factory) as session:
        keys = list(session.scalars(select(JobRun.dedupe_key).order_by(JobRun.id)))
    assert keys == [
        f"retrain:{line_id}:2026-11-20T02:00:00+00:00",
        f"retrain:{line_id}:2026-11-20T23:50:00+00:00",
        f"retrain:{line_id}:2026-11-20T23:51:00+00:00",
    ]


def test_a_missed_backlog_is_coalesced_into_one_run(
    settings: Settings,
    session_factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    line_id = _line(session_factory, "press", "0 * * * *")
    scheduler = _started(settings, session_factory)
    try:
        sched.reconcile(scheduler, session_factory, settings)
        # The scheduler was down for over three hours: three or four hourly slots were missed.
        down_since = datetime.now(UTC) - timedelta(hours=3, minutes=5)
        scheduler.modify_job(f"retrain:{line_id}", next_run_time=down_since)
    finally:
        scheduler.shutdown(wait=False)

    caplog.set_level(logging.INFO, logger="jobs.tasks")
    thread, stop = _run_in_thread(settings)
    try:

        def queued() -> int:
            with unit_of_work(session_factory) as session:
                return (
                    session.scalar(
                        select(func.count()).select_from(JobRun).where(JobRun.job == "retrain")
                    )
                    or 0
                )

        assert _wait_for(lambda: queued() >= 1)
        time.sleep(1.0)  # would any more firings follow?
    finally:
        stop.set()
        thread.join(30)
        tasks.reset()
    attempts = [r for r in caplog.records if "enqueue attempt retrain:" in r.getMessage()]
    assert len(attempts) == 1, [r.getMessage() for r in attempts]
    with unit_of_work(session_factory) as session:
        (run,) = session.scalars(select(JobRun).where(JobRun.job == "retrain"))
    # It stands for the newest missed slot.
    slot = datetime.fromisoformat(run.dedupe_key.split(":", 2)[2])
    assert slot.minute == 0 and datetime.now(UTC) - slot < timedelta(hours=1)


def test_the_leader_lease_admits_one_holder_until_it_expires(
    session_factory: sessionmaker[Session],
) -> None:
    with unit_of_work(session_factory) as session:
        assert try_acquire(session, "scheduler", "A", 60, now=T0)
    with unit_of_work(session_factory) as session:
        assert not try_acquire(session, "scheduler", "B", 60, now=T0 + timedelta(seconds=30))
        assert try_acquire(session, "scheduler", "A", 60, now=T0 + timedelta(seconds=40))  # renew
    with unit_of_work(session_factory) as session:
        assert not try_acquire(session, "scheduler", "B", 60, now=T0 + timedelta(seconds=90))
        assert current_holder(session, "scheduler", now=T0 + timedelta(seconds=90)) == "A"
    # A stops renewing: after expiry B takes over and A cannot come back.
    with unit_of_work(session_factory) as session:
        assert try_acquire(session, "scheduler", "B", 60, now=T0 + timedelta(seconds=101))
    with unit_of_work(session_factory) as session:
        assert not try_acquire(session, "scheduler", "A", 60, now=T0 + timedelta(seconds=102))
        assert session.scalar(select(Lease.holder)) == "B"


def _spawn_scheduler(settings: Settings, name: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "KDMON_DATABASE_URL": settings.database_url,
        "KDMON_DATA_DIR": str(settings.data_dir),
        "PYTHONUNBUFFERED": "1",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jobs.scheduler",
            "--no-worker",
            "--lease-seconds",
            "3",
            "--reconcile-seconds",
            "1",
            "--name",
            name,
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


class _Output:
    """Collects a subprocess's output lines in a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line)

    def count(self, text: str) -> int:
        return sum(text in line for line in list(self.lines))


@pytest.mark.slow
def test_two_scheduler_processes_never_enqueue_a_slot_twice_and_the_standby_takes_over(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    line_ids = [_line(session_factory, f"line-{i}", "0 */6 * * *") for i in range(3)]
    scheduler = _started(settings, session_factory)
    try:
        sched.reconcile(scheduler, session_factory, settings)
        for line_id in line_ids:  # every line has an overdue firing waiting
            scheduler.modify_job(
                f"retrain:{line_id}", next_run_time=datetime.now(UTC) - timedelta(minutes=1)
            )
    finally:
        scheduler.shutdown(wait=False)

    procs = {name: _spawn_scheduler(settings, name) for name in ("sched-A", "sched-B")}
    out = {name: _Output(proc) for name, proc in procs.items()}
    try:

        def retrains() -> int:
            with unit_of_work(session_factory) as session:
                return (
                    session.scalar(
                        select(func.count()).select_from(JobRun).where(JobRun.job == "retrain")
                    )
                    or 0
                )

        assert _wait_for(lambda: retrains() == 3, 40), {n: o.lines for n, o in out.items()}
        assert _wait_for(lambda: sum(o.count("on standby") for o in out.values()) == 1, 20)
        time.sleep(1.5)
        leaders = [n for n, o in out.items() if o.count("is the leader")]
        assert len(leaders) == 1, {n: o.lines for n, o in out.items()}
        leader = leaders[0]
        standby = next(n for n in procs if n != leader)
        assert out[standby].count("enqueue attempt") == 0
        assert out[leader].count("enqueue attempt retrain:") == 3

        os.kill(procs[leader].pid, signal.SIGKILL)  # the leader dies without a goodbye
        procs[leader].wait(10)
        assert _wait_for(lambda: out[standby].count("is the leader") == 1, 20)
        with unit_of_work(session_factory) as session:
            assert current_holder(session, SCHEDULER_LEASE) == standby
        time.sleep(1.5)
        assert retrains() == 3  # taking over fired nothing twice

        procs[standby].send_signal(signal.SIGTERM)
        assert procs[standby].wait(30) == 0
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    with unit_of_work(session_factory) as session:
        keys = list(session.scalars(select(JobRun.dedupe_key).where(JobRun.job == "retrain")))
        assert len(keys) == len(set(keys)) == 3
        assert current_holder(session, SCHEDULER_LEASE) is None  # released on SIGTERM
