"""Dashboard reads: aggregated and paginated in SQL, returned as dataclasses.

A sample can be scored by several model versions (a retrain rescoring old batches); everywhere
here its *latest* score (highest ``Score.id``) is the one that counts, with the model and the
threshold that produced it. The newest review row of a sample is its current verdict.

Every query is bounded: counts run in the database, pages use LIMIT/OFFSET, and anything that
must be computed in Python (the normal range of a feature) reads a capped recent sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Generic, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, select
from sqlalchemy.orm import Session, aliased

from app.services.errors import NotFoundError, ValidationError
from app.services.models import list_model_versions
from app.services.review import ReviewEntry, current_verdicts, review_history
from db.models import (
    Batch,
    GroundTruth,
    JobRun,
    Line,
    LineView,
    ModelStatus,
    ModelVersion,
    Review,
    RunStatus,
    Sample,
    Score,
    ScoreRollup,
    ThresholdVersion,
    Verdict,
)
from db.timeline import TimelinePoint, line_timeline

T = TypeVar("T")

SortKey = Literal["score_desc", "score_asc", "ts_desc", "ts_asc"]
VerdictFilter = Literal["all", "unreviewed", "confirmed", "dismissed", "unsure"]
SORT_KEYS: tuple[str, ...] = ("score_desc", "score_asc", "ts_desc", "ts_asc")
VERDICT_FILTERS: tuple[str, ...] = ("unreviewed", "all", "confirmed", "dismissed", "unsure")
TRAIN_JOB = "retrain"
SCORE_JOB = "score"
NORMAL_RANGE_SAMPLE = 2000
NEIGHBOURS = 60


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a longer result; ``total`` is the count of the whole filtered set."""

    items: list[T]
    total: int
    limit: int
    offset: int

    @property
    def page_count(self) -> int:
        return max(1, math.ceil(self.total / self.limit)) if self.limit else 1


@dataclass(frozen=True)
class FailedRun:
    job: str
    run_id: int
    finished_at: datetime | None
    error: str


@dataclass(frozen=True)
class LineOverview:
    """One line's health at a glance."""

    line_id: int
    name: str
    description: str
    flagged_today: int
    flagged_week: int
    reviewed_week: int
    flagged_total: int
    open_flags: int
    active_version: int | None
    detector: str | None
    threshold: float | None
    last_training: datetime | None
    last_scoring: datetime | None
    last_batch: datetime | None
    failing: list[FailedRun] = field(default_factory=list)

    @property
    def reviewed_share_week(self) -> float | None:
        """Share of this week's flags that have a verdict (None when nothing was flagged)."""
        return self.reviewed_week / self.flagged_week if self.flagged_week else None


@dataclass(frozen=True)
class FlaggedRow:
    sample_id: int
    line_id: int
    line_name: str
    ts: datetime | None
    score: float
    threshold: float
    model_version: int
    top_features: list[tuple[str, float]]
    verdict: Verdict | None
    reviewer: str | None
    comment: str | None


@dataclass(frozen=True)
class FeatureRow:
    """A feature's value next to the line's normal range (p1..p99 of recent unflagged samples)."""

    name: str
    value: float | None
    unit: str
    p01: float | None
    p99: float | None
    contribution: float | None

    @property
    def outside(self) -> bool:
        if self.value is None or self.p01 is None or self.p99 is None:
            return False
        return not self.p01 <= self.value <= self.p99


@dataclass(frozen=True)
class ScoreRow:
    model_version_id: int
    version: int
    detector: str
    score: float
    threshold: float
    flagged: bool
    scored_at: datetime
    extreme_risk: float | None = None  # None: the detector does not forecast extreme events
    risk_horizon: int | None = None  # steps ahead that ``extreme_risk`` covers

    @property
    def risk_label(self) -> str:
        return risk_label(self.risk_horizon)


@dataclass(frozen=True)
class RiskInfo:
    """A line whose active model forecasts extreme events, and how far ahead."""

    model_version_id: int
    horizon: int | None  # steps; None when the model's stored params do not say

    @property
    def label(self) -> str:
        return risk_label(self.horizon)


def risk_label(horizon: int | None) -> str:
    """How charts and metrics name a risk: its horizon when the model's params say it."""
    ahead = "next steps" if horizon is None else f"next {horizon} steps"
    return f"extreme-event risk ({ahead})"


