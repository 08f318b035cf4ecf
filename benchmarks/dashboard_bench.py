"""Dashboard server time with a million scored samples on one line.

Seeds a fresh database (SQLite in a temp folder by default, or ``--database-url``) with
``--samples`` samples and scores (1 % flagged, a few thousand reviewed) through bulk inserts,
then times the services behind the Overview and the Review queue, plus a full AppTest render
of both pages. Target: under 2 s server time each.

    .venv/bin/python -m benchmarks.dashboard_bench                # 1,000,000 samples, SQLite
    .venv/bin/python -m benchmarks.dashboard_bench --write-docs   # and update docs/benchmarks.md
    .venv/bin/python -m benchmarks.dashboard_bench --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text

from benchmarks.common import DOCS, cpu_name, fresh_pg_database, utc_stamp, write_section
from benchmarks.datasets import REPO_ROOT as REPO

CHUNK = 50_000
FEATURES = ["pressure", "temperature", "vibration", "current"]


def _seed(url: str, n: int, flag_rate: float, n_reviews: int) -> dict[str, float]:
    """Bulk-insert one line with ``n`` samples and scores; returns seeding timings."""
    from app.services.auth import hash_password
    from db.engine import make_engine, make_session_factory, unit_of_work
    from db.models import (
        Batch,
        Line,
        ModelStatus,
        ModelVersion,
        Review,
        Role,
        Sample,
        Score,
        User,
        Verdict,
    )
    from db.rollup import add_scores

    rng = random.Random(7)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(seconds=10 * n)  # one sample every 10 s, ending now
    t0 = time.perf_counter()
    with unit_of_work(factory) as session:
        session.add(
            User(username="bench", role=Role.REVIEWER, password_hash=hash_password("x" * 8))
        )
        line = Line(name="bench-line", feature_columns=FEATURES, units={}, description="bench")
        session.add(line)
        session.flush()
        batch = Batch(
            line_id=line.id,
            source="cli",
            filename="bench.csv",
            sha256="0" * 64,
            raw_path="raw/bench",
            size_bytes=0,
            n_received=n,
            n_accepted=n,
            scored_at=now,
        )
        model = ModelVersion(
            line_id=line.id,
            version=1,
            detector="stkd",
            status=ModelStatus.ACTIVE,
            threshold=0.9,
            feature_columns=FEATURES,
            artifact_path="m",
            artifact_sha256="0" * 64,
            activated_at=now,
        )
        session.add_all([batch, model])
        session.flush()
        line_id, batch_id, model_id = line.id, batch.id, model.id
    flagged_ids: list[int] = []
    with engine.begin() as conn:
        for first in range(0, n, CHUNK):
            size = min(CHUNK, n - first)
            samples = []
            scores = []
            for i in range(first, first + size):
                sample_id = i + 1
                ts = start + timedelta(seconds=10 * i)
                flagged = rng.random() < flag_rate
                score = 0.9 + rng.random() * 0.1 if flagged else rng.random() * 0.9
                samples.append(
                    {
                        "id": sample_id,
                        "line_id": line_id,
                        "batch_id": batch_id,
                        "row_number": i + 1,
                        "ts": ts,
                        "repaired": False,
                        "values": {f: round(rng.gauss(50, 5), 2) for f in FEATURES},
                    }
                )
                scores.append(
                    {
                        "id": sample_id,
                        "sample_id": sample_id,
                        "line_id": line_id,
                        "model_version_id": model_id,
                        "ts": ts,
                        "score": score,
                        "threshold": 0.9,
                        "flagged": flagged,
                        "scored_at": now,
                        "top_features": [{"feature": "pressure", "contribution": 0.5}],
                    }
                )
                if flagged:
                    flagged_ids.append(sample_id)
            conn.execute(insert(Sample), samples)
            conn.execute(insert(Score), scores)
            add_scores(conn, scores)  # the hourly rollup the overview's timeline reads
        reviewed = rng.sample(flagged_ids, min(n_reviews, len(flagged_ids)))
        verdicts = [Verdict.CONFIRMED, Verdict.DISMISSED, Verdict.UNSURE]
        conn.execute(
            insert(Review),
            [
                {"sample_id": s, "verdict": verdicts[k % 3], "reviewer": "bench", "created_at": now}
                for k, s in enumerate(reviewed)
            ],
        )
        if engine.dialect.name == "postgresql":
            for table in ("sample", "score"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {n})"))
    seeded_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return {
        "seed_s": seeded_s,
        "analyze_s": time.perf_counter() - t1,
        "flagged": len(flagged_ids),
        "reviewed": len(reviewed),
        "line_id": line_id,
        "sample_id": flagged_ids[len(flagged_ids) // 2],
    }


def _time(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median and max wall time over ``repeat`` runs (after one warm-up)."""
    fn()
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs), max(runs)


