"""score_timeline: buckets, statistics and edges, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from db.engine import unit_of_work
from db.models import Batch, Line, Sample, Score
from db.timeline import score_timeline
from tests.seeding import add_model

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _store(session: Session, scores: list[tuple[int, float, bool]], model_versions: int = 1):
    """Scores at T0 + seconds; returns (line_id, [model ids])."""
    line = Line(name="l", feature_columns=["x"], units={})
    session.add(line)
    session.flush()
    batch = Batch(
        line_id=line.id, source="cli", filename="f", sha256="0" * 64, raw_path="r", size_bytes=1
    )
    session.add(batch)
    session.flush()
    models = []
    for version in range(1, model_versions + 1):
        models.append(add_model(session, line.id, version))
    session.execute(
        insert(Sample),
        [
            {
                "line_id": line.id,
                "batch_id": batch.id,
                "row_number": i + 1,
                "ts": T0 + timedelta(seconds=s),
                "values": {"x": 0.0},
                "repaired": False,
            }
            for i, (s, _v, _f) in enumerate(scores)
        ],
    )
    ids = list(
        session.scalars(Sample.__table__.select().with_only_columns(Sample.id).order_by(Sample.id))
    )
    rows = []
    for model_id in models:
        for sample_id, (s, value, flagged) in zip(ids, scores, strict=True):
            rows.append(
                {
                    "sample_id": sample_id,
                    "line_id": line.id,
                    "model_version_id": model_id,
                    "ts": T0 + timedelta(seconds=s),
                    "score": value + (model_id - models[0]),
                    "threshold": 0.5,
                    "flagged": flagged,
                }
            )
    session.execute(insert(Score), rows)
    return line.id, models


def test_buckets_carry_min_max_mean_and_flag_counts(session_factory: sessionmaker[Session]) -> None:
    data = [(0, 0.1, False), (5, 0.9, True), (9, 0.2, False), (10, 0.4, False), (35, 0.8, True)]
    with unit_of_work(session_factory) as session:
        line_id, _ = _store(session, data)
    with session_factory() as session:
        points = score_timeline(session, line_id, T0, T0 + timedelta(seconds=40), buckets=4)
    assert [(p.start, p.end) for p in points] == [
        (T0, T0 + timedelta(seconds=10)),
        (T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)),
        (T0 + timedelta(seconds=30), T0 + timedelta(seconds=40)),
    ]  # the empty bucket 20-30 s is left out
    first = points[0]
    assert (first.n, first.min_score, first.max_score, first.n_flagged) == (3, 0.1, 0.9, 1)
    assert first.mean_score == pytest.approx(0.4)
    assert (points[1].n, points[2].n_flagged) == (1, 1)


def test_range_is_half_open_and_time_zones_are_respected(
    session_factory: sessionmaker[Session],
) -> None:
    data = [(0, 0.1, False), (3600, 0.2, False), (7200, 0.3, True)]
    with unit_of_work(session_factory) as session:
        line_id, _ = _store(session, data)
    berlin = timezone(timedelta(hours=1))
    with session_factory() as session:
        # 01:00+01:00 is T0; end 03:00+01:00 is T0 + 2 h, excluded
        points = score_timeline(
            session,
            line_id,
            datetime(2024, 1, 1, 1, tzinfo=berlin),
            datetime(2024, 1, 1, 3, tzinfo=berlin),
            buckets=2,
        )
        naive = score_timeline(
            session, line_id, datetime(2024, 1, 1), datetime(2024, 1, 1, 3), buckets=500
        )
    assert [p.n for p in points] == [1, 1]
    assert points[0].start == T0 and points[0].start.tzinfo is not None
    assert sum(p.n for p in naive) == 3 and naive[-1].n_flagged == 1


def test_model_version_filter_and_empty_and_bad_arguments(
    session_factory: sessionmaker[Session],
) -> None:
    with unit_of_work(session_factory) as session:
        line_id, models = _store(session, [(1, 0.1, False), (2, 0.3, False)], model_versions=2)
    end = T0 + timedelta(minutes=1)
    with session_factory() as session:
        both = score_timeline(session, line_id, T0, end, buckets=1)
        second = score_timeline(session, line_id, T0, end, buckets=1, model_version_id=models[1])
        assert score_timeline(session, line_id + 1, T0, end) == []
        with pytest.raises(ValueError, match="after start"):
            score_timeline(session, line_id, end, T0)
        with pytest.raises(ValueError, match="buckets"):
            score_timeline(session, line_id, T0, end, buckets=0)
    assert both[0].n == 4
    assert (second[0].n, second[0].min_score, second[0].max_score) == (2, 1.1, 1.3)


def test_last_instant_before_end_lands_in_last_bucket(
    session_factory: sessionmaker[Session],
) -> None:
    with unit_of_work(session_factory) as session:
        line_id, _ = _store(session, [(0, 0.5, False), (2, 0.6, False)])
    with session_factory() as session:
        points = score_timeline(
            session, line_id, T0, T0 + timedelta(seconds=2, microseconds=1), buckets=3
        )
    assert sum(p.n for p in points) == 2
    assert points[-1].end == T0 + timedelta(seconds=2, microseconds=1)