def _risk_horizon(params: dict[str, Any] | None) -> int | None:
    value = (params or {}).get("risk_horizon")
    return int(value) if isinstance(value, int | float) and value >= 1 else None


@dataclass(frozen=True)
class SeriesPoint:
    sample_id: int
    ts: datetime | None
    score: float
    flagged: bool
    values: dict[str, Any]


@dataclass(frozen=True)
class SampleDetail:
    sample_id: int
    line_id: int
    line_name: str
    batch_id: int
    batch_filename: str
    row_number: int
    ts: datetime | None
    repaired: bool
    latest: ScoreRow | None
    scores: list[ScoreRow]
    features: list[FeatureRow]
    top_features: list[tuple[str, float]]
    neighbours: list[SeriesPoint]
    normal_range_n: int
    history: list[ReviewEntry]

    @property
    def verdict(self) -> Verdict | None:
        return self.history[-1].verdict if self.history else None


@dataclass(frozen=True)
class FlagQuality:
    """How good were the flags, judged against known fault labels (demo lines only)."""

    line_id: int
    n_labelled: int
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float | None:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else None

    @property
    def recall(self) -> float | None:
        faults = self.true_positives + self.false_negatives
        return self.true_positives / faults if faults else None


@dataclass(frozen=True)
class LineChoice:
    line_id: int
    name: str


# --- building blocks ------------------------------------------------------------------------


def _is_latest(score: Any = Score) -> ColumnElement[bool]:
    """True for the newest score row of its sample (no later row for the same sample)."""
    newer = aliased(Score)
    return ~exists(select(newer.id).where(newer.sample_id == score.sample_id, newer.id > score.id))


def _has_review(score: Any = Score) -> ColumnElement[bool]:
    return exists(select(Review.id).where(Review.sample_id == score.sample_id))


def _current_verdict(score: Any = Score) -> Any:
    return (
        select(Review.verdict)
        .where(Review.sample_id == score.sample_id)
        .order_by(Review.id.desc())
        .limit(1)
        .correlate(score)
        .scalar_subquery()
    )


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def day_and_week_start(now: datetime, timezone: str | None) -> tuple[datetime, datetime]:
    """Local midnight today and local Monday 00:00 of this week, in UTC."""
    zone = _zone(timezone)
    local = (_aware(now) or datetime.now(UTC)).astimezone(zone)
    today = datetime.combine(local.date(), time(0), tzinfo=zone)
    week = today - timedelta(days=local.weekday())
    return today.astimezone(UTC), week.astimezone(UTC)


def normalize_top_features(raw: Any) -> list[tuple[str, float]]:
    """Accept the shapes the scorer may write: [[name, value]], [{feature, contribution}], {..}."""
    out: list[tuple[str, float]] = []
    if isinstance(raw, dict):
        raw = list(raw.items())
    for item in raw or []:
        name: Any = None
        value: Any = None
        if isinstance(item, (list, tuple)) and len(item) >= 2:
            name, value = item[0], item[1]
        elif isinstance(item, dict):
            name = item.get("feature", item.get("name"))
            value = item.get("contribution", item.get("value", item.get("score")))
        elif isinstance(item, str):
            name, value = item, float("nan")
        if name is None:
            continue
        try:
            out.append((str(name), float(value)))
        except (TypeError, ValueError):
            out.append((str(name), float("nan")))
    return out


# --- overview -------------------------------------------------------------------------------


def list_line_choices(session: Session) -> list[LineChoice]:
    return [
        LineChoice(i, n) for i, n in session.execute(select(Line.id, Line.name).order_by(Line.name))
    ]


def _last_success(session: Session, line_id: int, job: str) -> datetime | None:
    return session.scalar(
        select(func.max(JobRun.finished_at)).where(
            JobRun.line_id == line_id, JobRun.job == job, JobRun.status == RunStatus.SUCCEEDED
        )
    )


