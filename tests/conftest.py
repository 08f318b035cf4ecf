"""Shared fixtures: settings in a temp folder and a migrated database on each backend.

``db_url`` is parametrized over SQLite and PostgreSQL; the PostgreSQL case skips unless
``KDMON_TEST_PG_URL`` points at a server (CI sets it). Each test gets its own fresh database,
so tests never see each other's rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from db.engine import make_engine, make_session_factory
from db.migrate import upgrade
from db.scratch import scratch_database

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("KDMON_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def pg_base_url() -> str | None:
    return os.environ.get("KDMON_TEST_PG_URL") or None


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared benchmark data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database (no tables) on the requested backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{(tmp_path / 'kdmon.db').as_posix()}"
        return
    base = pg_base_url()
    if base is None:
        pytest.skip("KDMON_TEST_PG_URL is not set; PostgreSQL tests skipped")
    url, drop = scratch_database(base)
    try:
        yield url
    finally:
        drop()


@pytest.fixture
def db_url(empty_db_url: str) -> str:
    """A migrated (alembic head) database on each backend."""
    upgrade(empty_db_url)
    return empty_db_url


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    s = Settings(data_dir=tmp_path / "var", database_url=db_url)
    s.ensure_dirs()
    return s


@pytest.fixture
def session_factory(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.database_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """Settings on a migrated SQLite database, for tests whose subject is not the backend."""
    s = Settings(data_dir=tmp_path / "var")
    s.ensure_dirs()
    upgrade(s.database_url)
    return s
