"""Ingest, bulk score writes and the SQL-downsampled timeline, timed on SQLite (and PostgreSQL).

    python -m benchmarks.ingest_bench [--rows 1000000] [--timeline-scores 10000000]
                                      [--database-url postgresql://postgres@127.0.0.1:5432/test]

Every step runs in its own process, so its peak memory (``ru_maxrss``) is its own. With
``--database-url`` a fresh database is created next to the one named (used only as an admin
connection) and dropped afterwards. The 10M-score timeline data set is built in SQL
(``generate_series`` / a recursive CTE), not through ingest: that is a fixture, not a step. It
is built on a database at revision 0001, before the score rollup existed, so that migration
0002 backfills the rollup from it (timed as its own step). The 1M scores are written by
``app.services.scoring.write_scores``, the scoring service's own writer (score rows plus their
hourly rollup, in 100k-row calls within one transaction). Timelines are read through
``score_timeline_for_line``, the function the dashboard calls, and the raw-score query is
timed on the whole history too.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import resource
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select, text

from benchmarks.common import fresh_pg_database, utc_stamp

N_FEATURES = 20
T0 = datetime(2024, 1, 1, tzinfo=UTC)
FEATURES = [f"sensor_{i:02d}" for i in range(N_FEATURES)]


def _factory(url: str):  # type: ignore[no-untyped-def]
    from db.engine import make_engine, make_session_factory

    return make_session_factory(make_engine(url))


def _measure(step: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    started, cpu = time.perf_counter(), time.process_time()
    out = step(*args)
    out.setdefault("seconds", time.perf_counter() - started)
    out["cpu_seconds"] = time.process_time() - cpu
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _in_child(step: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_measure, (step, *args))


def make_csv(path: Path, rows: int) -> None:
    """rows x 20 sensors at 1 Hz, written in pieces so generating it stays small too."""
    rng = np.random.default_rng(0)
    piece = 200_000
    with path.open("w", encoding="utf-8") as out:
        out.write(",".join(["timestamp", *FEATURES]) + "\n")
        for start in range(0, rows, piece):
            n = min(piece, rows - start)
            frame = pd.DataFrame(rng.normal(size=(n, N_FEATURES)).round(5), columns=FEATURES)
            times = pd.date_range(T0 + timedelta(seconds=start), periods=n, freq="s")
            frame.insert(0, "timestamp", times.strftime("%Y-%m-%d %H:%M:%S"))
            frame.to_csv(out, header=False, index=False)


def step_ingest(url: str, data_dir: str, csv_path: str) -> dict[str, Any]:
    from app.config import Settings
    from app.ingest import ingest_file
    from app.services.lines import LineSpec, create_line
    from db.engine import unit_of_work

    factory = _factory(url)
    with unit_of_work(factory) as session:
        create_line(session, LineSpec("bench", tuple(FEATURES)))
    settings = Settings(data_dir=Path(data_dir), database_url=url)
    started = time.perf_counter()
    report = ingest_file(factory, settings, "bench", Path(csv_path))
    return {"seconds": time.perf_counter() - started, "rows": report.n_accepted}


def _model(session, line_id: int) -> int:  # type: ignore[no-untyped-def]
    from db.models import ModelVersion

    version = (
        session.scalar(
            select(func.max(ModelVersion.version)).where(ModelVersion.line_id == line_id)
        )
        or 0
    ) + 1
    model = ModelVersion(
        line_id=line_id,
        version=version,
        detector="bench",
        threshold=0.99,
        feature_columns=FEATURES,
        artifact_path="-",
        artifact_sha256="0" * 64,
    )
    session.add(model)
    session.flush()
    return model.id


def step_scores(url: str) -> dict[str, Any]:
    """1M Score rows for the ingested samples, written as the scoring service writes them."""
    from app.services.scoring import write_scores
    from db.engine import unit_of_work
    from db.models import Line, Sample

    factory = _factory(url)
    with unit_of_work(factory) as session:
        line_id = session.scalar(select(Line.id).where(Line.name == "bench"))
        model_id = _model(session, line_id)
        pairs = session.execute(
            select(Sample.id, Sample.ts).where(Sample.line_id == line_id).order_by(Sample.id)
        ).all()
        started = time.perf_counter()
        rng = np.random.default_rng(1)
        now = datetime.now(UTC)
        for start in range(0, len(pairs), 100_000):
            part = pairs[start : start + 100_000]
            scores = rng.random(len(part)).tolist()
            rows = [
                {
                    "sample_id": sample_id,
                    "line_id": line_id,
                    "model_version_id": model_id,
                    "ts": ts,
                    "score": score,
                    "threshold": 0.99,
                    "flagged": score >= 0.99,
                    "top_features": [],
                    "scored_at": now,
                }
                for (sample_id, ts), score in zip(part, scores, strict=True)
            ]
            write_scores(session, rows)
        write_seconds = time.perf_counter() - started
    return {"seconds": write_seconds, "rows": len(pairs)}


def step_migrate(url: str) -> dict[str, Any]:
    """Migration 0002 on the 10M-score database: adds the rollup table and backfills it."""
    from db.engine import make_engine
    from db.migrate import upgrade

    started = time.perf_counter()
    upgrade(url)
    seconds = time.perf_counter() - started
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT count(*), sum(n) FROM score_rollup")).one()
    engine.dispose()
    return {"seconds": seconds, "rollup_rows": int(rows[0]), "scores": int(rows[1] or 0)}


def step_build_timeline(url: str, n: int) -> dict[str, Any]:
    """n samples + n scores for line 'timeline' at 1 Hz, generated inside the database."""
    from db.engine import unit_of_work
    from db.models import Batch, Line

    factory = _factory(url)
    with unit_of_work(factory) as session:
        line = Line(name="timeline", feature_columns=["x"], units={})
        session.add(line)
        session.flush()
        batch = Batch(
            line_id=line.id,
            source="bench",
            filename="generated",
            sha256=uuid.uuid4().hex * 2,
            raw_path="-",
            size_bytes=0,
        )
        session.add(batch)
        session.flush()
        line_id, batch_id, model_id = line.id, batch.id, _model(session, line.id)
    engine = factory.kw["bind"]
    t0 = int(T0.timestamp())
    params = {"n": n, "line": line_id, "batch": batch_id, "mv": model_id, "t0": t0}
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            # A bulk fixture load: no FK checks for these rows, a bigger page cache.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.exec_driver_sql("PRAGMA cache_size=-400000")
            seq = (
                "WITH RECURSIVE seq(i) AS "
                "(SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < :n - 1) "
            )
            conn.execute(
                text(
                    seq
                    + 'INSERT INTO sample (line_id, batch_id, row_number, ts, "values", repaired) '
                    "SELECT :line, :batch, i + 1, "
                    "strftime('%Y-%m-%d %H:%M:%S', :t0 + i, 'unixepoch') || '.000000', '{}', 0 "
                    "FROM seq"
                ),
                params,
            )
            flagged = "(abs(random()) % 1000) >= 990"
            score = "(abs(random()) % 1000000) / 1000000.0"
        else:
            conn.execute(
                text(
                    'INSERT INTO sample (line_id, batch_id, row_number, ts, "values", repaired) '
                    "SELECT :line, :batch, i + 1, to_timestamp(:t0 + i), '{}', false "
                    "FROM generate_series(0, :n - 1) AS i"
                ),
                params,
            )
            flagged = "random() >= 0.99"
            score = "random()"
        conn.execute(
            text(
                "INSERT INTO score (sample_id, line_id, model_version_id, ts, score, threshold, "
                "flagged, top_features, scored_at) "
                f"SELECT id, line_id, :mv, ts, {score}, 0.99, {flagged}, '[]', ts "
                "FROM sample WHERE line_id = :line"
            ),
            params,
        )
        conn.commit()
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    return {"rows": n, "line_id": line_id}


def step_timeline(url: str, line_id: int, n: int) -> dict[str, Any]:
    """The dashboard's timeline call per window, and the raw-score query on the whole history."""
    from app.services.queries import score_timeline_for_line
    from db.timeline import score_timeline

    factory = _factory(url)
    out: dict[str, Any] = {}
    end = T0 + timedelta(seconds=n)
    windows = {
        "all": timedelta(seconds=n),
        "30 days": timedelta(days=30),
        "7 days": timedelta(days=7),
        "1 day": timedelta(days=1),
    }
    for name, span in windows.items():
        times, points = [], []
        for _ in range(4):
            with factory() as session:
                began = time.perf_counter()
                points = score_timeline_for_line(session, line_id, end - span, end, buckets=500)
                times.append(time.perf_counter() - began)
        out[name] = {
            "cold_s": times[0],
            "warm_median_s": statistics.median(times[1:]),
            "buckets": len(points),
            "scores": sum(p.n for p in points),
        }
    raw_times = []
    for _ in range(2):
        with factory() as session:
            began = time.perf_counter()
            raw = score_timeline(session, line_id, end - timedelta(seconds=n), end, buckets=500)
            raw_times.append(time.perf_counter() - began)
    out["raw all"] = {
        "cold_s": raw_times[0],
        "warm_median_s": raw_times[1],
        "buckets": len(raw),
        "scores": sum(p.n for p in raw),
    }
    return out


