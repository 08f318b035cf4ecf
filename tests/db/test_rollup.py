"""The hourly score rollup: kept by add_scores / rebuild_model, read by rollup_timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from db.engine import unit_of_work
from db.models import Batch, Line, Sample, Score, ScoreRollup
from db.rollup import add_scores, aggregate, hour_of, rebuild_model
from db.timeline import ROLLUP_MIN_SPAN, line_timeline, rollup_timeline, score_timeline
from tests.seeding import add_model

T0 = datetime(2024, 3, 1, tzinfo=UTC)
SPAN = timedelta(days=5)


def _line_and_models(session: Session, n_models: int = 1) -> tuple[int, list[int]]:
    """A line (inserted with the columns every schema since 0001 has, so the migration tests
    can seed an old schema) and ``n_models`` model versions."""
    line_id = session.execute(
        insert(Line).values(name="l", feature_columns=["x"], units={}).returning(Line.id)
    ).scalar_one()
    ids = []
    for version in range(1, n_models + 1):
        ids.append(add_model(session, line_id, version, threshold=0.9))
    return line_id, ids


def _score_rows(
    session: Session, line_id: int, model_id: int, seconds: np.ndarray, seed: int
) -> list[dict[str, Any]]:
    """Samples at T0 + seconds and their score rows (not yet inserted); some risks are NULL."""
    batch = Batch(
        line_id=line_id,
        source="cli",
        filename=f"f{seed}",
        sha256=f"{seed:064d}",
        raw_path="r",
        size_bytes=1,
    )
    session.add(batch)
    session.flush()
    times = [T0 + timedelta(seconds=float(s)) for s in seconds]
    session.execute(
        insert(Sample),
        [
            {"line_id": line_id, "batch_id": batch.id, "row_number": i + 1, "ts": ts, "values": {}}
            for i, ts in enumerate(times)
        ],
    )
    ids = session.scalars(select(Sample.id).where(Sample.batch_id == batch.id).order_by(Sample.id))
    rng = np.random.default_rng(seed)
    scores = rng.random(len(times))
    risks = rng.random(len(times))
    return [
        {
            "sample_id": sid,
            "line_id": line_id,
            "model_version_id": model_id,
            "ts": ts,
            "score": float(score),
            "threshold": 0.9,
            "flagged": bool(score >= 0.9),
            "top_features": [],
            "extreme_risk": None if i % 3 == 0 else float(risk),
        }
        for i, (sid, ts, score, risk) in enumerate(zip(ids, times, scores, risks, strict=True))
    ]


def _write(session: Session, rows: list[dict[str, Any]]) -> None:
    session.execute(insert(Score), rows)
    add_scores(session, rows)


def _seconds(n: int, seed: int) -> np.ndarray:
    """Random instants in [T0, T0 + SPAN) with microseconds, some on exact hour edges."""
    rng = np.random.default_rng(seed)
    seconds = np.round(rng.random(n) * SPAN.total_seconds(), 6)
    seconds[:5] = [0, 3600, 7200 - 1e-6, 86_400, SPAN.total_seconds() - 1e-6]
    return seconds


def _key(p: Any) -> tuple[Any, ...]:
    return (p.start, p.end, p.n, p.n_flagged, p.min_score, p.max_score, p.max_risk)


def _assert_same(rolled: list[Any], raw: list[Any]) -> None:
    assert [_key(p) for p in rolled] == [_key(p) for p in raw]
    assert [p.mean_score for p in rolled] == pytest.approx([p.mean_score for p in raw])


def test_batches_merged_into_the_rollup_give_the_raw_timeline(
    session_factory: sessionmaker[Session],
) -> None:
    with unit_of_work(session_factory) as session:
        line_id, (model_id,) = _line_and_models(session)
        rows = _score_rows(session, line_id, model_id, _seconds(3000, 1), seed=1)
        # three scoring batches that share hours: merged by the upsert, not overwritten
        for part in (rows[:1000], rows[1000:2200], rows[2200:]):
            _write(session, part)
    end = T0 + SPAN
    with session_factory() as session:
        for buckets in (120, 60, 24, 5):  # whole hours per bucket: 1, 2, 5, 24
            rolled = rollup_timeline(session, line_id, T0, end, buckets, model_version_id=model_id)
            raw = score_timeline(session, line_id, T0, end, buckets, model_version_id=model_id)
            _assert_same(rolled, raw)
        stored = session.scalar(select(ScoreRollup.n).order_by(ScoreRollup.bucket_hour).limit(1))
    assert sum(p.n for p in raw) == 3000 and any(p.max_risk is None for p in rolled) is False
    assert stored == sum(1 for r in rows if hour_of(r["ts"]) == hour_of(T0))


def test_ranges_that_cut_hours_are_exact_and_buckets_say_what_they_cover(
    session_factory: sessionmaker[Session],
) -> None:
    with unit_of_work(session_factory) as session:
        line_id, models = _line_and_models(session, n_models=2)
        for seed, model_id in enumerate(models, start=2):
            _write(session, _score_rows(session, line_id, model_id, _seconds(1500, seed), seed))
    start = T0 + timedelta(hours=5, minutes=17, microseconds=3)
    end = T0 + timedelta(days=4, hours=2, minutes=41)
    with session_factory() as session:
        rolled = rollup_timeline(session, line_id, start, end, 100)
        raw = score_timeline(session, line_id, start, end, 1)[0]
        one_model = rollup_timeline(session, line_id, start, end, 100, model_version_id=models[1])
        inside = rollup_timeline(session, line_id, start, start + timedelta(minutes=20), 10)
        inside_raw = score_timeline(session, line_id, start, start + timedelta(minutes=20), 1)
    assert len(rolled) <= 100
    assert rolled[0].start == start and rolled[-1].end == end
    assert all(a.end <= b.start for a, b in zip(rolled, rolled[1:], strict=False))
    assert all((p.end - p.start) <= timedelta(hours=2) for p in rolled)  # 93 h in <= 100 buckets
    assert sum(p.n for p in rolled) == raw.n and sum(p.n_flagged for p in rolled) == raw.n_flagged
    assert max(p.max_score for p in rolled) == raw.max_score
    assert min(p.min_score for p in rolled) == raw.min_score
    assert max(p.max_risk or 0 for p in rolled) == raw.max_risk
    assert 0 < sum(p.n for p in one_model) < raw.n
    assert sum(p.n for p in inside) == inside_raw[0].n if inside_raw else not inside


def test_rebuild_follows_scores_rewritten_in_place(session_factory: sessionmaker[Session]) -> None:
    with unit_of_work(session_factory) as session:
        line_id, (model_id,) = _line_and_models(session)
        _write(session, _score_rows(session, line_id, model_id, _seconds(800, 4), seed=4))
        session.execute(
            update(Score)
            .where(Score.model_version_id == model_id)
            .values(flagged=Score.score >= 0.5)
        )
        rebuild_model(session, model_id)
    with session_factory() as session:
        rolled = rollup_timeline(session, line_id, T0, T0 + SPAN, 60, model_version_id=model_id)
        raw = score_timeline(session, line_id, T0, T0 + SPAN, 60, model_version_id=model_id)
    _assert_same(rolled, raw)
    assert sum(p.n_flagged for p in raw) > 300  # about half of 800 now, not the 10% of before


def test_line_timeline_reads_the_rollup_only_for_long_ranges(
    session_factory: sessionmaker[Session],
) -> None:
    with unit_of_work(session_factory) as session:
        line_id, (model_id,) = _line_and_models(session)
        rows = _score_rows(session, line_id, model_id, _seconds(300, 5), seed=5)
        session.execute(insert(Score), rows)  # written without the rollup on purpose
    short = ROLLUP_MIN_SPAN
    with session_factory() as session:
        assert sum(p.n for p in line_timeline(session, line_id, T0, T0 + short)) > 0
        assert line_timeline(session, line_id, T0, T0 + short + timedelta(seconds=1)) == []
        with pytest.raises(ValueError, match="after start"):
            rollup_timeline(session, line_id, T0 + SPAN, T0)


def test_aggregate_floors_hours_and_skips_rows_without_time() -> None:
    before_epoch = datetime(1969, 12, 31, 23, 30, tzinfo=UTC)
    assert hour_of(before_epoch) == -1 and hour_of(datetime(1970, 1, 1, 1)) == 1
    rows = [
        {"line_id": 1, "model_version_id": 2, "ts": T0, "score": 0.2, "flagged": False},
        {"line_id": 1, "model_version_id": 2, "ts": T0, "score": 0.8, "flagged": True},
        {"line_id": 1, "model_version_id": 2, "ts": None, "score": 5.0, "flagged": True},
    ]
    ((key, acc),) = aggregate(rows).items()
    assert key == (1, 2, hour_of(T0))
    assert (acc.n, acc.n_flagged, acc.min_score, acc.max_score, acc.max_risk) == (
        2,
        1,
        0.2,
        0.8,
        None,
    )
