"""Soak test: the real scheduler process left running against a plant that never stops.

    python -m benchmarks.soak --minutes 15 --batch-seconds 30 --retrain-minutes 3

Sets up a fresh data folder with the demo plant's lines (a short history ingested and a first
model trained), then starts ``python -m jobs.scheduler`` (with its hosted worker) as a
subprocess and, every ``--batch-seconds``, drops the next slice of each line's simulated data
into its inbox. Retraining is scheduled every ``--retrain-minutes``; scoring and inbox ticks
run every minute. After ``--minutes`` the plant stops, the scheduler gets ``--drain-minutes`` to
catch up, and the run is judged from the database:

- batches emitted / ingested / scored, and how many are left unscored (should be 0),
- scoring lag per batch: from the moment its file appeared in the inbox to ``scored_at``,
- runs per job and status, failed runs with their errors, retrains and model versions.

Simulated time runs faster than wall time (``--rows-per-batch`` minutes of plant data per
batch), and the history ends far enough in the past that every emitted row is in the past too,
so training windows see them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from app.config import Settings
from app.services.lines import LineSpec, ensure_line
from benchmarks.datasets import REPO_ROOT
from db.engine import make_engine, make_session_factory, unit_of_work
from db.migrate import upgrade
from db.models import Batch, JobRun, Line, ModelVersion, RunStatus


@dataclass
class SoakResult:
    command: str
    machine: str
    started_at: str
    database: str
    lines: list[str]
    detector: str
    minutes: float
    batch_seconds: float
    retrain_minutes: int
    rows_per_batch: int
    batches_emitted: int = 0
    batches_ingested: int = 0
    batches_scored: int = 0
    batches_unscored: int = 0
    files_failed: int = 0
    runs: dict[str, dict[str, int]] = field(default_factory=dict)
    runs_failed: int = 0
    failures: list[str] = field(default_factory=list)
    retrains_succeeded: int = 0
    model_versions: int = 0
    lag_seconds_median: float | None = None
    lag_seconds_p95: float | None = None
    lag_seconds_max: float | None = None
    retrain_seconds_median: float | None = None
    retrain_seconds_max: float | None = None
    score_seconds_median: float | None = None
    drained_seconds: float | None = None
    scheduler_exit_code: int | None = None

    def summary(self) -> str:
        runs = ", ".join(
            f"{job}: " + "/".join(f"{n} {status}" for status, n in sorted(by.items()))
            for job, by in sorted(self.runs.items())
        )
        return "\n".join(
            [
                f"soak {self.minutes:g} min on {self.database}, {len(self.lines)} lines "
                f"({self.detector}), a batch per line every {self.batch_seconds:g} s, "
                f"retrain every {self.retrain_minutes} min",
                f"batches: {self.batches_emitted} emitted, {self.batches_ingested} ingested, "
                f"{self.batches_scored} scored, {self.batches_unscored} left unscored, "
                f"{self.files_failed} inbox files failed",
                f"scoring lag (file in inbox -> scored): median {_fmt(self.lag_seconds_median)}, "
                f"p95 {_fmt(self.lag_seconds_p95)}, max {_fmt(self.lag_seconds_max)}",
                f"runs: {runs}; failed runs: {self.runs_failed}",
                f"retrains: {self.retrains_succeeded} succeeded, {self.model_versions} model "
                f"versions; retrain s median {_fmt(self.retrain_seconds_median)}, max "
                f"{_fmt(self.retrain_seconds_max)}; score run s median "
                f"{_fmt(self.score_seconds_median)}",
                f"drained {_fmt(self.drained_seconds)} after the plant stopped; scheduler exit "
                f"code {self.scheduler_exit_code}",
            ]
            + [f"failure: {f}" for f in self.failures]
        )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} s"


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    system = f"{platform.system()} {platform.release()}"
    return f"{platform.node()} ({system}, {cpu}, {os.cpu_count()} CPUs)"


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _setup(
    settings: Settings, detector: str, history_days: float, span: timedelta, seed: int
) -> dict[str, Any]:
    """Lines, history and a first model; returns each line's not-yet-emitted frames."""
    from app.demo import DEMO_LINES, DemoBatch, generate_history
    from app.ingest import ingest_frame
    from app.services.training import train_line

    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    history_end = datetime.now(UTC).replace(second=0, microsecond=0) - span - timedelta(hours=1)
    start = history_end - timedelta(days=history_days)
    total_days = history_days + (span + timedelta(hours=1)).total_seconds() / 86400
    pending: dict[str, Any] = {}
    for demo_line in DEMO_LINES:
        with unit_of_work(factory) as session:
            ensure_line(
                session,
                LineSpec(
                    name=demo_line.name,
                    feature_columns=demo_line.feature_columns,
                    timestamp_column="timestamp",
                    units=demo_line.units,
                    detector=detector,
                ),
            )
        data = generate_history(demo_line, start, total_days, seed)
        past = (data.frame["timestamp"] < history_end).to_numpy()
        ingest_frame(
            factory,
            settings,
            demo_line.name,
            data.frame.loc[past].reset_index(drop=True),
            filename=f"{demo_line.name}-history.csv",
            source="demo",
        )
        print(f"  {demo_line.name}: {int(past.sum())} history rows; training...", flush=True)
        outcome = train_line(factory, settings, demo_line.name)
        print(f"  {demo_line.name}: v{outcome.version} {outcome.status.value}", flush=True)
        pending[demo_line.name] = DemoBatch(
            demo_line.name,
            data.frame.loc[~past].reset_index(drop=True),
            data.truth.loc[~past].reset_index(drop=True),
        )
    # The history was scored by nobody yet; mark it so the soak measures only new batches.
    with unit_of_work(factory) as session:
        session.execute(update(Batch).values(scored_at=datetime.now(UTC)))
    engine.dispose()
    return pending


