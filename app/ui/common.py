"""What every page shares: the engine, the logged-in actor, cached reads, small formatters.

Pages never open SQL themselves: they call services through :func:`read` (a read-only
session) or :func:`write` (one unit of work), and cached reads through ``st.cache_data`` with a
short TTL, keyed by the database URL so two databases never share a cache entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.services.auth import (
    Actor,
    actor_for_identity,
    is_session_expired,
    session_expires_at,
)
from app.services.errors import KdmonError
from db.engine import make_engine, make_session_factory, unit_of_work
from db.models import Role

AUTH_KEY = "kdmon_auth"
EXPIRED_KEY = "kdmon_session_expired"
READ_TTL_S = 15
T = TypeVar("T")


def settings() -> Settings:
    """Read per run: cheap, and a test can point the app at another database via env vars."""
    return Settings.from_env()


@st.cache_resource(show_spinner=False)
def _session_factory(url: str) -> sessionmaker[Session]:
    """One engine (and pool) per database URL for the whole server process."""
    return make_session_factory(make_engine(url))


def session_factory() -> sessionmaker[Session]:
    return _session_factory(settings().database_url)


@contextmanager
def read() -> Iterator[Session]:
    """A session for reads; nothing is committed."""
    with session_factory()() as session:
        yield session


@contextmanager
def write() -> Iterator[Session]:
    """One transaction; on success the read caches are dropped so the page shows the change."""
    with unit_of_work(session_factory()) as session:
        yield session
    changed()


def changed() -> None:
    """A service wrote through its own transaction: drop the read caches."""
    st.cache_data.clear()


def cached(fn: Callable[..., T]) -> Callable[..., T]:
    """Cache a read ``fn(session, *args)`` for a few seconds, keyed by database URL + args."""

    @st.cache_data(ttl=READ_TTL_S, show_spinner=False)
    def _run(url: str, name: str, *args: Any, **kwargs: Any) -> T:
        with read() as session:
            return fn(session, *args, **kwargs)

    def call(*args: Any, **kwargs: Any) -> T:
        return _run(settings().database_url, f"{fn.__module__}.{fn.__qualname__}", *args, **kwargs)

    return call


# --- who is logged in ------------------------------------------------------------------------


def log_in(actor: Actor, now: datetime | None = None) -> None:
    st.session_state[AUTH_KEY] = {
        "username": actor.username,
        "logged_in_at": now or datetime.now(UTC),
    }
    st.session_state.pop(EXPIRED_KEY, None)


def log_out() -> None:
    st.session_state.pop(AUTH_KEY, None)
    st.cache_data.clear()


def current_actor() -> Actor | None:
    """The logged-in actor, re-read from the user table on every run.

    A deactivated account or a changed role takes effect on the next click; a session older
    than ``session_ttl_minutes`` is dropped and the login form comes back.
    """
    state = st.session_state.get(AUTH_KEY)
    if not state:
        return None
    if is_session_expired(settings(), state.get("logged_in_at")):
        st.session_state.pop(AUTH_KEY, None)
        st.session_state[EXPIRED_KEY] = True
        return None
    with read() as session:
        actor = actor_for_identity(session, state["username"])
    if actor is None:
        st.session_state.pop(AUTH_KEY, None)
    return actor


def session_expiry() -> datetime | None:
    state = st.session_state.get(AUTH_KEY)
    return session_expires_at(settings(), state["logged_in_at"]) if state else None


def page_actor(role: Role = Role.VIEWER) -> Actor:
    """Re-check the role inside the page: hiding a page from the menu is not authorization."""
    actor = current_actor()
    if actor is None:
        st.warning("Please log in to see this page.")
        st.stop()
    if not actor.can(role):
        st.error(f"This page needs the {role.value} role; you are a {Role(actor.role).value}.")
        st.stop()
    return actor  # type: ignore[return-value]


def show_error(exc: Exception) -> None:
    """Errors meant for people are shown as they are; anything else is reported briefly."""
    if isinstance(exc, KdmonError):
        st.error(str(exc))
    else:
        st.error(f"Something went wrong: {type(exc).__name__}: {exc}")


# --- formatting ------------------------------------------------------------------------------


def fmt_time(value: datetime | None) -> str:
    if value is None:
        return "never"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def fmt_ago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "never"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    if seconds < 90:
        return "just now"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def fmt_features(top: list[tuple[str, float]], n: int = 3) -> str:
    return ", ".join(f"{name} ({value:.2f})" for name, value in top[:n])
