"""Verdicts: reviewers and admins only, append-only, newest row is the current verdict."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.services.auth import Actor
from app.services.errors import NotFoundError, PermissionDeniedError, ValidationError
from app.services.review import current_verdicts, record_verdicts, review_history
from db.engine import unit_of_work
from db.models import AuditEvent, Review, Role, Verdict
from tests.app.ui.seed import seed_plant

REVIEWER = Actor("rita", Role.REVIEWER)
VIEWER = Actor("vic", Role.VIEWER)


def test_a_viewer_cannot_save_a_verdict_even_by_calling_the_service(
    session_factory: sessionmaker[Session],
) -> None:
    seeded = seed_plant(session_factory, n_samples=20, with_users=False)
    with session_factory() as session:
        with pytest.raises(PermissionDeniedError):
            record_verdicts(session, VIEWER, seeded.flagged_ids[:1], Verdict.CONFIRMED, "")
        assert session.scalar(select(func.count()).select_from(Review)) == 0


def test_a_changed_verdict_adds_a_row_and_becomes_current(
    session_factory: sessionmaker[Session],
) -> None:
    seeded = seed_plant(session_factory, n_samples=20, with_users=False)
    sample = seeded.flagged_ids[0]
    with unit_of_work(session_factory) as session:
        record_verdicts(session, REVIEWER, [sample], Verdict.CONFIRMED, "bearing noise")
    with unit_of_work(session_factory) as session:
        record_verdicts(session, Actor("ada", Role.ADMIN), [sample], "dismissed", " sensor ")
    with session_factory() as session:
        history = review_history(session, sample)
        current = current_verdicts(session, [sample, seeded.flagged_ids[1]])
        audited = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert [(h.verdict, h.reviewer, h.comment) for h in history] == [
        (Verdict.CONFIRMED, "rita", "bearing noise"),
        (Verdict.DISMISSED, "ada", "sensor"),
    ]
    assert set(current) == {sample}
    assert current[sample].verdict == Verdict.DISMISSED
    assert audited == ["review.confirmed", "review.dismissed"]


def test_bulk_review_writes_one_row_per_sample_and_one_audit_event(
    session_factory: sessionmaker[Session],
) -> None:
    seeded = seed_plant(session_factory, n_samples=50, with_users=False)
    ids = seeded.flagged_ids + seeded.flagged_ids[:1]  # a duplicate is ignored
    with unit_of_work(session_factory) as session:
        rows = record_verdicts(session, REVIEWER, ids, Verdict.UNSURE, None)
    with session_factory() as session:
        n_events = session.scalar(select(func.count()).select_from(AuditEvent))
    assert len(rows) == len(seeded.flagged_ids) == 5
    assert n_events == 1


def test_unknown_samples_and_empty_selections_are_refused_without_writing(
    session_factory: sessionmaker[Session],
) -> None:
    seeded = seed_plant(session_factory, n_samples=20, with_users=False)
    with session_factory() as session:
        with pytest.raises(NotFoundError):
            record_verdicts(session, REVIEWER, [seeded.flagged_ids[0], 999_999], "confirmed")
        with pytest.raises(ValidationError):
            record_verdicts(session, REVIEWER, [], "confirmed")
        with pytest.raises(ValueError):
            record_verdicts(session, REVIEWER, seeded.flagged_ids, "maybe")