def _start_scheduler(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KDMON_DATABASE_URL": settings.database_url,
        "KDMON_DATA_DIR": str(settings.data_dir),
        "KDMON_SCORE_INTERVAL_MINUTES": "1",
        "KDMON_INBOX_INTERVAL_MINUTES": "1",
        "PYTHONUNBUFFERED": "1",
    }
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "jobs.scheduler", "--reconcile-seconds", "10"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _drained(factory: Any, emitted: int) -> bool:
    with unit_of_work(factory) as session:
        ingested = session.scalar(
            select(func.count()).select_from(Batch).where(Batch.source == "inbox")
        )
        unscored = session.scalar(
            select(func.count()).select_from(Batch).where(Batch.scored_at.is_(None))
        )
        busy = session.scalar(
            select(func.count())
            .select_from(JobRun)
            .where(
                JobRun.status.in_([RunStatus.QUEUED, RunStatus.RUNNING]),
                JobRun.job.in_(["ingest_inbox", "score"]),
            )
        )
    return ingested == emitted and unscored == 0 and busy == 0


def _measure(
    result: SoakResult, settings: Settings, factory: Any, emitted_at: dict[str, datetime]
) -> None:
    with unit_of_work(factory) as session:
        batches = session.execute(
            select(Batch.filename, Batch.scored_at).where(Batch.source == "inbox")
        ).all()
        runs = session.execute(
            select(JobRun.job, JobRun.status, JobRun.started_at, JobRun.finished_at, JobRun.error)
        ).all()
        result.model_versions = session.scalar(select(func.count()).select_from(ModelVersion)) or 0
    result.batches_ingested = len(batches)
    result.batches_scored = sum(1 for _, scored in batches if scored is not None)
    result.batches_unscored = result.batches_ingested - result.batches_scored
    result.batches_unscored += result.batches_emitted - result.batches_ingested
    lags = [
        (_aware(scored) - emitted_at[name]).total_seconds()  # type: ignore[operator]
        for name, scored in batches
        if scored is not None and name in emitted_at
    ]
    if lags:
        lags.sort()
        result.lag_seconds_median = statistics.median(lags)
        result.lag_seconds_p95 = lags[min(len(lags) - 1, int(round(0.95 * (len(lags) - 1))))]
        result.lag_seconds_max = lags[-1]
    by_job: dict[str, Counter[str]] = {}
    durations: dict[str, list[float]] = {}
    for job, status, started, finished, error in runs:
        by_job.setdefault(job, Counter())[RunStatus(status).value] += 1
        if status == RunStatus.FAILED:
            result.failures.append(f"{job}: {error}")
        if started is not None and finished is not None and status == RunStatus.SUCCEEDED:
            durations.setdefault(job, []).append((finished - started).total_seconds())
    result.runs = {job: dict(counter) for job, counter in by_job.items()}
    result.runs_failed = len(result.failures)
    result.retrains_succeeded = by_job.get("retrain", Counter())["succeeded"]
    if durations.get("retrain"):
        result.retrain_seconds_median = statistics.median(durations["retrain"])
        result.retrain_seconds_max = max(durations["retrain"])
    if durations.get("score"):
        result.score_seconds_median = statistics.median(durations["score"])
    result.files_failed = sum(
        1
        for folder in settings.inbox_dir.glob("*/failed")
        for path in folder.iterdir()
        if not path.name.endswith(".error.txt")
    )


