"""Verdicts on flagged samples: confirm (real anomaly), dismiss (false alarm) or unsure.

Reviews are append-only: changing one's mind adds a row, and the newest row per sample is the
current verdict. Training reads them (confirmed anomalies are never trained on, dismissed false
alarms are pinned as normal), so only reviewers and admins may write them, checked here and not
only in the page.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.services import audit
from app.services.auth import Actor, require
from app.services.errors import NotFoundError, ValidationError
from db.models import Review, Role, Sample, Verdict

MAX_BULK = 5000
MAX_COMMENT = 2000


@dataclass(frozen=True)
class CurrentVerdict:
    sample_id: int
    verdict: Verdict
    comment: str | None
    reviewer: str
    created_at: datetime


@dataclass(frozen=True)
class ReviewEntry:
    id: int
    sample_id: int
    verdict: Verdict
    comment: str | None
    reviewer: str
    created_at: datetime


def record_verdicts(
    session: Session,
    actor: Actor,
    sample_ids: Sequence[int],
    verdict: Verdict | str,
    comment: str | None = None,
) -> list[Review]:
    """Append one review row per sample (reviewer or admin only), audited as one event."""
    require(actor, Role.REVIEWER)
    verdict = Verdict(verdict)
    ids = list(dict.fromkeys(int(i) for i in sample_ids))
    if not ids:
        raise ValidationError("Choose at least one sample to review.")
    if len(ids) > MAX_BULK:
        raise ValidationError(f"At most {MAX_BULK} samples per bulk review, got {len(ids)}.")
    text = (comment or "").strip() or None
    if text is not None and len(text) > MAX_COMMENT:
        raise ValidationError(f"A comment has at most {MAX_COMMENT} characters.")
    found: set[int] = set()
    for chunk in _chunks(ids, 900):
        found.update(session.scalars(select(Sample.id).where(Sample.id.in_(chunk))))
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFoundError(f"No sample(s) {missing[:10]}.")
    rows = [
        Review(sample_id=i, verdict=verdict, comment=text, reviewer=actor.username) for i in ids
    ]
    session.add_all(rows)
    audit.record(
        session,
        actor.username,
        "review." + verdict.value,
        f"samples:{len(ids)}" if len(ids) > 1 else f"sample:{ids[0]}",
        {"sample_ids": ids[:200], "n": len(ids), "comment": text},
    )
    session.flush()
    return rows


def _chunks(values: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def current_verdicts(session: Session, sample_ids: Iterable[int]) -> dict[int, CurrentVerdict]:
    """The newest verdict of each given sample that has one."""
    ids = list(dict.fromkeys(int(i) for i in sample_ids))
    result: dict[int, CurrentVerdict] = {}
    for chunk in _chunks(ids, 900):
        newest = (
            select(func.max(Review.id))
            .where(Review.sample_id.in_(chunk))
            .group_by(Review.sample_id)
        )
        for r in session.scalars(select(Review).where(Review.id.in_(newest))):
            result[r.sample_id] = CurrentVerdict(
                r.sample_id, Verdict(r.verdict), r.comment, r.reviewer, r.created_at
            )
    return result


def review_history(session: Session, sample_id: int) -> list[ReviewEntry]:
    """Every verdict a sample received, oldest first."""
    rows = session.scalars(select(Review).where(Review.sample_id == sample_id).order_by(Review.id))
    return [
        ReviewEntry(r.id, r.sample_id, Verdict(r.verdict), r.comment, r.reviewer, r.created_at)
        for r in rows
    ]
