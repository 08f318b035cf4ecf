"""Threshold what-if: what a different threshold would have done to a line's past flags.

Computed in SQL over the scores of the line's active model (the scores a threshold change
re-flags), with reviewers' verdicts joined in: how many flags appear or disappear, how many
confirmed anomalies would be missed and how many dismissed false alarms would go away. A sample
is flagged when ``score >= threshold`` (the rule ``thresholds.set_threshold`` applies).
Saving goes through ``app.services.thresholds.set_threshold`` and is audited here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Integer, and_, case, cast, func, select
from sqlalchemy.orm import Session

from app.services import audit
from app.services.auth import Actor, require
from app.services.errors import NotFoundError, ValidationError
from db.models import ModelStatus, ModelVersion, Review, Role, Score, ThresholdVersion, Verdict


@dataclass(frozen=True)
class WhatIf:
    line_id: int
    model_version_id: int
    model_version: int
    current_threshold: float
    candidate: float
    n_scored: int
    flagged_now: int
    flagged_at_candidate: int
    newly_flagged: int
    no_longer_flagged: int
    confirmed_total: int
    confirmed_missed: int  # confirmed anomalies whose score is below the candidate
    confirmed_newly_missed: int  # ... and that are flagged today
    dismissed_total: int
    dismissed_cleared: int  # dismissed false alarms that the candidate would not flag
    dismissed_still_flagged: int

    @property
    def delta(self) -> int:
        return self.flagged_at_candidate - self.flagged_now


@dataclass(frozen=True)
class HistogramBin:
    low: float
    high: float
    count: int


def _active_model(session: Session, line_id: int) -> ModelVersion:
    model = session.scalar(
        select(ModelVersion).where(
            ModelVersion.line_id == line_id, ModelVersion.status == ModelStatus.ACTIVE
        )
    )
    if model is None:
        raise NotFoundError("This line has no active model yet, so there is no threshold to tune.")
    return model


def _threshold_in_force(session: Session, model: ModelVersion) -> float:
    override = session.scalar(
        select(ThresholdVersion.value)
        .where(ThresholdVersion.model_version_id == model.id)
        .order_by(ThresholdVersion.id.desc())
        .limit(1)
    )
    return float(override if override is not None else model.threshold)


def threshold_whatif(session: Session, line_id: int, candidate: float) -> WhatIf:
    """Counts of flags, confirmed anomalies and dismissed false alarms under ``candidate``."""
    if not math.isfinite(candidate):
        raise ValidationError(f"A threshold must be a finite number, got {candidate}.")
    model = _active_model(session, line_id)
    current = _threshold_in_force(session, model)
    at_candidate = Score.score >= candidate
    flagged = Score.flagged.is_(True)
    n, now, later, new, gone = session.execute(
        select(
            func.count(),
            func.sum(case((flagged, 1), else_=0)),
            func.sum(case((at_candidate, 1), else_=0)),
            func.sum(case((and_(~flagged, at_candidate), 1), else_=0)),
            func.sum(case((and_(flagged, ~at_candidate), 1), else_=0)),
        ).where(Score.model_version_id == model.id)
    ).one()
    newest = (
        select(func.max(Review.id).label("id"))
        .join(Score, and_(Score.sample_id == Review.sample_id, Score.model_version_id == model.id))
        .group_by(Review.sample_id)
        .subquery()
    )
    confirmed = Review.verdict == Verdict.CONFIRMED.value
    dismissed = Review.verdict == Verdict.DISMISSED.value
    c_total, c_missed, c_new_missed, d_total, d_cleared = session.execute(
        select(
            func.sum(case((confirmed, 1), else_=0)),
            func.sum(case((and_(confirmed, ~at_candidate), 1), else_=0)),
            func.sum(case((and_(confirmed, ~at_candidate, flagged), 1), else_=0)),
            func.sum(case((dismissed, 1), else_=0)),
            func.sum(case((and_(dismissed, ~at_candidate), 1), else_=0)),
        )
        .select_from(Review)
        .join(newest, newest.c.id == Review.id)
        .join(Score, and_(Score.sample_id == Review.sample_id, Score.model_version_id == model.id))
    ).one()
    return WhatIf(
        line_id=line_id,
        model_version_id=model.id,
        model_version=model.version,
        current_threshold=current,
        candidate=float(candidate),
        n_scored=int(n or 0),
        flagged_now=int(now or 0),
        flagged_at_candidate=int(later or 0),
        newly_flagged=int(new or 0),
        no_longer_flagged=int(gone or 0),
        confirmed_total=int(c_total or 0),
        confirmed_missed=int(c_missed or 0),
        confirmed_newly_missed=int(c_new_missed or 0),
        dismissed_total=int(d_total or 0),
        dismissed_cleared=int(d_cleared or 0),
        dismissed_still_flagged=int((d_total or 0) - (d_cleared or 0)),
    )


def score_histogram(session: Session, line_id: int, bins: int = 60) -> list[HistogramBin]:
    """Distribution of the active model's scores, binned in SQL (for the what-if chart)."""
    model = _active_model(session, line_id)
    lo, hi = session.execute(
        select(func.min(Score.score), func.max(Score.score)).where(
            Score.model_version_id == model.id
        )
    ).one()
    if lo is None or hi is None:
        return []
    lo, hi = float(lo), float(hi)
    bins = max(1, min(int(bins), 500))
    width = (hi - lo) / bins if hi > lo else 1.0
    position = (Score.score - lo) / width
    # SQLite's CAST truncates (scores >= lo, so that is floor); PostgreSQL's rounds.
    if session.get_bind().dialect.name == "sqlite":
        floor = cast(position, Integer)
    else:
        floor = cast(func.floor(position), Integer)
    index = case((Score.score >= hi, bins - 1), else_=floor) if hi > lo else cast(0, Integer)
    rows = session.execute(
        select(index.label("b"), func.count())
        .where(Score.model_version_id == model.id)
        .group_by("b")
        .order_by("b")
    ).all()
    return [HistogramBin(lo + int(b) * width, lo + (int(b) + 1) * width, int(c)) for b, c in rows]


def save_threshold(
    session: Session, actor: Actor, line_id: int, value: float, reason: str
) -> float:
    """Put ``value`` in force for the line's active model (admin only; audited)."""
    require(actor, Role.ADMIN)
    if not reason.strip():
        raise ValidationError("Say why the threshold changes (it goes into the history).")
    model = _active_model(session, line_id)
    previous = _threshold_in_force(session, model)
    from app.services.thresholds import set_threshold

    set_threshold(session, line_id, float(value), actor=actor.username, reason=reason.strip())
    audit.record(
        session,
        actor.username,
        "threshold.set",
        f"line:{line_id}/v{model.version}",
        {"from": previous, "to": float(value), "reason": reason.strip()},
    )
    session.flush()
    return float(value)