def _failing_runs(session: Session, line_id: int) -> list[FailedRun]:
    """Jobs whose most recent finished run failed (bounded to the last 200 runs)."""
    runs = session.execute(
        select(JobRun.id, JobRun.job, JobRun.status, JobRun.finished_at, JobRun.error)
        .where(
            JobRun.line_id == line_id,
            JobRun.status.in_([RunStatus.SUCCEEDED, RunStatus.FAILED]),
        )
        .order_by(JobRun.id.desc())
        .limit(200)
    ).all()
    seen: set[str] = set()
    failing: list[FailedRun] = []
    for run_id, job, status, finished_at, error in runs:
        if job in seen:
            continue
        seen.add(job)
        if RunStatus(status) == RunStatus.FAILED:
            first_line = (error or "no error message").strip().splitlines()
            failing.append(FailedRun(job, run_id, finished_at, first_line[0] if first_line else ""))
    return failing


def line_overview(session: Session, now: datetime | None = None) -> list[LineOverview]:
    """Per line: today's and this week's flags, review progress, model and job health."""
    now = now or datetime.now(UTC)
    result: list[LineOverview] = []
    for line in session.scalars(select(Line).order_by(Line.name)):
        today, week = day_and_week_start(now, line.timezone)
        when = func.coalesce(Score.ts, Score.scored_at)
        reviewed = _has_review()
        counts = session.execute(
            select(
                func.count(),
                func.sum(case((when >= today, 1), else_=0)),
                func.sum(case((when >= week, 1), else_=0)),
                func.sum(case((and_(when >= week, reviewed), 1), else_=0)),
                func.sum(case((reviewed, 0), else_=1)),
            ).where(Score.line_id == line.id, Score.flagged.is_(True), _is_latest())
        ).one()
        active = session.execute(
            select(
                ModelVersion.id,
                ModelVersion.version,
                ModelVersion.detector,
                ModelVersion.threshold,
                ModelVersion.activated_at,
                ModelVersion.created_at,
            )
            .where(ModelVersion.line_id == line.id, ModelVersion.status == ModelStatus.ACTIVE)
            .limit(1)
        ).first()
        threshold: float | None = None
        if active is not None:
            override = session.scalar(
                select(ThresholdVersion.value)
                .where(ThresholdVersion.model_version_id == active.id)
                .order_by(ThresholdVersion.id.desc())
                .limit(1)
            )
            threshold = float(override if override is not None else active.threshold)
        last_training = _last_success(session, line.id, TRAIN_JOB)
        if last_training is None:
            last_training = session.scalar(
                select(func.max(ModelVersion.created_at)).where(ModelVersion.line_id == line.id)
            )
        last_scoring = _last_success(session, line.id, SCORE_JOB)
        if last_scoring is None:
            last_scoring = session.scalar(
                select(func.max(Batch.scored_at)).where(Batch.line_id == line.id)
            )
        last_batch = session.scalar(
            select(func.max(Batch.received_at)).where(Batch.line_id == line.id)
        )
        total, n_today, n_week, n_reviewed_week, n_open = counts
        result.append(
            LineOverview(
                line_id=line.id,
                name=line.name,
                description=line.description or "",
                flagged_today=int(n_today or 0),
                flagged_week=int(n_week or 0),
                reviewed_week=int(n_reviewed_week or 0),
                flagged_total=int(total or 0),
                open_flags=int(n_open or 0),
                active_version=active.version if active is not None else None,
                detector=active.detector if active is not None else None,
                threshold=threshold,
                last_training=_aware(last_training),
                last_scoring=_aware(last_scoring),
                last_batch=_aware(last_batch),
                failing=_failing_runs(session, line.id),
            )
        )
    return result


# --- review queue ---------------------------------------------------------------------------


def _flagged_query(line_ids: Sequence[int], verdict: str) -> Select[Any]:
    if verdict not in VERDICT_FILTERS:
        raise ValidationError(f"Unknown verdict filter {verdict!r}; use one of {VERDICT_FILTERS}.")
    query = select(Score.id).where(
        Score.line_id.in_(list(line_ids)), Score.flagged.is_(True), _is_latest()
    )
    if verdict == "unreviewed":
        query = query.where(~_has_review())
    elif verdict != "all":
        query = query.where(_current_verdict() == Verdict(verdict).value)
    return query