def _measure(url: str, line_id: int, sample_id: int, repeat: int) -> list[tuple[str, float, float]]:
    from app.services import queries, whatif
    from db.engine import make_engine, make_session_factory

    engine = make_engine(url)
    factory = make_session_factory(engine)
    now = datetime.now(UTC)

    def with_session(call: Callable[..., object]) -> Callable[[], object]:
        def run() -> object:
            with factory() as session:
                return call(session)

        return run

    cases: list[tuple[str, Callable[[], object]]] = [
        ("line_overview", with_session(lambda s: queries.line_overview(s, now))),
        (
            "flagged_samples (unreviewed, top score, 50)",
            with_session(
                lambda s: queries.flagged_samples(s, [line_id], "score_desc", "unreviewed")
            ),
        ),
        (
            "flagged_samples (all, newest, page 100)",
            with_session(
                lambda s: queries.flagged_samples(s, [line_id], "ts_desc", "all", 50, 4950)
            ),
        ),
        (
            "flagged_samples (confirmed only)",
            with_session(
                lambda s: queries.flagged_samples(s, [line_id], "score_desc", "confirmed")
            ),
        ),
        ("sample_detail", with_session(lambda s: queries.sample_detail(s, sample_id))),
        ("threshold_whatif", with_session(lambda s: whatif.threshold_whatif(s, line_id, 0.95))),
    ]
    results = [(name, *_time(fn, repeat)) for name, fn in cases]
    engine.dispose()
    results += _apptest(url, repeat)
    return results


def _apptest(url: str, repeat: int) -> list[tuple[str, float, float]]:
    """Render both pages through AppTest (no cache hits: each run clears st.cache_data)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from app.ui.common import AUTH_KEY

    os.environ["KDMON_DATABASE_URL"] = url
    os.chdir(REPO)
    out = []
    for label, page in [
        ("AppTest render: Overview", None),
        ("AppTest render: Review queue", "app/ui/review_queue.py"),
    ]:

        def render(page: str | None = page) -> None:
            st.cache_data.clear()
            at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=120)
            at.session_state[AUTH_KEY] = {"username": "bench", "logged_in_at": datetime.now(UTC)}
            at.run()
            if page is not None:
                at.switch_page(page)
                st.cache_data.clear()
                at.run()
            assert not at.exception, at.exception

        if page is None:
            out.append((label, *_time(render, repeat)))
        else:
            # time only the page run, not the entry run that registers the navigation
            page_times: list[float] = []

            def page_only(page: str = page, page_times: list[float] = page_times) -> None:
                at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=120)
                at.session_state[AUTH_KEY] = {
                    "username": "bench",
                    "logged_in_at": datetime.now(UTC),
                }
                at.run()
                at.switch_page(page)
                st.cache_data.clear()
                t = time.perf_counter()
                at.run()
                page_times.append(time.perf_counter() - t)
                assert not at.exception, at.exception

            for _ in range(repeat + 1):
                page_only()
            runs = page_times[1:]
            out.append((label, statistics.median(runs), max(runs)))
    return out


def _machine() -> str:
    cpu, py = cpu_name(), platform.python_version()
    return f"{cpu}, {os.cpu_count()} CPUs, Python {py}, {platform.system()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--flag-rate", type=float, default=0.01)
    parser.add_argument("--reviews", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", help="PostgreSQL server URL; a scratch DB is made")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)

    from db.migrate import upgrade

    cleanup: Callable[[], None] = lambda: None  # noqa: E731
    tmp = tempfile.TemporaryDirectory(prefix="kdmon-bench-")
    if args.database_url:
        url, cleanup = fresh_pg_database(args.database_url)
        backend = "PostgreSQL"
    else:
        url = f"sqlite:///{Path(tmp.name) / 'kdmon.db'}"
        backend = "SQLite (WAL)"
    os.environ["KDMON_DATA_DIR"] = tmp.name
    try:
        upgrade(url)
        seeded = _seed(url, args.samples, args.flag_rate, args.reviews)
        print(
            f"seeded {args.samples:,} samples+scores in {seeded['seed_s']:.1f} s "
            f"({seeded['flagged']:,} flagged, {seeded['reviewed']:,} reviewed)",
            flush=True,
        )
        results = _measure(url, int(seeded["line_id"]), int(seeded["sample_id"]), args.repeat)
    finally:
        cleanup()
        tmp.cleanup()
    rows = "\n".join(
        f"| {name} | {median:.3f} | {worst:.3f} | {'yes' if worst < 2 else 'NO'} |"
        for name, median, worst in results
    )
    command = "python -m benchmarks.dashboard_bench " + " ".join(
        a for a in (argv if argv is not None else sys.argv[1:]) if a != "--write-docs"
    )
    section = f"""## Dashboard server time ({backend}, {args.samples:,} scored samples)

Command: `{command.strip()}` · machine: {_machine()} ·
date: {utc_stamp()}.
One line, {seeded["flagged"]:,} flagged ({args.flag_rate:.0%}), {seeded["reviewed"]:,} reviewed;
seeded with bulk inserts in {seeded["seed_s"]:.0f} s. Median and worst of {args.repeat} runs after
a warm-up, caches cleared (target: < 2 s).

| Query / page | median s | worst s | < 2 s |
|---|---|---|---|
{rows}
"""
    print(section)
    if args.write_docs:
        write_section("dashboard", section)
        print(f"updated {DOCS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
