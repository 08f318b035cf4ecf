"""Migrations: upgrade from empty, downgrade a step, and models that match the migrations."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from db.engine import make_engine
from db.migrate import current_revision, downgrade, head_revision, upgrade
from db.models import Base


def test_upgrade_from_empty_creates_every_model_table(empty_db_url: str) -> None:
    upgrade(empty_db_url)
    engine = make_engine(empty_db_url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_models_match_migrations(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
        assert diff == [], f"models and migrations differ; add a migration: {diff}"
    finally:
        engine.dispose()


def test_downgrade_one_step_and_upgrade_again(db_url: str) -> None:
    downgrade(db_url, "-1")
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) != head_revision()
        upgrade(db_url)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