def flagged_samples(
    session: Session,
    line_ids: Sequence[int],
    sort: SortKey | str = "score_desc",
    verdict: VerdictFilter | str = "unreviewed",
    limit: int = 50,
    offset: int = 0,
) -> Page[FlaggedRow]:
    """Flagged samples (by their latest score) of the given lines, one sorted page."""
    if sort not in SORT_KEYS:
        raise ValidationError(f"Unknown sort {sort!r}; use one of {SORT_KEYS}.")
    limit = max(1, min(int(limit), 1000))
    offset = max(0, int(offset))
    if not line_ids:
        return Page([], 0, limit, offset)
    filtered = _flagged_query(line_ids, verdict)
    total = session.scalar(select(func.count()).select_from(filtered.subquery())) or 0
    order = {
        "score_desc": (Score.score.desc(), Score.id.desc()),
        "score_asc": (Score.score.asc(), Score.id.asc()),
        "ts_desc": (Score.ts.desc(), Score.id.desc()),
        "ts_asc": (Score.ts.asc(), Score.id.asc()),
    }[sort]
    page_rows = session.execute(
        filtered.with_only_columns(
            Score.sample_id,
            Score.line_id,
            Line.name,
            Score.ts,
            Score.score,
            Score.threshold,
            ModelVersion.version,
            Score.top_features,
        )
        .join(Line, Line.id == Score.line_id)
        .join(ModelVersion, ModelVersion.id == Score.model_version_id)
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    ).all()
    verdicts = current_verdicts(session, [r[0] for r in page_rows])
    items = []
    for sample_id, line_id, name, ts, score, threshold, version, top in page_rows:
        current = verdicts.get(sample_id)
        items.append(
            FlaggedRow(
                sample_id=sample_id,
                line_id=line_id,
                line_name=name,
                ts=_aware(ts),
                score=float(score),
                threshold=float(threshold),
                model_version=int(version),
                top_features=normalize_top_features(top),
                verdict=current.verdict if current else None,
                reviewer=current.reviewer if current else None,
                comment=current.comment if current else None,
            )
        )
    return Page(items, int(total), limit, offset)


# --- sample detail --------------------------------------------------------------------------


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def normal_range(
    session: Session, line_id: int, before: datetime | None, columns: Sequence[str]
) -> tuple[dict[str, tuple[float | None, float | None]], int]:
    """p1/p99 per feature over the newest unflagged samples of the line (at most 2,000)."""
    query = (
        select(Sample.values)
        .join(Score, Score.sample_id == Sample.id)
        .where(Score.line_id == line_id, Score.flagged.is_(False))
        .order_by(Score.ts.desc(), Score.id.desc())
        .limit(NORMAL_RANGE_SAMPLE)
    )
    if before is not None:
        query = query.where(Score.ts <= before)
    rows = [r for r in session.scalars(query) if isinstance(r, dict)]
    ranges: dict[str, tuple[float | None, float | None]] = {}
    for column in columns:
        values = sorted(v for v in (_float(r.get(column)) for r in rows) if v is not None)
        ranges[column] = (_percentile(values, 0.01), _percentile(values, 0.99))
    return ranges, len(rows)


def _neighbours(session: Session, sample: Sample, model_version_id: int) -> list[SeriesPoint]:
    """Scores (same model) of the samples just before and after this one in time."""
    base = (
        select(Score.sample_id, Score.ts, Score.score, Score.flagged, Sample.values)
        .join(Sample, Sample.id == Score.sample_id)
        .where(Score.line_id == sample.line_id, Score.model_version_id == model_version_id)
    )
    if sample.ts is None:
        before = base.where(Score.sample_id <= sample.id).order_by(Score.sample_id.desc())
        after = base.where(Score.sample_id > sample.id).order_by(Score.sample_id.asc())
    else:
        before = base.where(Score.ts <= sample.ts).order_by(Score.ts.desc(), Score.id.desc())
        after = base.where(Score.ts > sample.ts).order_by(Score.ts.asc(), Score.id.asc())
    rows = list(session.execute(before.limit(NEIGHBOURS + 1)).all())[::-1]
    rows += list(session.execute(after.limit(NEIGHBOURS)).all())
    return [
        SeriesPoint(sid, _aware(ts), float(score), bool(flagged), dict(values or {}))
        for sid, ts, score, flagged, values in rows
    ]


