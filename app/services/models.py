"""Model versions of a line: list, activate, roll back.

Only one version per line is active. Activation is an admin action and audited; rolling back
re-activates an older version and, because thresholds are versioned per model, brings back the
threshold that version last had.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.services import audit
from app.services.artifacts import remove_artifacts
from app.services.auth import Actor, require
from app.services.errors import NotFoundError
from app.services.thresholds import current_threshold, reflag_scores
from db.engine import unit_of_work
from db.models import ModelStatus, ModelVersion, Role


def list_model_versions(session: Session, line_id: int) -> list[ModelVersion]:
    return list(
        session.scalars(
            select(ModelVersion)
            .where(ModelVersion.line_id == line_id)
            .order_by(ModelVersion.version.desc())
        )
    )


def get_model_version(session: Session, model_version_id: int) -> ModelVersion:
    model = session.get(ModelVersion, model_version_id)
    if model is None:
        raise NotFoundError(f"No model version with id {model_version_id}.")
    return model


def activate(session: Session, model: ModelVersion, reason: str) -> ModelVersion:
    """Make ``model`` the line's active version (no permission check: callers decide).

    Its stored scores are re-flagged against the threshold it now serves with, and its hourly
    rollup rebuilt to match, in the caller's transaction.
    """
    session.execute(
        update(ModelVersion)
        .where(
            ModelVersion.line_id == model.line_id,
            ModelVersion.status == ModelStatus.ACTIVE,
            ModelVersion.id != model.id,
        )
        .values(status=ModelStatus.RETIRED)
    )
    model.status = ModelStatus.ACTIVE
    model.status_reason = reason
    model.activated_at = datetime.now(UTC)
    session.flush()
    threshold = current_threshold(session, model.line_id)
    if threshold is not None:
        reflag_scores(session, model.id, threshold.value)
    return model


def activate_version(
    session: Session, actor: Actor, model_version_id: int, reason: str = ""
) -> ModelVersion:
    require(actor, Role.ADMIN)
    model = get_model_version(session, model_version_id)
    previous = session.scalar(
        select(ModelVersion.version).where(
            ModelVersion.line_id == model.line_id, ModelVersion.status == ModelStatus.ACTIVE
        )
    )
    activate(session, model, reason or f"activated by {actor.username}")
    audit.record(
        session,
        actor.username,
        "model.activate",
        f"line:{model.line_id}/v{model.version}",
        {"previous_version": previous, "reason": reason},
    )
    return model


def rollback_to(
    session: Session, actor: Actor, model_version_id: int, reason: str = ""
) -> ModelVersion:
    """Re-activate an older version; its last threshold comes back with it."""
    require(actor, Role.ADMIN)
    model = get_model_version(session, model_version_id)
    activate(session, model, reason or f"rolled back by {actor.username}")
    audit.record(
        session,
        actor.username,
        "model.rollback",
        f"line:{model.line_id}/v{model.version}",
        {"reason": reason},
    )
    return model


def retained_artifacts(session: Session, keep_newest: int) -> tuple[set[Path], set[Path]]:
    """(keep, drop): artifact folders of known versions to keep and to delete.

    Kept per line: the active version and the ``keep_newest`` newest versions. Folders that
    belong to no version row are left alone (a training run may be writing one right now).
    """
    keep: set[Path] = set()
    drop: set[Path] = set()
    seen: dict[int, int] = {}
    rows = session.execute(
        select(ModelVersion.line_id, ModelVersion.status, ModelVersion.artifact_path).order_by(
            ModelVersion.line_id, ModelVersion.version.desc()
        )
    )
    for line_id, status, path in rows:
        rank = seen.get(line_id, 0)
        seen[line_id] = rank + 1
        if status == ModelStatus.ACTIVE or rank < keep_newest:
            keep.add(Path(path))
        else:
            drop.add(Path(path))
    return keep, drop - keep


def prune_model_artifacts(factory: sessionmaker[Session], settings: Settings) -> list[Path]:
    """Apply the retention policy (``settings.artifact_retention``) to artifact folders."""
    with unit_of_work(factory) as session:
        _keep, drop = retained_artifacts(session, settings.artifact_retention)
    return remove_artifacts(drop)
