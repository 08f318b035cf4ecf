"""Overview page: per-line counts, failing jobs, timeline state and the flag-quality panel."""

from __future__ import annotations

from tests.app.ui.seed import Seeded


def test_overview_shows_counts_failures_and_flag_quality(seeded: Seeded, app_as) -> None:  # type: ignore[no-untyped-def]
    at = app_as("vic")
    assert not at.exception
    assert at.title[0].value == "Overview"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Flagged today"] in {"12", "0"}  # 0 only if the test runs across midnight
    assert metrics["Open flags"] == "12"
    assert metrics["Precision"] == "92%" and metrics["Recall"] == "92%"
    assert any("score" in e.value and "failed" in e.value for e in at.error)
    assert at.subheader[0].value == "press-1"
    timeline_missing = any("Not available yet" in i.value for i in at.info)
    assert at.get("plotly_chart") or timeline_missing


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
