"""Models page: versions with their reasons and trace; admins set the trainer, view and version."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.services.auth import Actor
from app.services.errors import PermissionDeniedError, ValidationError
from app.services.lines import change_line_detector, change_line_view
from db.engine import unit_of_work
from db.models import AuditEvent, Line, LineView, ModelStatus, ModelVersion, Role
from tests.app.ui.helpers import table_with
from tests.app.ui.seed import CANDIDATE_REASON, Seeded, seed_plant


@pytest.fixture
def with_candidate(app_factory: sessionmaker[Session]) -> Seeded:
    return seed_plant(app_factory, candidate=True)


def test_everyone_sees_versions_why_a_candidate_waits_and_the_trace(
    with_candidate: Seeded,
    app_as,  # type: ignore[no-untyped-def]
) -> None:
    at = app_as("vic", "app/ui/models.py")
    assert not at.exception
    table = table_with(at, "Why")
    assert list(table["Version"]) == [2, 1]
    assert list(table["Status"]) == ["candidate", "active"]
    assert table["Why"][0] == CANDIDATE_REASON
    assert list(table["Known normal"]) == [14, 12] and list(table["Known anomalies"]) == [4, 3]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Trainer"] == "stkd" and metrics["View"] == "rows"
    # the candidate is shown first, with the reason it was not activated
    assert any(CANDIDATE_REASON in w.value for w in at.warning)
    at.selectbox(key=f"models_detail_{with_candidate.line_id}").set_value(
        with_candidate.model_version_id
    ).run()
    assert not at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 1, "the purification trace is drawn"
    spec = json.loads(charts[0].proto.spec)
    excluded = spec["data"][0]
    assert excluded["name"] == "excluded"
    assert excluded["y"] == [4, 8, 12, 12]  # per round, then the final pool
    assert excluded["customdata"] == [4996, 4992, 4988, 4988]  # samples kept
    assert {m.label: m.value for m in at.metric}["Known normal"] == "12"
    # read-only for a viewer
    assert not [b for b in at.button if b.key.startswith("FormSubmitter:models_")]
    assert sum("Only admins" in i.value for i in at.info) == 2


def test_admin_changes_trainer_and_view_and_sees_them_stored(
    seeded: Seeded,
    app_as,
    app_factory,  # type: ignore[no-untyped-def]
) -> None:
    at = app_as("ada", "app/ui/models.py")
    line = seeded.line_id
    at.selectbox(key=f"models_detector_{line}").set_value("iforest")
    at.radio(key=f"models_view_{line}").set_value("windows")
    at.text_input(key=f"models_params_{line}").input('{"n_estimators": 50}')
    at.text_input(key=f"models_contamination_{line}").input("0.03")
    at.button(key=f"FormSubmitter:models_settings_{line}-Save training settings").click().run()
    assert not at.exception
    assert any(
        "now trains with iforest on windows, contamination 0.03" in s.value for s in at.success
    )
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Trainer"] == "iforest" and metrics["View"] == "windows"
    assert metrics["Contamination"] == "0.03"
    with app_factory() as session:
        stored = session.get(Line, line)
        assert stored is not None
        assert (stored.detector, stored.detector_params, stored.view) == (
            "iforest",
            {"n_estimators": 50},
            LineView.WINDOWS,
        )
        events = {
            e.action: e
            for e in session.scalars(select(AuditEvent).where(AuditEvent.actor == "ada"))
        }
    assert events["line.detector"].details["before"]["detector"] == "stkd"
    assert events["line.view"].details == {"before": "rows", "after": "windows"}
    assert events["line.contamination"].details["after"] == 0.03


@pytest.mark.parametrize(
    ("field", "bad", "message"),
    [
        ("params", "[1, 2]", "JSON object"),
        ("contamination", "0.7", "Contamination must be in (0, 0.5)"),
    ],
)
def test_bad_training_settings_are_refused_and_nothing_changes(
    seeded: Seeded,
    app_as,
    app_factory,  # type: ignore[no-untyped-def]
    field: str,
    bad: str,
    message: str,
) -> None:
    at = app_as("ada", "app/ui/models.py")
    line = seeded.line_id
    at.radio(key=f"models_view_{line}").set_value("windows")
    at.text_input(key=f"models_{field}_{line}").input(bad)
    at.button(key=f"FormSubmitter:models_settings_{line}-Save training settings").click().run()
    assert any(message in e.value for e in at.error)
    with app_factory() as session:
        stored = session.get(Line, line)
        assert stored is not None and stored.view == LineView.ROWS
        assert session.scalar(select(AuditEvent.id)) is None


def test_admin_names_a_trusted_clean_window_and_clears_it(
    seeded: Seeded,
    app_as,
    app_factory,  # type: ignore[no-untyped-def]
) -> None:
    at = app_as("ada", "app/ui/models.py")
    line = seeded.line_id
    assert any("None named" in c.value for c in at.caption)
    at.date_input(key=f"models_ref_d0_{line}").set_value(date(2026, 11, 2))
    at.time_input(key=f"models_ref_t0_{line}").set_value(time(6, 0))
    at.date_input(key=f"models_ref_d1_{line}").set_value(date(2026, 11, 4))
    at.time_input(key=f"models_ref_t1_{line}").set_value(time(18, 30))
    at.button(key=f"FormSubmitter:models_reference_{line}-Save window").click().run()
    assert not at.exception
    assert any("2026-11-02 06:00 to 2026-11-04 18:30 UTC" in s.value for s in at.success)
    assert any("2026-11-02 06:00 to 2026-11-04 18:30 UTC" in c.value for c in at.caption)
    with app_factory() as session:
        stored = session.get(Line, line)
        assert stored is not None
        assert (stored.reference_start, stored.reference_end) == (
            datetime(2026, 11, 2, 6, 0, tzinfo=UTC),
            datetime(2026, 11, 4, 18, 30, tzinfo=UTC),
        )

    # an end before the start is refused with the service's message, and nothing changes
    at.date_input(key=f"models_ref_d1_{line}").set_value(date(2026, 11, 1))
    at.button(key=f"FormSubmitter:models_reference_{line}-Save window").click().run()
    assert any("must start before it ends" in e.value for e in at.error)

    at.button(key=f"FormSubmitter:models_reference_{line}-Clear window").click().run()
    assert not at.exception
    assert any("trusted clean window cleared" in s.value for s in at.success)
    with app_factory() as session:
        stored = session.get(Line, line)
        assert stored is not None and stored.reference_start is None
        actions = list(
            session.scalars(
                select(AuditEvent.action).where(AuditEvent.action == "line.reference_window")
            )
        )
    assert len(actions) == 2


def test_only_admins_change_trainer_or_view_in_the_service_too(
    seeded: Seeded,
    app_factory,  # type: ignore[no-untyped-def]
) -> None:
    for who in (Actor("vic", Role.VIEWER), Actor("rita", Role.REVIEWER)):
        with pytest.raises(PermissionDeniedError), unit_of_work(app_factory) as session:
            change_line_detector(session, who, seeded.line_id, "iforest")
        with pytest.raises(PermissionDeniedError), unit_of_work(app_factory) as session:
            change_line_view(session, who, seeded.line_id, "windows")
    admin = Actor("ada", Role.ADMIN)
    with pytest.raises(ValidationError, match="Unknown detector"), unit_of_work(app_factory) as s:
        change_line_detector(s, admin, seeded.line_id, "magic")
    with app_factory() as session:
        line = session.get(Line, seeded.line_id)
        assert line is not None and (line.detector, line.view) == ("stkd", LineView.ROWS)
        assert session.scalar(select(AuditEvent.id)) is None


def test_admin_activates_the_candidate(
    with_candidate: Seeded,
    app_as,
    app_factory,  # type: ignore[no-untyped-def]
) -> None:
    at = app_as("ada", "app/ui/models.py")
    at.text_input(key="models_reason").input("flag share is expected after the rebuild")
    at.button(key="FormSubmitter:models_switch-Serve this version").click().run()
    assert not at.exception
    assert any("v2 is now serving (activated)" in s.value for s in at.success)
    with app_factory() as session:
        status = dict(session.execute(select(ModelVersion.version, ModelVersion.status)).all())
        actions = list(session.scalars(select(AuditEvent.action)))
    assert status == {1: ModelStatus.RETIRED, 2: ModelStatus.ACTIVE}
    assert actions == ["model.activate"]
