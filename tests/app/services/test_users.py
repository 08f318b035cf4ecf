"""User administration: admin-only, audited, never lose the last admin."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.services.auth import Actor, authenticate
from app.services.errors import PermissionDeniedError, ValidationError
from app.services.users import add_user, deactivate, list_users, reset_password, set_role
from db.engine import unit_of_work
from db.models import AuditEvent, Role, User

ADMIN = Actor("ada", Role.ADMIN)
REVIEWER = Actor("rita", Role.REVIEWER)


@pytest.fixture
def factory(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    with unit_of_work(session_factory) as session:
        add_user(session, "ada", "admin-pass-1", Role.ADMIN, actor=None)
    return session_factory


def test_cli_bootstrap_and_admin_add_users_and_both_are_audited(
    factory: sessionmaker[Session],
) -> None:
    with unit_of_work(factory) as session:
        add_user(session, "rita", "review-pass", Role.REVIEWER, actor=ADMIN)
    with factory() as session:
        users = {u.username: u.role for u in list_users(session, ADMIN)}
        events = session.execute(select(AuditEvent.actor, AuditEvent.target)).all()
        stored = session.scalar(select(User.password_hash).where(User.username == "rita"))
    assert users == {"ada": Role.ADMIN, "rita": Role.REVIEWER}
    assert ("cli", "user:ada") in events and ("ada", "user:rita") in events
    assert stored is not None and stored.startswith("$argon2") and "review-pass" not in stored


def test_non_admins_cannot_manage_users_even_through_the_service(
    factory: sessionmaker[Session],
) -> None:
    with factory() as session:
        for call in (
            lambda: add_user(session, "eve", "password-1", Role.ADMIN, actor=REVIEWER),
            lambda: list_users(session, REVIEWER),
            lambda: set_role(session, "ada", Role.VIEWER, REVIEWER),
            lambda: deactivate(session, "ada", REVIEWER),
            lambda: reset_password(session, "ada", "password-2", REVIEWER),
        ):
            with pytest.raises(PermissionDeniedError):
                call()


def test_bad_names_short_passwords_and_duplicates_are_refused(
    factory: sessionmaker[Session],
) -> None:
    with factory() as session:
        with pytest.raises(ValidationError):
            add_user(session, "has space", "password-1", Role.VIEWER, actor=ADMIN)
        with pytest.raises(ValidationError):
            add_user(session, "bob", "short", Role.VIEWER, actor=ADMIN)
        with pytest.raises(ValidationError):
            add_user(session, "ada", "password-1", Role.VIEWER, actor=ADMIN)


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(
    factory: sessionmaker[Session],
) -> None:
    with factory() as session:
        with pytest.raises(ValidationError):
            set_role(session, "ada", Role.VIEWER, ADMIN)
        with pytest.raises(ValidationError):
            deactivate(session, "ada", ADMIN)


def test_reset_password_lifts_the_lockout(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    with unit_of_work(factory) as session:
        add_user(session, "rita", "review-pass", Role.REVIEWER, actor=ADMIN)
        user = session.scalar(select(User).where(User.username == "rita"))
        assert user is not None
        user.failed_logins = 3
    with unit_of_work(factory) as session:
        info = reset_password(session, "rita", "new-review-pass", ADMIN)
    assert info.failed_logins == 0
    with factory() as session:
        assert authenticate(session, settings, "rita", "new-review-pass").role == Role.REVIEWER
