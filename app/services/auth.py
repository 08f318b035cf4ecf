"""Who is acting, what they may do, and how they prove it.

An :class:`Actor` is what every permission-checked service receives. It is produced by
:func:`authenticate` (local password login) or :func:`actor_for_identity` (an identity already
proven elsewhere, e.g. OIDC via ``st.login``: the page maps ``st.user.email`` to a row in our
user table, whose role stays ours). Roles are ordered: viewer < reviewer < admin.

Login failures say the same thing whether the user exists, is inactive or locked, and take about
as long (a dummy hash is verified for unknown names), so the form does not leak account names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.services import audit
from app.services.errors import KdmonError, PermissionDeniedError, ValidationError
from db.models import Role, User

ROLE_RANK: dict[Role, int] = {Role.VIEWER: 0, Role.REVIEWER: 1, Role.ADMIN: 2}
LOGIN_FAILED_MESSAGE = "Unknown user name or wrong password, or the account is locked."
MIN_PASSWORD_LENGTH = 8

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("kdmon-timing-equaliser")


class LoginFailedError(KdmonError):
    """Raised for every failed login with the same generic message."""

    def __init__(self) -> None:
        super().__init__(LOGIN_FAILED_MESSAGE)


@dataclass(frozen=True)
class Actor:
    """A person (or the CLI) acting on kdmon, with the role that bounds what they may do."""

    username: str
    role: Role

    def can(self, role: Role) -> bool:
        """True when this actor's role is at least ``role``."""
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]


def require(actor: Actor | None, role: Role) -> Actor:
    """Return ``actor`` if it holds ``role`` (or higher), else raise PermissionDeniedError."""
    if actor is None:
        raise PermissionDeniedError(f"You must be logged in as {role.value} or higher.")
    if not actor.can(role):
        raise PermissionDeniedError(
            f"{actor.username} is a {Role(actor.role).value}; this needs {role.value} or higher."
        )
    return actor


def hash_password(password: str) -> str:
    """Argon2id hash of a password that meets the minimum length."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def authenticate(
    session: Session,
    settings: Settings,
    username: str,
    password: str,
    now: datetime | None = None,
) -> Actor:
    """Check a password login and return the actor, or raise :class:`LoginFailedError`.

    Failed attempts are counted per account; ``settings.max_failed_logins`` in a row lock it for
    ``settings.login_lockout_minutes``. This function commits the session itself (also before
    raising) so the failure counter survives the caller's rollback.
    """
    now = now or datetime.now(UTC)
    name = username.strip()
    user = session.scalar(select(User).where(User.username == name)) if name else None
    if user is None:
        _verify(_DUMMY_HASH, password)
        audit.record(session, name or "?", "login.failed", f"user:{name}", {"reason": "unknown"})
        session.commit()
        raise LoginFailedError()
    locked_until = _aware(user.locked_until)
    if not user.active or (locked_until is not None and locked_until > now):
        _verify(_DUMMY_HASH, password)
        reason = "inactive" if not user.active else "locked"
        audit.record(session, name, "login.failed", f"user:{name}", {"reason": reason})
        session.commit()
        raise LoginFailedError()
    if not _verify(user.password_hash, password):
        user.failed_logins += 1
        details: dict[str, object] = {"reason": "password", "failed_logins": user.failed_logins}
        if user.failed_logins >= settings.max_failed_logins:
            user.locked_until = now + timedelta(minutes=settings.login_lockout_minutes)
            user.failed_logins = 0
            details["locked_until"] = user.locked_until.isoformat()
        audit.record(session, name, "login.failed", f"user:{name}", details)
        session.commit()
        raise LoginFailedError()
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_logins = 0
    user.locked_until = None
    audit.record(session, name, "login", f"user:{name}", {})
    session.commit()
    return Actor(user.username, Role(user.role))


def actor_for_identity(session: Session, username: str) -> Actor | None:
    """The current actor for an already-authenticated identity, or None if unknown/inactive.

    Used on every page run (so a role change or deactivation takes effect at once) and by an
    OIDC login, which proves the identity but leaves the role to our user table.
    """
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None or not user.active:
        return None
    return Actor(user.username, Role(user.role))


def session_expires_at(settings: Settings, logged_in_at: datetime) -> datetime:
    """When a dashboard session started at ``logged_in_at`` stops being valid."""
    return _aware(logged_in_at) + timedelta(minutes=settings.session_ttl_minutes)  # type: ignore[operator]


def is_session_expired(
    settings: Settings, logged_in_at: datetime | None, now: datetime | None = None
) -> bool:
    """True when there is no login time or the session TTL has passed."""
    if logged_in_at is None:
        return True
    return (now or datetime.now(UTC)) >= session_expires_at(settings, logged_in_at)
