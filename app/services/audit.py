"""Audit trail: who did what to which thing, and when.

Every state-changing service (reviews, users, thresholds, models, schedules) writes one event in
the same transaction as its change, so an action and its record commit or roll back together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import AuditEvent, Role

if TYPE_CHECKING:
    from app.services.auth import Actor


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]


@dataclass(frozen=True)
class AuditPage:
    items: list[AuditRow]
    total: int
    limit: int
    offset: int


def record(
    session: Session,
    actor_name: str,
    action: str,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the caller's transaction (the caller commits)."""
    event = AuditEvent(
        actor=actor_name[:120],
        action=action[:60],
        target=target[:200],
        details=dict(details or {}),
    )
    session.add(event)
    return event


def list_events(
    session: Session,
    limit: int = 100,
    offset: int = 0,
    *,
    actor: Actor | None = None,
    action: str | None = None,
) -> AuditPage:
    """Newest events first, one page at a time.

    ``actor`` None is the CLI (the operator already has the database); a dashboard caller passes
    its actor and must be an admin, so a viewer cannot read the log by calling this directly.
    """
    if actor is not None:
        from app.services.auth import require

        require(actor, Role.ADMIN)
    limit = max(1, min(int(limit), 1000))
    offset = max(0, int(offset))
    where = [AuditEvent.action == action] if action else []
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*where)) or 0
    rows = session.scalars(
        select(AuditEvent)
        .where(*where)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(limit)
        .offset(offset)
    )
    items = [AuditRow(e.id, e.at, e.actor, e.action, e.target, dict(e.details or {})) for e in rows]
    return AuditPage(items, int(total), limit, offset)
