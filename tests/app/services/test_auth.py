"""Login, lockout, role ordering and session expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.services.auth import (
    LOGIN_FAILED_MESSAGE,
    Actor,
    LoginFailedError,
    actor_for_identity,
    authenticate,
    is_session_expired,
    require,
)
from app.services.errors import PermissionDeniedError
from app.services.users import add_user, deactivate
from db.engine import unit_of_work
from db.models import AuditEvent, Role, User

PASSWORD = "s3cret-pass"


@pytest.fixture
def with_user(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    with unit_of_work(session_factory) as session:
        add_user(session, "rita", PASSWORD, Role.REVIEWER, actor=None)
    return session_factory


def test_roles_are_ordered_viewer_reviewer_admin() -> None:
    admin, viewer = Actor("a", Role.ADMIN), Actor("v", Role.VIEWER)
    assert admin.can(Role.REVIEWER) and admin.can(Role.VIEWER)
    assert viewer.can(Role.VIEWER) and not viewer.can(Role.REVIEWER)
    assert require(admin, Role.ADMIN) is admin
    with pytest.raises(PermissionDeniedError):
        require(viewer, Role.REVIEWER)
    with pytest.raises(PermissionDeniedError):
        require(None, Role.VIEWER)


def test_correct_password_returns_the_actor_with_its_role(
    with_user: sessionmaker[Session], settings: Settings
) -> None:
    with with_user() as session:
        actor = authenticate(session, settings, "rita", PASSWORD)
    assert actor == Actor("rita", Role.REVIEWER)


def test_unknown_user_and_wrong_password_get_the_same_message(
    with_user: sessionmaker[Session], settings: Settings
) -> None:
    messages = []
    for name, password in [("nobody", PASSWORD), ("rita", "wrong-password")]:
        with with_user() as session, pytest.raises(LoginFailedError) as info:
            authenticate(session, settings, name, password)
        messages.append(str(info.value))
    assert messages == [LOGIN_FAILED_MESSAGE, LOGIN_FAILED_MESSAGE]
    assert "rita" not in LOGIN_FAILED_MESSAGE


def test_too_many_failures_lock_the_account_until_the_lockout_ends(
    with_user: sessionmaker[Session], settings: Settings
) -> None:
    settings = settings.with_(max_failed_logins=3, login_lockout_minutes=15)
    now = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    for _ in range(3):
        with with_user() as session, pytest.raises(LoginFailedError):
            authenticate(session, settings, "rita", "wrong-password", now=now)
    with with_user() as session, pytest.raises(LoginFailedError):
        authenticate(session, settings, "rita", PASSWORD, now=now + timedelta(minutes=5))
    with with_user() as session:
        actor = authenticate(session, settings, "rita", PASSWORD, now=now + timedelta(minutes=16))
        user = session.scalar(select(User).where(User.username == "rita"))
        assert user is not None and user.failed_logins == 0 and user.locked_until is None
        actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actor.role == Role.REVIEWER
    assert actions.count("login.failed") == 4 and actions[-1] == "login"


def test_failures_are_counted_even_inside_a_unit_of_work(
    with_user: sessionmaker[Session], settings: Settings
) -> None:
    with pytest.raises(LoginFailedError), unit_of_work(with_user) as session:
        authenticate(session, settings, "rita", "wrong-password")
    with with_user() as session:
        assert session.scalar(select(User.failed_logins).where(User.username == "rita")) == 1


def test_deactivated_users_cannot_log_in_or_keep_a_session(
    with_user: sessionmaker[Session], settings: Settings
) -> None:
    with unit_of_work(with_user) as session:
        add_user(session, "ada", PASSWORD, Role.ADMIN, actor=None)
        deactivate(session, "rita", Actor("ada", Role.ADMIN))
    with with_user() as session:
        with pytest.raises(LoginFailedError):
            authenticate(session, settings, "rita", PASSWORD)
        assert actor_for_identity(session, "rita") is None
        assert actor_for_identity(session, "ada") == Actor("ada", Role.ADMIN)


def test_sessions_expire_after_the_ttl() -> None:
    settings = Settings(session_ttl_minutes=30)
    start = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    assert not is_session_expired(settings, start, start + timedelta(minutes=29))
    assert is_session_expired(settings, start, start + timedelta(minutes=30))
    assert is_session_expired(settings, None)
    naive = start.replace(tzinfo=None)
    assert is_session_expired(settings, naive, start + timedelta(hours=1))
