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


def test_0002_backfills_the_rollup_from_stored_scores_and_downgrades_cleanly(
    empty_db_url: str,
) -> None:
    from sqlalchemy import insert, select

    from db.engine import make_session_factory, unit_of_work
    from db.models import Score, ScoreRollup
    from db.rollup import hour_of
    from db.timeline import rollup_timeline, score_timeline
    from tests.db.test_rollup import SPAN, T0, _line_and_models, _score_rows, _seconds

    upgrade(empty_db_url, "0001")
    engine = make_engine(empty_db_url)
    factory = make_session_factory(engine)
    try:
        hours: set[tuple[int, int]] = set()
        with unit_of_work(factory) as session:
            line_id, models = _line_and_models(session, n_models=2)
            for seed, model_id in enumerate(models, start=7):
                rows = _score_rows(session, line_id, model_id, _seconds(700, seed), seed)
                for row in rows:
                    del row["extreme_risk"]  # 0001 has no such column
                rows[-1]["ts"] = None  # a score without a time stays out of every timeline
                session.execute(insert(Score), rows)
                hours |= {(model_id, hour_of(r["ts"])) for r in rows if r["ts"] is not None}
        assert "score_rollup" not in inspect(engine).get_table_names()

        for _ in range(2):  # upgrade, then downgrade one step and upgrade again
            upgrade(empty_db_url)
            with factory() as session:
                for model_id in models:
                    for buckets in (120, 10):
                        rolled = rollup_timeline(
                            session, line_id, T0, T0 + SPAN, buckets, model_version_id=model_id
                        )
                        raw = score_timeline(
                            session, line_id, T0, T0 + SPAN, buckets, model_version_id=model_id
                        )
                        assert [(p.start, p.n, p.n_flagged, p.max_score) for p in rolled] == [
                            (p.start, p.n, p.n_flagged, p.max_score) for p in raw
                        ]
                        assert sum(p.n for p in rolled) == 699
                stored = session.execute(
                    select(ScoreRollup.model_version_id, ScoreRollup.bucket_hour)
                ).all()
                assert sorted(map(tuple, stored)) == sorted(hours)
                assert session.scalar(select(Score.extreme_risk).limit(1)) is None
            downgrade(empty_db_url, "0001")
            inspector = inspect(engine)
            assert "score_rollup" not in inspector.get_table_names()
            assert "extreme_risk" not in {c["name"] for c in inspector.get_columns("score")}
            assert current_revision(engine) == "0001"
        upgrade(empty_db_url)  # the score table rebuilt by the downgrade kept its indexes
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
