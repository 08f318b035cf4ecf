"""Fixtures for ingest tests: a line with the corpus schema, and a shared per-module database.

The corpus has three dozen files; giving each its own PostgreSQL database would cost a minute,
so ``ingest_env`` migrates one database per backend per module and every case ingests into a
line of its own (no case can see another's samples).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.services.lines import LineSpec, create_line
from db.engine import make_engine, make_session_factory, unit_of_work
from db.migrate import upgrade
from db.scratch import scratch_database
from tests.app.ingest.corpus import FEATURES, UNITS
from tests.conftest import pg_base_url

Env = tuple[Settings, sessionmaker[Session]]


def make_line(factory: sessionmaker[Session], name: str | None = None) -> str:
    name = name or f"pump_{uuid.uuid4().hex[:8]}"
    with unit_of_work(factory) as session:
        create_line(session, LineSpec(name, FEATURES, "timestamp", units=dict(UNITS)))
    return name


@pytest.fixture
def line(session_factory: sessionmaker[Session]) -> str:
    return make_line(session_factory, "pump_a")


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def ingest_env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    data_dir: Path = tmp_path_factory.mktemp("ingest_env") / "var"
    drop: Callable[[], None] | None = None
    if request.param == "sqlite":
        url = f"sqlite:///{(data_dir.parent / 'kdmon.db').as_posix()}"
    else:
        base = pg_base_url()
        if base is None:
            pytest.skip("KDMON_TEST_PG_URL is not set; PostgreSQL tests skipped")
        url, drop = scratch_database(base)
    upgrade(url)
    settings = Settings(data_dir=data_dir, database_url=url)
    settings.ensure_dirs()
    engine = make_engine(url)
    try:
        yield settings, make_session_factory(engine)
    finally:
        engine.dispose()
        if drop is not None:
            drop()
