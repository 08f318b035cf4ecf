"""Dashboard reads: overview counts, the flagged-samples page, sample detail, flag quality."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from app.services.auth import Actor
from app.services.errors import NotFoundError, ValidationError
from app.services.queries import (
    day_and_week_start,
    flag_quality,
    flagged_samples,
    line_overview,
    normalize_top_features,
    sample_detail,
)
from app.services.review import record_verdicts
from db.engine import unit_of_work
from db.models import ModelStatus, ModelVersion, Role, Score, Verdict
from tests.app.ui.seed import seed_plant

REVIEWER = Actor("rita", Role.REVIEWER)


def test_overview_counts_todays_and_this_weeks_flags_and_review_progress(
    session_factory: sessionmaker[Session],
) -> None:
    # Wednesday noon: the 120 one-minute samples all fall today (and this week).
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    seeded = seed_plant(session_factory, now=now, with_users=False)
    with unit_of_work(session_factory) as session:
        record_verdicts(session, REVIEWER, seeded.flagged_ids[:3], Verdict.CONFIRMED)
    with session_factory() as session:
        (line,) = line_overview(session, now)
        (tomorrow,) = line_overview(session, now + timedelta(days=1))
        (next_week,) = line_overview(session, now + timedelta(days=7))
    assert (line.flagged_today, line.flagged_week, line.flagged_total) == (12, 12, 12)
    assert line.reviewed_week == 3 and line.open_flags == 9
    assert line.reviewed_share_week == pytest.approx(0.25)
    assert (tomorrow.flagged_today, tomorrow.flagged_week) == (0, 12)
    assert next_week.flagged_week == 0 and next_week.reviewed_share_week is None
    assert line.active_version == 1 and line.threshold == pytest.approx(0.8)
    assert line.last_training == now - timedelta(days=1)
    assert [f.job for f in line.failing] == ["score"]
    assert line.failing[0].error == "ValueError: column 'pressure' missing"


def test_week_starts_on_local_monday() -> None:
    wednesday = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    today, week = day_and_week_start(wednesday, "Europe/Berlin")
    assert today == datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
    assert week == datetime(2026, 11, 22, 23, 0, tzinfo=UTC)


def test_flagged_page_is_sorted_filtered_and_counted(
    session_factory: sessionmaker[Session],
) -> None:
    seeded = seed_plant(session_factory, with_users=False)
    with unit_of_work(session_factory) as session:
        record_verdicts(session, REVIEWER, seeded.flagged_ids[:2], Verdict.CONFIRMED, "real")
        record_verdicts(session, REVIEWER, seeded.flagged_ids[2:3], Verdict.DISMISSED)
    with session_factory() as session:
        first = flagged_samples(session, [seeded.line_id], "score_desc", "all", limit=5)
        second = flagged_samples(session, [seeded.line_id], "score_desc", "all", 5, 5)
        open_ = flagged_samples(session, [seeded.line_id], "ts_asc", "unreviewed", 50)
        confirmed = flagged_samples(session, [seeded.line_id], verdict="confirmed")
        none = flagged_samples(session, [])
        with pytest.raises(ValidationError):
            flagged_samples(session, [seeded.line_id], sort="nonsense")
    assert first.total == 12 and first.page_count == 3
    assert [r.sample_id for r in first.items + second.items] == seeded.flagged_ids[:10]
    assert first.items[0].verdict == Verdict.CONFIRMED and first.items[0].comment == "real"
    assert first.items[0].top_features[0] == ("pressure", 0.7)
    assert open_.total == 9
    assert [r.ts for r in open_.items] == sorted(r.ts for r in open_.items)
    assert {r.sample_id for r in confirmed.items} == set(seeded.flagged_ids[:2])
    assert none.total == 0


def test_only_the_latest_score_of_a_sample_counts(session_factory: sessionmaker[Session]) -> None:
    seeded = seed_plant(session_factory, with_users=False)
    rescored = seeded.flagged_ids[0]
    with unit_of_work(session_factory) as session:
        model = ModelVersion(
            line_id=seeded.line_id,
            version=2,
            detector="stkd",
            status=ModelStatus.CANDIDATE,
            threshold=0.9,
            feature_columns=["pressure"],
            artifact_path="models/v2",
            artifact_sha256="1" * 64,
        )
        session.add(model)
        session.flush()
        session.execute(
            insert(Score),
            [
                {
                    "sample_id": rescored,
                    "line_id": seeded.line_id,
                    "model_version_id": model.id,
                    "ts": seeded.now,
                    "score": 0.5,
                    "threshold": 0.9,
                    "flagged": False,
                    "top_features": [],
                }
            ],
        )
    with session_factory() as session:
        page = flagged_samples(session, [seeded.line_id], verdict="all")
        detail = sample_detail(session, rescored)
    assert page.total == 11 and rescored not in {r.sample_id for r in page.items}
    assert detail.latest is not None and detail.latest.version == 2
    assert [s.version for s in detail.scores] == [1, 2]


def test_sample_detail_shows_values_against_the_normal_range(
    session_factory: sessionmaker[Session],
) -> None:
    seeded = seed_plant(session_factory, with_users=False)
    target = seeded.flagged_ids[0]
    with unit_of_work(session_factory) as session:
        record_verdicts(session, REVIEWER, [target], Verdict.UNSURE, "check tomorrow")
    with session_factory() as session:
        detail = sample_detail(session, target)
        with pytest.raises(NotFoundError):
            sample_detail(session, 10**9)
    features = {f.name: f for f in detail.features}
    assert features["pressure"].outside and features["pressure"].unit == "bar"
    assert features["pressure"].p99 is not None and features["pressure"].p99 <= 106.0
    assert not features["temperature"].outside
    assert features["pressure"].contribution == pytest.approx(0.7)
    assert detail.latest is not None and detail.latest.threshold == pytest.approx(0.8)
    assert detail.verdict == Verdict.UNSURE and detail.history[0].comment == "check tomorrow"
    assert target in {p.sample_id for p in detail.neighbours}
    assert 50 < len(detail.neighbours) <= 121 and detail.normal_range_n > 50


def test_flag_quality_compares_flags_with_known_faults(
    session_factory: sessionmaker[Session],
) -> None:
    seeded = seed_plant(session_factory, with_users=False)
    other = seed_plant(session_factory, with_users=False, ground_truth=False, line_name="press-2")
    with session_factory() as session:
        quality = flag_quality(session, seeded.line_id)
        unlabelled = flag_quality(session, other.line_id)
    assert quality is not None and unlabelled is None
    assert (quality.true_positives, quality.false_positives, quality.false_negatives) == (11, 1, 1)
    assert quality.precision == pytest.approx(11 / 12) and quality.recall == pytest.approx(11 / 12)


def test_top_features_are_read_in_every_shape_the_scorer_may_write() -> None:
    expected = [("a", 1.0), ("b", 0.5)]
    assert normalize_top_features([["a", 1], ["b", 0.5]]) == expected
    assert (
        normalize_top_features([{"feature": "a", "contribution": 1}, {"name": "b", "value": 0.5}])
        == expected
    )
    assert normalize_top_features({"a": 1, "b": 0.5}) == expected
    assert normalize_top_features(None) == []
