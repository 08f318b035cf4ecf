"""Overview page: per-line counts, failing jobs, timeline state and the flag-quality panel."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.services.queries import day_and_week_start
from db.models import Sample
from tests.app.ui.seed import Seeded


def _flagged_since_midnight(factory: sessionmaker[Session], seeded: Seeded) -> int:
    """The seeded flags stamped today (UTC): all 12, or fewer in the two hours after midnight."""
    today, _ = day_and_week_start(datetime.now(UTC), "UTC")
    with factory() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Sample)
                .where(Sample.id.in_(seeded.flagged_ids), Sample.ts >= today)
            )
            or 0
        )


def test_overview_shows_counts_failures_and_flag_quality(
    seeded: Seeded,
    app_as,  # type: ignore[no-untyped-def]
    app_factory: sessionmaker[Session],
) -> None:
    before = _flagged_since_midnight(app_factory, seeded)
    at = app_as("vic")
    after = _flagged_since_midnight(app_factory, seeded)  # differs only across midnight
    assert not at.exception
    assert at.title[0].value == "Overview"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Flagged today"] in {str(before), str(after)}
    assert metrics["Open flags"] == "12"
    assert metrics["Precision"] == "92%" and metrics["Recall"] == "92%"
    assert any("score" in e.value and "failed" in e.value for e in at.error)
    assert at.subheader[0].value == "press-1"
    (chart,) = at.get("plotly_chart")
    flagged = next(t for t in json.loads(chart.proto.spec)["data"] if t.get("name") == "flagged")
    assert sum(int(text.split()[0]) for text in flagged["text"]) == 12


def test_the_timeline_prefers_the_active_model_and_falls_back_to_every_score(
    seeded: Seeded,
    app_factory,  # type: ignore[no-untyped-def]
) -> None:
    from datetime import timedelta

    from app.services.queries import score_timeline_for_line
    from db.engine import unit_of_work
    from db.models import ModelStatus, ModelVersion

    start, end = seeded.now - timedelta(days=1), seeded.now + timedelta(minutes=1)
    with app_factory() as session:
        points = score_timeline_for_line(session, seeded.line_id, start, end, buckets=24)
    assert sum(p.n for p in points) == 120 and sum(p.n_flagged for p in points) == 12
    assert all(p.start.tzinfo is not None for p in points)
    with unit_of_work(app_factory) as session:
        session.get(ModelVersion, seeded.model_version_id).status = ModelStatus.RETIRED  # type: ignore[union-attr]
        session.add(
            ModelVersion(
                line_id=seeded.line_id,
                version=2,
                detector="stkd",
                status=ModelStatus.ACTIVE,
                threshold=0.5,
                feature_columns=["pressure"],
                artifact_path="models/v2",
                artifact_sha256="2" * 64,
            )
        )
    with app_factory() as session:  # v2 has scored nothing yet: v1's scores still show
        again = score_timeline_for_line(session, seeded.line_id, start, end, buckets=24)
    assert again == points


def test_review_progress_shows_on_the_overview(seeded: Seeded, app_factory, app_as) -> None:  # type: ignore[no-untyped-def]
    from app.services.auth import Actor
    from app.services.review import record_verdicts
    from db.engine import unit_of_work
    from db.models import Role, Verdict

    with unit_of_work(app_factory) as session:
        record_verdicts(
            session, Actor("rita", Role.REVIEWER), seeded.flagged_ids[:3], Verdict.CONFIRMED
        )
    at = app_as("vic")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Open flags"] == "9"


def test_an_empty_installation_explains_how_to_start(app_factory, app_as) -> None:  # type: ignore[no-untyped-def]
    from app.services.users import add_user
    from db.engine import unit_of_work
    from db.models import Role

    with unit_of_work(app_factory) as session:
        add_user(session, "vic", "viewer-pass", Role.VIEWER, actor=None)
    at = app_as("vic")
    assert not at.exception
    assert any("No production lines yet" in i.value for i in at.info)


def _traces(at) -> list[dict]:  # type: ignore[no-untyped-def]
    (chart,) = at.get("plotly_chart")
    return json.loads(chart.proto.spec)["data"]


def test_the_risk_panel_shows_only_for_a_line_whose_model_forecasts_risk(
    seeded: Seeded,
    risk_line: Seeded,
    app_as,  # type: ignore[no-untyped-def]
) -> None:
    from tests.app.ui.seed import RISK_HORIZON, risk_of

    label = f"extreme-event risk (next {RISK_HORIZON} steps)"
    at = app_as("vic")
    assert not at.exception
    at.selectbox(key="overview_line").set_value(seeded.line_id).run()
    plain = _traces(at)
    assert [t.get("name") for t in plain] == [None, "min-max", "mean score", "flagged"]

    at.selectbox(key="overview_line").set_value(risk_line.line_id).run()
    assert not at.exception
    traces = _traces(at)
    (risk,) = [t for t in traces if t.get("name") == label]
    assert max(risk["y"]) == risk_of(9, True) and min(risk["y"]) >= risk_of(0, False)
    assert risk["yaxis"] == "y2" and len(traces) == len(plain) + 1
