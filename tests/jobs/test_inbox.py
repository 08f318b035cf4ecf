"""Inbox folders: files are ingested, moved to done/ or failed/ (never deleted), then scored."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.ingest.inbox import line_inbox, pending_files, process_inbox
from db.engine import unit_of_work
from db.models import Batch, JobRun, RunStatus
from jobs import tasks
from jobs.worker import run_pending
from tests.seeding import seed_line


def _csv(path: Path, rows: int, start_minute: int = 0) -> Path:
    lines = ["timestamp,s0,s1,s2"]
    for i in range(rows):
        minute = start_minute + i
        lines.append(f"2026-11-02T{minute // 60:02d}:{minute % 60:02d}:00Z,{i},{i * 0.5},{-i}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    old = time.time() - 60  # written a minute ago: complete
    os.utime(path, (old, old))
    return path


def _line(factory: sessionmaker[Session], name: str = "press") -> int:
    line_id, _ = seed_line(factory, name, np.zeros((3, 3), dtype=np.float32))
    return line_id


def test_an_inbox_run_ingests_files_moves_them_and_queues_scoring(
    settings: Settings, task_runtime: sessionmaker[Session]
) -> None:
    factory = task_runtime
    line_id = _line(factory)
    inbox = line_inbox(settings, "press")
    good = _csv(inbox / "press_0001.csv", 20)
    bad = inbox / "press_0002.csv"
    bad.write_bytes(b"\x00\x01\x02 this is not a table \xff\xfe")
    os.utime(bad, (time.time() - 60, time.time() - 60))

    tasks.enqueue_inbox()  # the inbox tick sees files waiting for this line
    assert run_pending(factory, settings, "w-test", max_jobs=1) == 1

    assert not good.exists() and (inbox / "done" / "press_0001.csv").is_file()
    assert not bad.exists() and (inbox / "failed" / "press_0002.csv").is_file()
    reason = (inbox / "failed" / "press_0002.csv.error.txt").read_text()
    assert reason.strip()
    with unit_of_work(factory) as session:
        ingest_run, score_run = session.scalars(select(JobRun).order_by(JobRun.id)).all()
        batch = session.scalar(select(Batch).where(Batch.filename == "press_0001.csv"))
    assert batch is not None and batch.n_accepted == 20 and batch.source == "inbox"
    assert ingest_run.job == "ingest_inbox" and ingest_run.status == RunStatus.FAILED
    assert "press_0002.csv" in (ingest_run.error or "")
    assert ingest_run.result["ingested"] == ["press_0001.csv"]
    assert ingest_run.result["batch_ids"] == [batch.id]
    # Scoring right after the ingest, without waiting for the scoring tick.
    assert (score_run.job, score_run.line_id, score_run.trigger) == ("score", line_id, "ingest")
    assert score_run.status == RunStatus.QUEUED

    # The same file dropped again is a duplicate: moved to done/ under a new name, not re-read.
    _csv(inbox / "press_0001.csv", 20)
    report = process_inbox(factory, settings, "press")
    assert report.duplicates == ["press_0001.csv"] and not report.ingested
    assert len(list((inbox / "done").iterdir())) == 2


def test_files_still_being_written_are_left_alone(settings: Settings) -> None:
    inbox = line_inbox(settings, "press")
    done = _csv(inbox / "a.csv", 3)
    _csv(inbox / "b.csv.part", 3)
    _csv(inbox / ".c.csv", 3)
    _csv(inbox / "notes.txt", 3)
    fresh = inbox / "d.csv"
    fresh.write_text("timestamp,s0\n", encoding="utf-8")  # just now: may still grow
    assert pending_files(settings, "press") == [done]


def test_the_inbox_tick_only_queues_lines_with_waiting_files(
    settings: Settings, task_runtime: sessionmaker[Session]
) -> None:
    a = _line(task_runtime, "a")
    _line(task_runtime, "b")
    _csv(line_inbox(settings, "a") / "x.csv", 3)
    tasks.enqueue_inbox()
    tasks.enqueue_inbox()  # same slot, and one is already queued
    with unit_of_work(task_runtime) as session:
        rows = session.execute(select(JobRun.job, JobRun.line_id)).all()
    assert rows == [("ingest_inbox", a)]


def test_a_failing_ingest_never_loses_the_file(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    path = _csv(line_inbox(settings, "press") / "x.csv", 3)

    def broken_ingest(*_args: object, **_kwargs: object) -> None:
        raise OSError("disk full")

    report = process_inbox(session_factory, settings, "press", ingest=broken_ingest)
    assert report.failed == {"x.csv": "OSError: disk full"}
    assert (path.parent / "failed" / "x.csv").read_bytes().startswith(b"timestamp,s0")


@pytest.mark.parametrize("suffix", [".parquet", ".xlsx", ".CSV"])
def test_all_supported_formats_are_picked_up(settings: Settings, suffix: str) -> None:
    path = line_inbox(settings, "press") / f"x{suffix}"
    _csv(path, 1)
    assert pending_files(settings, "press") == [path]
