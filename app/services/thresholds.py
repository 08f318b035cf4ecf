"""Thresholds: versioned per line; the newest version for the active model is in force."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.services.errors import NotFoundError, ValidationError
from db.models import ModelStatus, ModelVersion, Score, ThresholdVersion
from db.rollup import rebuild_model


@dataclass(frozen=True)
class ThresholdInfo:
    line_id: int
    model_version_id: int
    value: float
    reason: str
    created_by: str
    created_at: datetime


def active_model(session: Session, line_id: int) -> ModelVersion | None:
    return session.scalar(
        select(ModelVersion).where(
            ModelVersion.line_id == line_id, ModelVersion.status == ModelStatus.ACTIVE
        )
    )


def current_threshold(session: Session, line_id: int) -> ThresholdInfo | None:
    model = active_model(session, line_id)
    if model is None:
        return None
    row = session.scalar(
        select(ThresholdVersion)
        .where(ThresholdVersion.model_version_id == model.id)
        .order_by(ThresholdVersion.id.desc())
        .limit(1)
    )
    if row is None:
        return ThresholdInfo(
            line_id, model.id, model.threshold, "model default", "system", model.created_at
        )
    return ThresholdInfo(line_id, model.id, row.value, row.reason, row.created_by, row.created_at)


def set_threshold(
    session: Session, line_id: int, value: float, *, actor: str, reason: str = ""
) -> ThresholdVersion:
    """Version a new threshold for the line's active model and re-flag that model's scores.

    Flags are a function of (score, threshold in force), so moving the threshold updates the
    ``flagged`` and ``threshold`` columns of the active model's scores (and that model's hourly
    rollup, in the same transaction); the previous value stays in the threshold history and
    the audit log.
    """
    if not math.isfinite(value):
        raise ValidationError(f"A threshold must be a finite number, got {value}.")
    model = active_model(session, line_id)
    if model is None:
        raise NotFoundError("This line has no active model; train one before setting a threshold.")
    row = ThresholdVersion(
        line_id=line_id,
        model_version_id=model.id,
        value=float(value),
        reason=reason,
        created_by=actor,
    )
    session.add(row)
    reflag_scores(session, model.id, float(value))
    session.flush()
    return row


def reflag_scores(session: Session, model_version_id: int, value: float) -> None:
    """Put a model's stored scores under threshold ``value``, and its hourly rollup with them.

    The one place flags change after scoring, so scores and rollup never disagree.
    """
    session.execute(
        update(Score)
        .where(Score.model_version_id == model_version_id)
        .values(threshold=value, flagged=Score.score >= value)
    )
    rebuild_model(session, model_version_id)