def run_backend(label: str, url: str, work: Path, csv_path: Path, n_timeline: int) -> None:
    from db.migrate import upgrade

    upgrade(url, "0001")  # the timeline fixture predates the rollup: 0002 backfills it
    print(f"\n== {label} ==", flush=True)
    built = _in_child(step_build_timeline, url, n_timeline)
    print(
        f"build {n_timeline:,} samples + scores in SQL: {built['seconds']:.1f} s "
        f"(fixture, not ingest), peak {built['peak_rss_mb']:.0f} MB",
        flush=True,
    )
    migrated = _in_child(step_migrate, url)
    print(
        f"migration 0002 (rollup table + backfill of {migrated['scores']:,} scores into "
        f"{migrated['rollup_rows']:,} hourly rows): {migrated['seconds']:.1f} s "
        f"(cpu {migrated['cpu_seconds']:.1f} s)",
        flush=True,
    )
    ingest = _in_child(step_ingest, url, str(work / f"var_{label}"), str(csv_path))
    print(
        f"ingest {ingest['rows']:,} rows: {ingest['seconds']:.1f} s "
        f"(cpu {ingest['cpu_seconds']:.1f} s), peak {ingest['peak_rss_mb']:.0f} MB",
        flush=True,
    )
    scores = _in_child(step_scores, url)
    print(
        f"write {scores['rows']:,} scores with their rollup: {scores['seconds']:.1f} s "
        f"(step cpu {scores['cpu_seconds']:.1f} s), "
        f"peak {scores['peak_rss_mb']:.0f} MB",
        flush=True,
    )
    timeline = _in_child(step_timeline, url, built["line_id"], n_timeline)
    for name, t in timeline.items():
        if isinstance(t, dict):
            print(
                f"timeline ({name}: {t['scores']:,} scores -> {t['buckets']} buckets): "
                f"cold {t['cold_s']:.3f} s, warm median {t['warm_median_s']:.3f} s",
                flush=True,
            )
    print(f"timeline step peak {timeline['peak_rss_mb']:.0f} MB", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--timeline-scores", type=int, default=10_000_000)
    parser.add_argument("--database-url", default=None, help="PostgreSQL admin URL (optional)")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    print(
        f"{utc_stamp()}, {platform.node()}, "
        f"{platform.processor() or platform.machine()}, "
        f"{mp.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        csv_path = work / "bench.csv"
        started = time.perf_counter()
        make_csv(csv_path, args.rows)
        size = csv_path.stat().st_size / 1e6
        print(
            f"generated {args.rows:,} x {N_FEATURES} CSV ({size:.0f} MB) in "
            f"{time.perf_counter() - started:.1f} s"
        )
        run_backend(
            "sqlite",
            f"sqlite:///{(work / 'bench.db').as_posix()}",
            work,
            csv_path,
            args.timeline_scores,
        )
        if args.database_url:
            url, drop = fresh_pg_database(args.database_url)
            try:
                run_backend("postgresql", url, work, csv_path, args.timeline_scores)
            finally:
                drop()


if __name__ == "__main__":
    main()