def run_soak(args: argparse.Namespace) -> SoakResult:
    from app.demo import DemoBatch, write_batch_csv

    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="kdmon-soak-"))
    settings = Settings(data_dir=data_dir, database_url=args.database_url or "")
    settings.ensure_dirs()
    n_batches = int(args.minutes * 60 // args.batch_seconds)
    span = timedelta(minutes=args.rows_per_batch * (n_batches + 1))
    result = SoakResult(
        command="python -m benchmarks.soak " + " ".join(sys.argv[1:]),
        machine=_machine(),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        database=settings.database_url.split("://", 1)[0],
        lines=[],
        detector=args.detector,
        minutes=args.minutes,
        batch_seconds=args.batch_seconds,
        retrain_minutes=args.retrain_minutes,
        rows_per_batch=args.rows_per_batch,
    )
    print(f"setting up in {data_dir} ...", flush=True)
    pending = _setup(settings, args.detector, args.history_days, span, args.seed)
    result.lines = sorted(pending)
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    with unit_of_work(factory) as session:
        session.execute(update(Line).values(retrain_cron=f"*/{args.retrain_minutes} * * * *"))

    log_path = data_dir / "scheduler.log"
    proc = _start_scheduler(settings, log_path)
    print(f"scheduler pid {proc.pid}, log {log_path}", flush=True)
    emitted_at: dict[str, datetime] = {}
    started = time.monotonic()
    try:
        for i in range(n_batches):
            target = started + i * args.batch_seconds
            time.sleep(max(0.0, target - time.monotonic()))
            if proc.poll() is not None:
                raise RuntimeError(f"the scheduler exited early with code {proc.returncode}")
            for name, batch in pending.items():
                rows = slice(i * args.rows_per_batch, (i + 1) * args.rows_per_batch)
                part = DemoBatch(
                    name,
                    batch.frame.iloc[rows].reset_index(drop=True),
                    batch.truth.iloc[rows].reset_index(drop=True),
                )
                path = write_batch_csv(part, settings.inbox_dir / name)
                emitted_at[path.name] = datetime.now(UTC)
                result.batches_emitted += 1
            if (i + 1) % max(1, n_batches // 10) == 0:
                print(f"  {i + 1}/{n_batches} batch rounds emitted", flush=True)
        plant_stopped = time.monotonic()
        deadline = plant_stopped + args.drain_minutes * 60
        while time.monotonic() < deadline and not _drained(factory, result.batches_emitted):
            time.sleep(2)
        if _drained(factory, result.batches_emitted):
            result.drained_seconds = time.monotonic() - plant_stopped
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            result.scheduler_exit_code = proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            result.scheduler_exit_code = proc.wait()
    _measure(result, settings, factory, emitted_at)
    engine.dispose()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=15)
    parser.add_argument("--batch-seconds", type=float, default=30)
    parser.add_argument("--retrain-minutes", type=int, default=3)
    parser.add_argument("--rows-per-batch", type=int, default=30, help="plant minutes per batch")
    parser.add_argument("--history-days", type=float, default=3)
    parser.add_argument("--detector", default="stkd")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--drain-minutes", type=float, default=5)
    parser.add_argument("--data-dir", default=None, help="default: a new temporary folder")
    parser.add_argument("--database-url", default=None, help="default: SQLite in the data dir")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    result = run_soak(args)
    print(result.summary())
    if args.json:
        Path(args.json).write_text(json.dumps(result.__dict__, indent=2, default=str))
    ok = result.batches_unscored == 0 and result.runs_failed == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
