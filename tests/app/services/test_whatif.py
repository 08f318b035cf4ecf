"""Threshold what-if: counts computed in SQL; saving is admin-only, versioned and audited."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.services.auth import Actor
from app.services.errors import NotFoundError, PermissionDeniedError, ValidationError
from app.services.review import record_verdicts
from app.services.whatif import save_threshold, score_histogram, threshold_whatif
from db.engine import unit_of_work
from db.models import AuditEvent, Line, Role, Score, ThresholdVersion, Verdict
from tests.app.ui.seed import seed_plant

ADMIN = Actor("ada", Role.ADMIN)


def test_a_higher_threshold_drops_flags_and_counts_missed_and_cleared_reviews(
    session_factory: sessionmaker[Session],
) -> None:
    seeded = seed_plant(session_factory, with_users=False)
    # flagged scores run from ~0.851 (oldest) to ~0.859 (newest); flagged_ids newest first
    with unit_of_work(session_factory) as session:
        record_verdicts(session, ADMIN, seeded.flagged_ids[:2], Verdict.CONFIRMED)
        record_verdicts(session, ADMIN, seeded.flagged_ids[-3:], Verdict.DISMISSED)
    with session_factory() as session:
        same = threshold_whatif(session, seeded.line_id, 0.8)
        cut = threshold_whatif(session, seeded.line_id, 0.855)
        low = threshold_whatif(session, seeded.line_id, 0.15)
    assert (same.n_scored, same.flagged_now, same.flagged_at_candidate, same.delta) == (
        120,
        12,
        12,
        0,
    )
    assert (same.confirmed_total, same.dismissed_total, same.confirmed_missed) == (2, 3, 0)
    assert cut.no_longer_flagged == cut.flagged_now - cut.flagged_at_candidate > 0
    assert cut.confirmed_missed == 0 and cut.dismissed_cleared == 3
    assert cut.dismissed_still_flagged == 0
    assert low.newly_flagged > 0 and low.no_longer_flagged == 0


def test_histogram_bins_every_score_of_the_active_model(
    session_factory: sessionmaker[Session],
) -> None:
    seeded = seed_plant(session_factory, with_users=False)
    with session_factory() as session:
        bins = score_histogram(session, seeded.line_id, bins=20)
    assert sum(b.count for b in bins) == 120
    assert all(0 <= b.low < b.high for b in bins)
    assert bins[-1].high == pytest.approx(max(0.859, bins[-1].high))


def test_saving_a_threshold_is_admin_only_versioned_and_reflags(
    session_factory: sessionmaker[Session],
) -> None:
    seeded = seed_plant(session_factory, with_users=False)
    with session_factory() as session:
        with pytest.raises(PermissionDeniedError):
            save_threshold(session, Actor("rita", Role.REVIEWER), seeded.line_id, 0.9, "x")
        with pytest.raises(ValidationError):
            save_threshold(session, ADMIN, seeded.line_id, 0.9, "  ")
    with unit_of_work(session_factory) as session:
        save_threshold(session, ADMIN, seeded.line_id, 0.855, "too many false alarms")
    with session_factory() as session:
        version = session.scalar(select(ThresholdVersion))
        flagged = session.scalar(select(func.count()).where(Score.flagged.is_(True)))
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "threshold.set"))
        after = threshold_whatif(session, seeded.line_id, 0.855)
    assert version is not None and version.created_by == "ada"
    assert event is not None and event.details["from"] == pytest.approx(0.8)
    assert flagged == after.flagged_now == after.flagged_at_candidate < 12
    assert after.current_threshold == pytest.approx(0.855)


def test_a_line_without_an_active_model_has_nothing_to_tune(
    session_factory: sessionmaker[Session],
) -> None:
    with unit_of_work(session_factory) as session:
        line = Line(name="empty", feature_columns=["a"])
        session.add(line)
        session.flush()
        line_id = line.id
    with session_factory() as session, pytest.raises(NotFoundError):
        threshold_whatif(session, line_id, 1.0)
