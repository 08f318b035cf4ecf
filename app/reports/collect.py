"""Gather a report's content with a handful of grouped SQL queries.

A sample scored more than once (a model rescored it) counts once, with its newest score; the
current verdict of a sample is its newest review. Timelines are bucketed in SQL, so a month
of five-second samples comes back as at most ``TIMELINE_MAX_BUCKETS`` points per line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    Subquery,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from app.reports.data import (
    FlaggedSample,
    LineKpis,
    LineReport,
    ModelInForce,
    ReportData,
    TimelineBucket,
)
from app.reports.request import ReportRequest
from app.services.errors import NotFoundError
from app.services.lines import list_line_names
from app.services.thresholds import active_model, current_threshold
from db.models import Line, ModelVersion, Review, Score, Verdict

TIMELINE_MAX_BUCKETS = 300
# Bucket widths people read at a glance; the smallest one giving <= TIMELINE_MAX_BUCKETS wins.
_NICE_BUCKET_SECONDS = (
    1, 5, 10, 30, 60, 120, 300, 600, 900, 1800,
    3600, 7200, 10800, 21600, 43200, 86400, 2 * 86400, 7 * 86400,
)  # fmt: skip


def collect_report(
    session: Session,
    request: ReportRequest,
    *,
    flagged_limit: int | None = None,
    now: datetime | None = None,
) -> ReportData:
    """Everything the renderers need for ``request``.

    ``flagged_limit`` keeps only the most anomalous flagged samples (highest score above
    threshold), for a PDF-only report; KPIs always count all of them.
    """
    lines = _lines_by_name(session, request.lines)
    ids = [line.id for line in lines]
    effective = _effective_scores(ids, request)
    reviews = _current_reviews(effective)
    width = bucket_seconds_for(request.start, request.end)
    kpis = _kpis(session, effective, reviews)
    models = _models(session, effective)
    timelines = _timelines(session, effective, request, width)
    reports = []
    for line in lines:
        threshold = current_threshold(session, line.id)
        model = active_model(session, line.id)
        reports.append(
            LineReport(
                line_id=line.id,
                name=line.name,
                models=tuple(models.get(line.id, ())),
                active_version=model.version if model is not None else None,
                current_threshold=threshold.value if threshold is not None else None,
                kpis=kpis.get(line.id, LineKpis()),
                timeline=tuple(timelines.get(line.id, ())),
            )
        )
    flagged = _flagged(session, effective, reviews, flagged_limit)
    order = {name: i for i, name in enumerate(request.lines)}
    flagged.sort(key=lambda f: (order.get(f.line, len(order)), f.ts, f.sample_id))
    return ReportData(
        request=request,
        generated_at=(now or datetime.now(UTC)).astimezone(UTC),
        lines=tuple(reports),
        flagged=tuple(flagged),
        bucket_seconds=width,
    )


def bucket_seconds_for(start: datetime, end: datetime) -> int:
    raw = (end - start).total_seconds() / TIMELINE_MAX_BUCKETS
    for seconds in _NICE_BUCKET_SECONDS:
        if seconds >= raw:
            return seconds
    return math.ceil(raw / 86400) * 86400


def _lines_by_name(session: Session, names: Sequence[str]) -> list[Line]:
    found = {line.name: line for line in session.scalars(select(Line).where(Line.name.in_(names)))}
    missing = [n for n in names if n not in found]
    if missing:
        known = ", ".join(list_line_names(session)) or "none yet"
        raise NotFoundError(
            f"No line(s) {', '.join(repr(n) for n in missing)}. Known lines: {known}."
        )
    return [found[n] for n in names]


def _event_time() -> ColumnElement[datetime]:
    # Lines without a timestamp column have no sample time; their scoring time stands in.
    return func.coalesce(Score.ts, Score.scored_at, type_=DateTime(timezone=True))


def _effective_scores(line_ids: list[int], request: ReportRequest) -> Subquery:
    """Ids of the newest score of each sample of the lines in the period."""
    in_period = or_(
        and_(Score.ts >= request.start, Score.ts < request.end),
        and_(Score.ts.is_(None), Score.scored_at >= request.start, Score.scored_at < request.end),
    )
    return (
        select(func.max(Score.id).label("id"))
        .where(Score.line_id.in_(line_ids), in_period)
        .group_by(Score.sample_id)
        .subquery("effective")
    )


def _current_reviews(effective: Subquery) -> Subquery:
    """The newest review id of each flagged sample in the period (reviews are append-only)."""
    flagged_samples = (
        select(Score.sample_id).join(effective, Score.id == effective.c.id).where(Score.flagged)
    )
    return (
        select(Review.sample_id, func.max(Review.id).label("review_id"))
        .where(Review.sample_id.in_(flagged_samples))
        .group_by(Review.sample_id)
        .subquery("current_review")
    )


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _kpis(session: Session, effective: Subquery, reviews: Subquery) -> dict[int, LineKpis]:
    flagged = Score.flagged.is_(True)

    def verdict(v: Verdict) -> ColumnElement[int]:
        return _count_if(and_(flagged, Review.verdict == v))

    stmt = (
        select(
            Score.line_id,
            func.count(),
            _count_if(flagged),
            _count_if(and_(flagged, Review.id.is_not(None))),
            verdict(Verdict.CONFIRMED),
            verdict(Verdict.DISMISSED),
            verdict(Verdict.UNSURE),
        )
        .select_from(Score)
        .join(effective, Score.id == effective.c.id)
        .outerjoin(reviews, reviews.c.sample_id == Score.sample_id)
        .outerjoin(Review, Review.id == reviews.c.review_id)
        .group_by(Score.line_id)
    )
    return {row[0]: LineKpis(*(int(v) for v in row[1:])) for row in session.execute(stmt).tuples()}


def _models(session: Session, effective: Subquery) -> dict[int, list[ModelInForce]]:
    stmt = (
        select(
            Score.line_id,
            ModelVersion.version,
            ModelVersion.detector,
            func.count(),
            func.min(Score.threshold),
            func.max(Score.threshold),
        )
        .join(effective, Score.id == effective.c.id)
        .join(ModelVersion, ModelVersion.id == Score.model_version_id)
        .group_by(Score.line_id, ModelVersion.version, ModelVersion.detector)
        .order_by(Score.line_id, ModelVersion.version)
    )
    result: dict[int, list[ModelInForce]] = {}
    for line_id, version, detector, n, lo, hi in session.execute(stmt).tuples():
        result.setdefault(line_id, []).append(
            ModelInForce(int(version), str(detector), int(n), float(lo), float(hi))
        )
    return result


def _bucket_index(session: Session, start: datetime, width: int) -> ColumnElement[int]:
    """Which ``width``-second bucket after ``start`` a score falls in, computed by the database."""
    when = _event_time()
    if session.get_bind().dialect.name == "sqlite":
        # SQLite keeps UTC times as text. Whole epoch seconds and integer division are exact
        # (julianday's floating point put samples on a bucket edge into the bucket before).
        origin = int(start.timestamp())
        seconds = cast(func.strftime("%s", when), Integer) - origin
        return seconds // width
    seconds = extract("epoch", when - literal(start, DateTime(timezone=True)))
    return cast(func.floor(seconds / width), Integer)


def _timelines(
    session: Session, effective: Subquery, request: ReportRequest, width: int
) -> dict[int, list[TimelineBucket]]:
    n_buckets = max(1, math.ceil((request.end - request.start).total_seconds() / width))
    scores = (
        select(
            Score.line_id,
            Score.score,
            Score.threshold,
            case((Score.flagged.is_(True), 1), else_=0).label("flag"),
            _bucket_index(session, request.start, width).label("bucket"),
        )
        .join(effective, Score.id == effective.c.id)
        .subquery("bucketed")
    )
    stmt = (
        select(
            scores.c.line_id,
            scores.c.bucket,
            func.count(),
            func.sum(scores.c.score),
            func.max(scores.c.score),
            func.max(scores.c.threshold),
            func.sum(scores.c.flag),
        )
        .group_by(scores.c.line_id, scores.c.bucket)
        .order_by(scores.c.line_id, scores.c.bucket)
    )
    # Rounding at a bucket edge may yield -1 or n: fold those into the first or last bucket.
    merged: dict[tuple[int, int], list[float]] = {}
    for line_id, bucket, n, total, hi, threshold, flags in session.execute(stmt).tuples():
        key = (int(line_id), min(max(int(bucket), 0), n_buckets - 1))
        acc = merged.get(key)
        if acc is None:
            merged[key] = [int(n), float(total), float(hi), float(threshold), int(flags)]
        else:
            acc[0] += int(n)
            acc[1] += float(total)
            acc[2] = max(acc[2], float(hi))
            acc[3] = max(acc[3], float(threshold))
            acc[4] += int(flags)
    result: dict[int, list[TimelineBucket]] = {}
    for (line_id, bucket), (n, total, hi, threshold, flags) in sorted(merged.items()):
        result.setdefault(line_id, []).append(
            TimelineBucket(
                start=request.start + timedelta(seconds=bucket * width),
                samples=int(n),
                mean_score=total / n,
                max_score=hi,
                threshold=threshold,
                flagged=int(flags),
            )
        )
    return result


def _flagged(
    session: Session, effective: Subquery, reviews: Subquery, limit: int | None
) -> list[FlaggedSample]:
    when = _event_time()
    stmt = (
        select(
            Score.sample_id,
            Line.name,
            when,
            Score.score,
            Score.threshold,
            ModelVersion.version,
            Review.verdict,
            Review.reviewer,
            Review.created_at,
            Review.comment,
            Score.top_features,
            Score.extreme_risk,
        )
        .select_from(Score)
        .join(effective, Score.id == effective.c.id)
        .join(Line, Line.id == Score.line_id)
        .join(ModelVersion, ModelVersion.id == Score.model_version_id)
        .outerjoin(reviews, reviews.c.sample_id == Score.sample_id)
        .outerjoin(Review, Review.id == reviews.c.review_id)
        .where(Score.flagged.is_(True))
    )
    if limit is not None:
        stmt = stmt.order_by((Score.score - Score.threshold).desc(), Score.sample_id).limit(limit)
    return [
        FlaggedSample(
            sample_id=int(sample_id),
            line=name,
            ts=_utc(ts),
            score=float(score),
            threshold=float(threshold),
            model_version=int(version),
            verdict=Verdict(verdict).value if verdict is not None else None,
            reviewer=reviewer,
            reviewed_at=_utc(reviewed_at) if reviewed_at is not None else None,
            comment=comment,
            top_features=_features(top),
            extreme_risk=None if risk is None else float(risk),
        )
        for (
            sample_id,
            name,
            ts,
            score,
            threshold,
            version,
            verdict,
            reviewer,
            reviewed_at,
            comment,
            top,
            risk,
        ) in session.execute(stmt).tuples()
    ]


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; kdmon stores UTC everywhere."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _features(raw: Any) -> tuple[tuple[str, float], ...]:
    """``[{feature, contribution}, ...]`` as pairs; malformed entries are skipped, not fatal."""
    if not isinstance(raw, Iterable) or isinstance(raw, (str, bytes, dict)):
        return ()
    pairs = []
    for item in raw:
        if isinstance(item, dict) and "feature" in item:
            try:
                pairs.append((str(item["feature"]), float(item.get("contribution", math.nan))))
            except (TypeError, ValueError):
                continue
    return tuple(pairs)
