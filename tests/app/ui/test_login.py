"""Login, role-built navigation, logout and session expiry, through the whole app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.services.auth import LOGIN_FAILED_MESSAGE, Actor
from app.ui.common import AUTH_KEY
from app.ui.navigation import visible_pages
from db.models import Role
from tests.app.ui.conftest import ENTRYPOINT, REPO
from tests.app.ui.seed import PASSWORD, Seeded


def _log_in(at, username: str, password: str):  # type: ignore[no-untyped-def]
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    return at.button(key="FormSubmitter:login-Log in").click().run()


def test_a_visitor_sees_only_the_login_form(seeded: Seeded, app_as) -> None:  # type: ignore[no-untyped-def]
    at = app_as(None)
    assert not at.exception
    assert [t.value for t in at.title] == ["kdmon"]
    assert not at.metric and not at.dataframe
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("app/ui/review_queue.py")  # only the login page is registered


def test_reviewer_logs_in_and_lands_on_the_overview(seeded: Seeded, app_as) -> None:  # type: ignore[no-untyped-def]
    at = _log_in(app_as(None), "rita", PASSWORD)
    assert not at.exception
    assert at.title[0].value == "Overview"
    assert "rita" in " ".join(m.value for m in at.sidebar.markdown)


def test_a_wrong_password_shows_the_generic_message(seeded: Seeded, app_as) -> None:  # type: ignore[no-untyped-def]
    at = _log_in(app_as(None), "rita", "not-the-password")
    assert [e.value for e in at.error] == [LOGIN_FAILED_MESSAGE]
    at = _log_in(app_as(None), "nobody", PASSWORD)
    assert [e.value for e in at.error] == [LOGIN_FAILED_MESSAGE]


def test_log_out_returns_to_the_login_form(seeded: Seeded, app_as) -> None:  # type: ignore[no-untyped-def]
    at = app_as("rita")
    at.sidebar.button(key="logout").click().run()
    assert AUTH_KEY not in at.session_state
    assert at.title[0].value == "kdmon"


def test_an_expired_session_asks_to_log_in_again(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("KDMON_SESSION_TTL_MINUTES", "30")
    at = AppTest.from_file(ENTRYPOINT, default_timeout=60)
    at.session_state[AUTH_KEY] = {
        "username": "rita",
        "logged_in_at": datetime.now(UTC) - timedelta(minutes=31),
    }
    at.run()
    assert at.title[0].value == "kdmon"
    assert any("expired" in i.value for i in at.info)


def test_a_deactivated_user_is_logged_out_on_the_next_click(
    seeded: Seeded,
    app_factory,
    app_as,  # type: ignore[no-untyped-def]
) -> None:
    from app.services.users import deactivate
    from db.engine import unit_of_work

    at = app_as("rita")
    assert at.title[0].value == "Overview"
    with unit_of_work(app_factory) as session:
        deactivate(session, "rita", Actor("ada", Role.ADMIN))
    at.run()
    assert at.title[0].value == "kdmon"


@pytest.mark.parametrize(
    ("role", "visible", "hidden"),
    [
        (Role.VIEWER, {"Overview", "Review queue", "Models"}, {"Users", "Audit log", "Data"}),
        (Role.REVIEWER, {"Threshold what-if", "Data"}, {"Users", "Audit log"}),
        (Role.ADMIN, {"Users", "Audit log", "Threshold what-if"}, set()),
    ],
)
def test_the_menu_is_built_from_the_role(role: Role, visible: set[str], hidden: set[str]) -> None:
    titles = {p.title for p in visible_pages(Actor("someone", role))}
    assert visible <= titles and not (hidden & titles)
    assert visible_pages(None) == []


def test_a_page_left_out_of_the_menu_cannot_be_reached_by_its_address(
    seeded: Seeded,
    app_as,  # type: ignore[no-untyped-def]
) -> None:
    at = app_as("vic")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("app/ui/users.py")


@pytest.mark.parametrize(
    ("page", "user", "allowed"),
    [
        ("users.py", "rita", False),
        ("audit.py", "rita", False),
        ("threshold_whatif.py", "vic", False),
        ("data.py", "vic", False),
        ("users.py", "ada", True),
        ("review_queue.py", None, False),
    ],
)
def test_every_page_rechecks_the_role_when_run_on_its_own(
    seeded: Seeded, page: str, user: str | None, allowed: bool
) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app" / "ui" / page), default_timeout=60)
    if user is not None:
        at.session_state[AUTH_KEY] = {"username": user, "logged_in_at": datetime.now(UTC)}
    at.run()
    assert not at.exception
    blocked = [e.value for e in at.error] + [w.value for w in at.warning]
    if allowed:
        assert not blocked and at.title
    else:
        assert not at.title
        assert any("needs the" in m or "log in" in m for m in blocked)
