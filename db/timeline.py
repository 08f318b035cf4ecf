"""Score timelines downsampled in SQL: a few hundred buckets, however many scores are stored.

A chart of ten million points would have to travel from the database and through the browser;
500 buckets carrying min / max / mean score and the flagged count draw the same picture (the
max keeps every spike visible). Buckets are computed from epoch seconds in the database,
dialect-aware: ``extract(epoch ...)`` on PostgreSQL, ``strftime('%s')`` plus the fraction on
SQLite, which stores timestamps as UTC text.

Even grouped in SQL, a range's cost grows with the scores in it (seconds for months of 1 Hz
data), so :func:`line_timeline` answers ranges longer than ``ROLLUP_MIN_SPAN`` from the hourly
``score_rollup`` instead, with whole-hour buckets: the rows read grow with hours, not scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Float, Integer, case, cast, extract, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from db.models import Score, ScoreRollup
from db.rollup import EPOCH, HOUR, hour_of

MAX_BUCKETS = 10_000
ROLLUP_MIN_SPAN = timedelta(days=3)


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
    max_risk: float | None = None  # highest extreme-event risk; None: no risk was stored


@dataclass(frozen=True)
class _Bucket:
    """Running totals of one bucket, mergeable (the mean is kept as a sum)."""

    n: int
    low: float
    high: float
    total: float
    flagged: int
    risk: float | None

    def merge(self, other: _Bucket) -> _Bucket:
        risks = [r for r in (self.risk, other.risk) if r is not None]
        return _Bucket(
            self.n + other.n,
            min(self.low, other.low),
            max(self.high, other.high),
            self.total + other.total,
            self.flagged + other.flagged,
            max(risks) if risks else None,
        )

    def point(self, start: datetime, end: datetime) -> TimelinePoint:
        return TimelinePoint(
            start=start,
            end=end,
            n=self.n,
            min_score=self.low,
            max_score=self.high,
            mean_score=self.total / self.n,
            n_flagged=self.flagged,
            max_risk=None if self.risk is None else float(self.risk),
        )


def _as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC (kdmon stores UTC everywhere)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _epoch_seconds(dialect: str) -> ColumnElement[float]:
    if dialect == "postgresql":
        return cast(extract("epoch", Score.ts), Float)
    if dialect == "sqlite":
        # 'YYYY-MM-DD HH:MM:SS.ffffff': whole seconds from strftime, the fraction from the text;
        # julianday() would be off by tens of microseconds and misplace edge values. strftime
        # only sees the first 19 characters: it rounds to milliseconds, so 59.9999995 s would
        # otherwise become the next second.
        whole = cast(func.strftime("%s", func.substr(Score.ts, 1, 19)), Integer)
        return whole + cast(func.substr(Score.ts, 20), Float)
    raise NotImplementedError(f"score_timeline does not support the {dialect!r} database")


def _check_range(start: datetime, end: datetime, buckets: int) -> tuple[datetime, datetime]:
    if not 1 <= buckets <= MAX_BUCKETS:
        raise ValueError(f"buckets must be between 1 and {MAX_BUCKETS}, got {buckets}")
    start, end = _as_utc(start), _as_utc(end)
    if end <= start:
        raise ValueError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
    return start, end


def line_timeline(
    session: Session,
    line_id: int,
    start: datetime,
    end: datetime,
    buckets: int = 500,
    *,
    model_version_id: int | None = None,
) -> list[TimelinePoint]:
    """The timeline a dashboard should draw: raw scores for short ranges, the rollup beyond."""
    if _as_utc(end) - _as_utc(start) > ROLLUP_MIN_SPAN:
        return rollup_timeline(
            session, line_id, start, end, buckets, model_version_id=model_version_id
        )
    return score_timeline(session, line_id, start, end, buckets, model_version_id=model_version_id)


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
    start, end = _check_range(start, end, buckets)
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
            func.max(Score.extreme_risk),
        )
        .where(Score.line_id == line_id, Score.ts >= start, Score.ts < end)
        .group_by(bucket)
        .order_by(bucket)
    )
    if model_version_id is not None:
        query = query.where(Score.model_version_id == model_version_id)
    merged: dict[int, _Bucket] = {}
    for number, n, low, high, mean, flagged, risk in session.execute(query):
        # float rounding can put the very last instant one bucket too far: fold it back
        number = min(max(int(number), 0), buckets - 1)
        part = _Bucket(int(n), float(low), float(high), float(mean) * n, int(flagged or 0), risk)
        merged[number] = merged[number].merge(part) if number in merged else part
    step = timedelta(seconds=width)
    return [
        merged[number].point(start + step * number, min(end, start + step * (number + 1)))
        for number in sorted(merged)
    ]


def _edge(
    session: Session, line_id: int, start: datetime, end: datetime, model_version_id: int | None
) -> _Bucket | None:
    """Raw scores of a part-hour at either end of a rollup range, as one bucket."""
    query = select(
        func.count(),
        func.min(Score.score),
        func.max(Score.score),
        func.sum(Score.score),
        func.sum(case((Score.flagged, 1), else_=0)),
        func.max(Score.extreme_risk),
    ).where(Score.line_id == line_id, Score.ts >= start, Score.ts < end)
    if model_version_id is not None:
        query = query.where(Score.model_version_id == model_version_id)
    n, low, high, total, flagged, risk = session.execute(query).one()
    if not n:
        return None
    return _Bucket(int(n), float(low), float(high), float(total), int(flagged or 0), risk)


def rollup_timeline(
    session: Session,
    line_id: int,
    start: datetime,
    end: datetime,
    buckets: int = 500,
    *,
    model_version_id: int | None = None,
) -> list[TimelinePoint]:
    """Like :func:`score_timeline`, read from ``score_rollup``, in buckets of whole hours.

    Buckets are aligned to UTC hours, as wide as needed to stay within ``buckets``; the part
    hours at the ends of the range come from raw scores, so counts are exact for the range.
    Points' ``start``/``end`` say exactly what each bucket covers (clipped to the range).
    """
    start, end = _check_range(start, end, buckets)
    first = hour_of(start)  # the hour holding ``start``: bucket 0 begins there
    last = hour_of(end)  # the hour holding ``end``: only its part before ``end`` counts
    touched = last - first + (1 if EPOCH + HOUR * last < end else 0)
    width = -(-touched // buckets)  # hours per bucket, rounded up
    full_from = first if EPOCH + HOUR * first == start else first + 1
    bucket = ((ScoreRollup.bucket_hour - first) // width).label("bucket")
    query = (
        select(
            bucket,
            func.sum(ScoreRollup.n),
            func.min(ScoreRollup.min_score),
            func.max(ScoreRollup.max_score),
            func.sum(ScoreRollup.sum_score),
            func.sum(ScoreRollup.n_flagged),
            func.max(ScoreRollup.max_risk),
        )
        .where(
            ScoreRollup.line_id == line_id,
            ScoreRollup.bucket_hour >= full_from,
            ScoreRollup.bucket_hour < last,
        )
        .group_by(bucket)
    )
    if model_version_id is not None:
        query = query.where(ScoreRollup.model_version_id == model_version_id)
    merged: dict[int, _Bucket] = {
        int(number): _Bucket(int(n), float(low), float(high), float(total), int(flagged), risk)
        for number, n, low, high, total, flagged, risk in session.execute(query)
    }
    edges = []
    if full_from != first:  # ``start`` falls inside an hour
        edges.append((start, min(end, EPOCH + HOUR * full_from), 0))
    if EPOCH + HOUR * last < end and EPOCH + HOUR * last >= start:
        edges.append((EPOCH + HOUR * last, end, (last - first) // width))
    for edge_start, edge_end, number in edges:
        part = _edge(session, line_id, edge_start, edge_end, model_version_id)
        if part is not None:
            merged[number] = merged[number].merge(part) if number in merged else part
    return [
        merged[number].point(
            max(start, EPOCH + HOUR * (first + number * width)),
            min(end, EPOCH + HOUR * (first + (number + 1) * width)),
        )
        for number in sorted(merged)
    ]
