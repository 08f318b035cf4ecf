"""hourly score rollup (backfilled) and score.extreme_risk

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

The backfill SQL is written out here rather than imported from ``db.rollup``: a migration must
keep doing what it did when it was written, whatever later code looks like.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Whole hours since the epoch, floored (also before 1970). SQLite keeps timestamps as UTC text
# 'YYYY-MM-DD HH:MM:SS.ffffff': grouping on the 'YYYY-MM-DD HH' prefix is cheap, and the epoch
# conversion then runs once per group instead of once per score.
_SQLITE_BACKFILL = """
INSERT INTO score_rollup
    (line_id, model_version_id, bucket_hour, n, n_flagged, min_score, max_score, sum_score,
     max_risk)
SELECT line_id, model_version_id,
       (secs - (((secs % 3600) + 3600) % 3600)) / 3600,
       n, n_flagged, min_score, max_score, sum_score, max_risk
FROM (
    SELECT line_id, model_version_id,
           CAST(strftime('%s', substr(ts, 1, 13) || ':00:00') AS INTEGER) AS secs,
           count(*) AS n, sum(CASE WHEN flagged THEN 1 ELSE 0 END) AS n_flagged,
           min(score) AS min_score, max(score) AS max_score, sum(score) AS sum_score,
           max(extreme_risk) AS max_risk
    FROM score
    WHERE ts IS NOT NULL
    GROUP BY line_id, model_version_id, substr(ts, 1, 13)
) AS hourly
"""

_POSTGRESQL_BACKFILL = """
INSERT INTO score_rollup
    (line_id, model_version_id, bucket_hour, n, n_flagged, min_score, max_score, sum_score,
     max_risk)
SELECT line_id, model_version_id, CAST(floor(extract(epoch FROM ts) / 3600) AS BIGINT),
       count(*), sum(CASE WHEN flagged THEN 1 ELSE 0 END),
       min(score), max(score), sum(score), max(extreme_risk)
FROM score
WHERE ts IS NOT NULL
GROUP BY 1, 2, 3
"""


def upgrade() -> None:
    with op.batch_alter_table("score", schema=None) as batch_op:
        batch_op.add_column(sa.Column("extreme_risk", sa.Float(), nullable=True))
    op.create_table(
        "score_rollup",
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("bucket_hour", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("n_flagged", sa.Integer(), nullable=False),
        sa.Column("min_score", sa.Float(), nullable=False),
        sa.Column("max_score", sa.Float(), nullable=False),
        sa.Column("sum_score", sa.Float(), nullable=False),
        sa.Column("max_risk", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["line_id"], ["line.id"], name=op.f("fk_score_rollup_line_id_line"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_version.id"],
            name=op.f("fk_score_rollup_model_version_id_model_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "line_id", "model_version_id", "bucket_hour", name=op.f("pk_score_rollup")
        ),
    )
    with op.batch_alter_table("score_rollup", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_score_rollup_model_version_id"), ["model_version_id"], unique=False
        )
    backfill = _SQLITE_BACKFILL if op.get_bind().dialect.name == "sqlite" else _POSTGRESQL_BACKFILL
    op.execute(sa.text(backfill))


def downgrade() -> None:
    with op.batch_alter_table("score_rollup", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_score_rollup_model_version_id"))
    op.drop_table("score_rollup")
    with op.batch_alter_table("score", schema=None) as batch_op:
        batch_op.drop_column("extreme_risk")
