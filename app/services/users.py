"""User accounts: add, list, change role, deactivate, reset password.

All of it is admin-only and audited. ``actor=None`` means the CLI (``kdmon users add/list``):
whoever runs it already holds the database, and it is how the first admin is created.
Accounts are deactivated, never deleted, so reviews and audit events keep a valid name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services import audit
from app.services.auth import Actor, hash_password, require
from app.services.errors import NotFoundError, ValidationError
from db.models import Role, User

CLI_ACTOR = "cli"
_USERNAME = re.compile(r"^[A-Za-z0-9._@+-]{2,120}$")


@dataclass(frozen=True)
class UserInfo:
    """A user as the dashboard and the CLI show it (never the hash)."""

    username: str
    role: Role
    active: bool
    locked_until: datetime | None
    failed_logins: int
    created_at: datetime


def _info(user: User) -> UserInfo:
    return UserInfo(
        user.username,
        Role(user.role),
        bool(user.active),
        user.locked_until,
        int(user.failed_logins or 0),
        user.created_at,
    )


def _check_admin(actor: Actor | None, *, allow_cli: bool) -> str:
    if actor is None:
        if not allow_cli:
            raise ValidationError("This action needs a logged-in admin.")
        return CLI_ACTOR
    require(actor, Role.ADMIN)
    return actor.username


def _get(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        raise NotFoundError(f"No user {username!r}.")
    return user


def add_user(
    session: Session, username: str, password: str, role: Role | str, actor: Actor | None
) -> UserInfo:
    """Create an account; ``actor`` None only for the CLI bootstrap."""
    by = _check_admin(actor, allow_cli=True)
    name = username.strip()
    if not _USERNAME.match(name):
        raise ValidationError(
            f"A user name has 2-120 letters, digits or . _ @ + - (no spaces), got {username!r}."
        )
    role = Role(role)
    if session.scalar(select(User.id).where(User.username == name)) is not None:
        raise ValidationError(f"User {name!r} already exists.")
    user = User(
        username=name,
        role=role,
        password_hash=hash_password(password),
        active=True,
        failed_logins=0,
    )
    session.add(user)
    audit.record(session, by, "user.add", f"user:{name}", {"role": role.value})
    session.flush()
    return _info(user)


def list_users(session: Session, actor: Actor | None) -> list[UserInfo]:
    """All accounts by name; ``actor`` None for the CLI."""
    _check_admin(actor, allow_cli=True)
    return [_info(u) for u in session.scalars(select(User).order_by(User.username))]


def _active_admins(session: Session) -> int:
    return len(
        list(session.scalars(select(User.id).where(User.role == Role.ADMIN, User.active.is_(True))))
    )


def set_role(session: Session, username: str, role: Role | str, actor: Actor | None) -> UserInfo:
    """Change a user's role; the last active admin cannot be demoted (nobody could undo it)."""
    by = _check_admin(actor, allow_cli=True)
    user = _get(session, username)
    role = Role(role)
    old = Role(user.role)
    if old == Role.ADMIN and role != Role.ADMIN and user.active and _active_admins(session) <= 1:
        raise ValidationError("Cannot demote the last active admin.")
    user.role = role
    audit.record(session, by, "user.role", f"user:{user.username}", {"from": old, "to": role})
    session.flush()
    return _info(user)


def deactivate(session: Session, username: str, actor: Actor | None) -> UserInfo:
    """Block an account from logging in; its history stays."""
    by = _check_admin(actor, allow_cli=True)
    user = _get(session, username)
    if Role(user.role) == Role.ADMIN and user.active and _active_admins(session) <= 1:
        raise ValidationError("Cannot deactivate the last active admin.")
    user.active = False
    audit.record(session, by, "user.deactivate", f"user:{user.username}", {})
    session.flush()
    return _info(user)


def reactivate(session: Session, username: str, actor: Actor | None) -> UserInfo:
    """Let a deactivated account log in again."""
    by = _check_admin(actor, allow_cli=True)
    user = _get(session, username)
    user.active = True
    audit.record(session, by, "user.reactivate", f"user:{user.username}", {})
    session.flush()
    return _info(user)


def reset_password(
    session: Session, username: str, new_password: str, actor: Actor | None
) -> UserInfo:
    """Set a new password and lift any lockout."""
    by = _check_admin(actor, allow_cli=True)
    user = _get(session, username)
    user.password_hash = hash_password(new_password)
    user.failed_logins = 0
    user.locked_until = None
    audit.record(session, by, "user.reset_password", f"user:{user.username}", {})
    session.flush()
    return _info(user)
