"""line.reference_start / reference_end: a span the engineers vouch for as fault-free

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("line", sa.Column("reference_start", sa.DateTime(timezone=True), nullable=True))
    op.add_column("line", sa.Column("reference_end", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35), not batch mode: batch mode rebuilds
    # the line table on SQLite, and dropping it would cascade to every sample and score.
    op.drop_column("line", "reference_end")
    op.drop_column("line", "reference_start")
