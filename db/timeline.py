"""Score timelines downsampled in SQL: a few hundred buckets, however many scores are stored.

A chart of ten million points would have to travel from the database and through the browser;
500 buckets carrying min / max / mean score and the flagged count draw the same picture (the
max keeps every spike visible). Buckets are computed from epoch seconds in the database,
dialect-aware: ``extract(epoch ...)`` on PostgreSQL, ``strftime('%s')`` plus the fraction on
SQLite, which stores timestamps as UTC text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Float, Integer, case, cast, extract, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from db.models import Score

MAX_BUCKETS = 10_000


@dataclass(frozen=True)
class TimelinePoint:
    """One bucket ``[start, end)`` with at least one score; empty buckets are left out."""

    start: datetime  # UTC
    end: datetime  # UTC
    n: int
    min_score: float
    max_score: float
    mean_score: float
    n_flagged: int


def _as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC (kdmon stores UTC everywhere)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _epoch_seconds(dialect: str) -> ColumnElement[float]:
    if dialect == "postgresql":
        return cast(extract("epoch", Score.ts), Float)
    if dialect == "sqlite":
        # 'YYYY-MM-DD HH:MM:SS.ffffff': whole seconds from strftime (exact), the fraction from
        # the text; julianday() would be off by tens of microseconds and misplace edge values.
        whole = cast(func.strftime("%s", Score.ts), Integer)
        return whole + cast(func.substr(Score.ts, 20), Float)
    raise NotImplementedError(f"score_timeline does not support the {dialect!r} database")


def score_timeline(
    session: Session,
    line_id: int,
    start: datetime,
    end: datetime,
    buckets: int = 500,
    *,
    model_version_id: int | None = None,
) -> list[TimelinePoint]:
    """Scores of ``line_id`` with ``start <= ts < end`` in ``buckets`` equal time buckets.

    ``model_version_id`` limits the timeline to one model's scores; without it every stored
    score counts, so pass the active model when a line's samples were rescored.
    """
    if not 1 <= buckets <= MAX_BUCKETS:
        raise ValueError(f"buckets must be between 1 and {MAX_BUCKETS}, got {buckets}")
    start, end = _as_utc(start), _as_utc(end)
    if end <= start:
        raise ValueError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
    dialect = session.get_bind().dialect.name
    width = (end - start).total_seconds() / buckets
    offset = (_epoch_seconds(dialect) - start.timestamp()) / width
    index = cast(func.floor(offset), Integer) if dialect == "postgresql" else cast(offset, Integer)
    bucket = index.label("bucket")
    query = (
        select(
            bucket,
            func.count(),
            func.min(Score.score),
            func.max(Score.score),
            func.avg(Score.score),
            func.sum(case((Score.flagged, 1), else_=0)),
        )
        .where(Score.line_id == line_id, Score.ts >= start, Score.ts < end)
        .group_by(bucket)
        .order_by(bucket)
    )
    if model_version_id is not None:
        query = query.where(Score.model_version_id == model_version_id)
    merged: dict[int, list[float]] = {}
    for number, n, low, high, mean, flagged in session.execute(query):
        # float rounding can put the very last instant one bucket too far: fold it back
        number = min(max(int(number), 0), buckets - 1)
        if number in merged:
            acc = merged[number]
            total = acc[0] + n
            acc[3] = (acc[3] * acc[0] + float(mean) * n) / total
            acc[0], acc[1], acc[2], acc[4] = (
                total,
                min(acc[1], low),
                max(acc[2], high),
                acc[4] + flagged,
            )
        else:
            merged[number] = [n, float(low), float(high), float(mean), int(flagged or 0)]
    step = timedelta(seconds=width)
    return [
        TimelinePoint(
            start=start + step * number,
            end=min(end, start + step * (number + 1)),
            n=int(acc[0]),
            min_score=acc[1],
            max_score=acc[2],
            mean_score=acc[3],
            n_flagged=int(acc[4]),
        )
        for number, acc in sorted(merged.items())
    ]
