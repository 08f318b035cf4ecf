"""Threshold what-if, audit and users pages (models, schedules, data, reports: own files)."""

from __future__ import annotations

from sqlalchemy import select

from db.models import AuditEvent, ThresholdVersion, User
from tests.app.ui.seed import Seeded


def test_whatif_counts_change_with_the_candidate_and_an_admin_saves_it(
    seeded: Seeded,
    app_as,
    app_factory,  # type: ignore[no-untyped-def]
) -> None:
    at = app_as("ada", "app/ui/threshold_whatif.py")
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Flagged"] == "12" and metrics["No longer flagged"] == "0"
    at.number_input(key=f"wi_candidate_{seeded.line_id}").set_value(0.855).run()
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["No longer flagged"]) > 0
    at.text_input(key="wi_reason").input("fewer false alarms")
    at.button(key="FormSubmitter:wi_save-Put 0.8550 in force").click().run()
    assert not at.exception
    assert any("now in force" in s.value for s in at.success)
    with app_factory() as session:
        saved = session.scalar(select(ThresholdVersion))
    assert saved is not None and saved.value == 0.855 and saved.created_by == "ada"


def test_a_reviewer_explores_thresholds_but_cannot_save(seeded: Seeded, app_as) -> None:  # type: ignore[no-untyped-def]
    at = app_as("rita", "app/ui/threshold_whatif.py")
    assert not at.exception and at.metric
    assert not [b for b in at.button if b.key.startswith("FormSubmitter:wi_save")]
    assert any("Only admins" in i.value for i in at.info)


def test_audit_page_shows_reviews_and_logins_to_admins(
    seeded: Seeded,
    app_as,
    app_factory,  # type: ignore[no-untyped-def]
) -> None:
    from app.services.auth import Actor
    from app.services.review import record_verdicts
    from db.engine import unit_of_work
    from db.models import Role, Verdict

    with unit_of_work(app_factory) as session:
        record_verdicts(session, Actor("rita", Role.REVIEWER), seeded.flagged_ids[:1], "confirmed")
    login = app_as(None)
    login.text_input(key="login_username").input("rita")
    login.text_input(key="login_password").input("wrong-password")
    login.button(key="FormSubmitter:login-Log in").click().run()
    at = app_as("ada", "app/ui/audit.py")
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["Action"]) == ["login.failed", "review." + Verdict.CONFIRMED.value]
    assert list(table["Who"]) == ["rita", "rita"]
    at.text_input(key="audit_action").input("login.failed").run()
    assert set(at.dataframe[0].value["Action"]) == {"login.failed"}


def test_admin_adds_a_user_and_changes_a_role(
    seeded: Seeded,
    app_as,
    app_factory,  # type: ignore[no-untyped-def]
) -> None:
    at = app_as("ada", "app/ui/users.py")
    assert not at.exception
    assert set(at.dataframe[0].value["User"]) == {"ada", "rita", "vic"}
    at.text_input(key="users_new_name").input("otto")
    at.text_input(key="users_new_password").input("otto-pass-1")
    at.selectbox(key="users_new_role").set_value("reviewer")
    at.button(key="FormSubmitter:users_add-Add user").click().run()
    assert [s.value for s in at.success] == ["Added otto."]
    at.selectbox(key="users_who").set_value("vic")
    at.radio(key="users_what").set_value("role")
    at.selectbox(key="users_role").set_value("reviewer")
    at.button(key="FormSubmitter:users_change-Apply").click().run()
    assert not at.exception
    with app_factory() as session:
        roles = dict(session.execute(select(User.username, User.role)).all())
        events = list(session.scalars(select(AuditEvent.action)))
    assert roles["otto"] == "reviewer" and roles["vic"] == "reviewer"
    assert "user.role" in events