def sample_detail(session: Session, sample_id: int) -> SampleDetail:
    """Everything a reviewer needs to judge one sample."""
    sample = session.get(Sample, sample_id)
    if sample is None:
        raise NotFoundError(f"No sample {sample_id}.")
    line = session.get(Line, sample.line_id)
    batch = session.get(Batch, sample.batch_id)
    assert line is not None and batch is not None
    score_rows = session.execute(
        select(Score, ModelVersion.version, ModelVersion.detector, ModelVersion.params)
        .join(ModelVersion, ModelVersion.id == Score.model_version_id)
        .where(Score.sample_id == sample_id)
        .order_by(Score.id)
    ).all()
    scores = [
        ScoreRow(
            s.model_version_id,
            int(v),
            d,
            float(s.score),
            float(s.threshold),
            bool(s.flagged),
            s.scored_at,
            None if s.extreme_risk is None else float(s.extreme_risk),
            _risk_horizon(params) if s.extreme_risk is not None else None,
        )
        for s, v, d, params in score_rows
    ]
    latest_score = score_rows[-1][0] if score_rows else None
    top = normalize_top_features(latest_score.top_features) if latest_score else []
    contributions = dict(top)
    columns = [str(c) for c in (line.feature_columns or [])]
    ranges, n_range = normal_range(session, line.id, sample.ts, columns)
    values = sample.values or {}
    units = line.units or {}
    features = [
        FeatureRow(
            name=c,
            value=_float(values.get(c)),
            unit=str(units.get(c, "")),
            p01=ranges[c][0],
            p99=ranges[c][1],
            contribution=contributions.get(c),
        )
        for c in columns
    ]
    neighbours = _neighbours(session, sample, latest_score.model_version_id) if latest_score else []
    return SampleDetail(
        sample_id=sample.id,
        line_id=line.id,
        line_name=line.name,
        batch_id=batch.id,
        batch_filename=batch.filename,
        row_number=sample.row_number,
        ts=_aware(sample.ts),
        repaired=bool(sample.repaired),
        latest=scores[-1] if scores else None,
        scores=scores,
        features=features,
        top_features=top,
        neighbours=neighbours,
        normal_range_n=n_range,
        history=review_history(session, sample.id),
    )


# --- ground truth (demo lines) --------------------------------------------------------------


def flag_quality(session: Session, line_id: int) -> FlagQuality | None:
    """Precision/recall of the latest flags against GroundTruth; None if the line has no labels.

    For the demo plant's evaluation panel only: labels are never read by training.
    """
    has_labels = session.scalar(
        select(GroundTruth.sample_id)
        .join(Sample, Sample.id == GroundTruth.sample_id)
        .where(Sample.line_id == line_id)
        .limit(1)
    )
    if has_labels is None:
        return None
    flagged = Score.flagged.is_(True)
    fault = GroundTruth.is_anomaly.is_(True)
    n, tp, fp, fn = session.execute(
        select(
            func.count(),
            func.sum(case((and_(flagged, fault), 1), else_=0)),
            func.sum(case((and_(flagged, ~fault), 1), else_=0)),
            func.sum(case((and_(~flagged, fault), 1), else_=0)),
        )
        .select_from(Score)
        .join(GroundTruth, GroundTruth.sample_id == Score.sample_id)
        .where(Score.line_id == line_id, _is_latest())
    ).one()
    return FlagQuality(line_id, int(n or 0), int(tp or 0), int(fp or 0), int(fn or 0))


# --- data -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchRow:
    batch_id: int
    line_name: str
    filename: str
    source: str
    received_at: datetime
    n_received: int
    n_accepted: int
    n_repaired: int
    n_rejected: int
    scored_at: datetime | None


def recent_batches(session: Session, limit: int = 50, offset: int = 0) -> Page[BatchRow]:
    """Ingested files, newest first, with their accepted/repaired/rejected counts."""
    limit = max(1, min(int(limit), 500))
    offset = max(0, int(offset))
    total = session.scalar(select(func.count()).select_from(Batch)) or 0
    rows = session.execute(
        select(Batch, Line.name)
        .join(Line, Line.id == Batch.line_id)
        .order_by(Batch.received_at.desc(), Batch.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    items = [
        BatchRow(
            b.id,
            name,
            b.filename,
            b.source,
            _aware(b.received_at) or b.received_at,
            b.n_received,
            b.n_accepted,
            b.n_repaired,
            b.n_rejected,
            _aware(b.scored_at),
        )
        for b, name in rows
    ]
    return Page(items, int(total), limit, offset)


# --- score timeline ---------------------------------------------------------------------------


def score_timeline_for_line(
    session: Session, line_id: int, start: datetime, end: datetime, buckets: int = 500
) -> list[TimelinePoint]:
    """A line's score timeline, downsampled in SQL by :func:`db.timeline.line_timeline`.

    The active model's scores when it scored anything in the range (so a rescored period is
    not counted twice); otherwise every stored score, so a line whose older data was scored by
    a retired model still shows a timeline. Long ranges are read from the hourly rollup.
    """
    active = session.scalar(
        select(ModelVersion.id)
        .where(ModelVersion.line_id == line_id, ModelVersion.status == ModelStatus.ACTIVE)
        .limit(1)
    )
    if active is not None:
        points = line_timeline(
            session, line_id, start, end, buckets=buckets, model_version_id=active
        )
        if points:
            return points
    return line_timeline(session, line_id, start, end, buckets=buckets)


def extreme_risk_info(session: Session, line_id: int) -> RiskInfo | None:
    """Whether the line's active model stores extreme-event risk (None: it does not).

    Judged from what the model stored (its hourly rollup carries a risk), not from its name,
    so any detector with an ``extreme_risk`` method qualifies once it has scored something.
    """
    active = session.execute(
        select(ModelVersion.id, ModelVersion.params)
        .where(ModelVersion.line_id == line_id, ModelVersion.status == ModelStatus.ACTIVE)
        .limit(1)
    ).first()
    if active is None:
        return None
    stored = session.scalar(
        select(
            exists().where(
                ScoreRollup.line_id == line_id,
                ScoreRollup.model_version_id == active.id,
                ScoreRollup.max_risk.is_not(None),
            )
        )
    )
    return RiskInfo(active.id, _risk_horizon(active.params)) if stored else None


# --- models and line settings -----------------------------------------------------------------


@dataclass(frozen=True)
class ModelVersionRow:
    """One trained version of a line's model, detached from the session."""

    id: int
    version: int
    detector: str
    status: ModelStatus
    status_reason: str
    params: dict[str, Any]
    train_start: datetime | None
    train_end: datetime | None
    n_train: int
    n_known_normal: int
    n_known_anomaly: int
    contamination: float | None
    threshold: float
    metrics: dict[str, Any]
    trace: list[dict[str, Any]]
    created_at: datetime
    activated_at: datetime | None


def model_version_rows(session: Session, line_id: int) -> list[ModelVersionRow]:
    """A line's model versions, newest first (via ``app.services.models``)."""
    return [
        ModelVersionRow(
            id=m.id,
            version=m.version,
            detector=m.detector,
            status=ModelStatus(m.status),
            status_reason=m.status_reason or "",
            params=dict(m.params or {}),
            train_start=_aware(m.train_start),
            train_end=_aware(m.train_end),
            n_train=int(m.n_train or 0),
            n_known_normal=int(m.n_known_normal or 0),
            n_known_anomaly=int(m.n_known_anomaly or 0),
            contamination=m.contamination,
            threshold=float(m.threshold),
            metrics=dict(m.metrics or {}),
            trace=[dict(r) for r in (m.trace or []) if isinstance(r, dict)],
            created_at=_aware(m.created_at) or m.created_at,
            activated_at=_aware(m.activated_at),
        )
        for m in list_model_versions(session, line_id)
    ]


@dataclass(frozen=True)
class LineSettings:
    """What an engineer may change about how a line is trained and scored."""

    line_id: int
    name: str
    view: LineView
    detector: str
    detector_params: dict[str, Any]
    contamination: float | None
    training_window_days: int
    reference_start: datetime | None = None
    reference_end: datetime | None = None


def line_settings(session: Session, line_id: int) -> LineSettings:
    line = session.get(Line, line_id)
    if line is None:
        raise NotFoundError(f"No line with id {line_id}.")
    return LineSettings(
        line_id=line.id,
        name=line.name,
        view=LineView(line.view),
        detector=line.detector,
        detector_params=dict(line.detector_params or {}),
        contamination=line.contamination,
        training_window_days=int(line.training_window_days or 0),
        reference_start=line.reference_start,
        reference_end=line.reference_end,
    )
