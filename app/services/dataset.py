"""Turn a line's stored samples into the matrices detectors take, and reviews into masks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Line, Review, Sample, Verdict


@dataclass(frozen=True)
class LineMatrix:
    """Samples in time order: ids, timestamps and an (n, d) float matrix in schema order."""

    sample_ids: np.ndarray
    timestamps: list[datetime | None]
    X: np.ndarray
    feature_columns: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.sample_ids)

    def take(self, rows: np.ndarray | slice) -> LineMatrix:
        """The rows a boolean mask or a slice picks, in order."""
        index = np.arange(len(self))[rows]
        return LineMatrix(
            self.sample_ids[index],
            [self.timestamps[i] for i in index],
            self.X[index],
            self.feature_columns,
        )

    def tail(self, n: int) -> LineMatrix:
        """The last ``n`` rows (all of them when there are fewer)."""
        return self.take(slice(max(0, len(self) - n), None))

    def after(self, context: LineMatrix) -> LineMatrix:
        """``context``'s rows followed by these."""
        if len(context) == 0:
            return self
        return LineMatrix(
            np.concatenate([context.sample_ids, self.sample_ids]),
            [*context.timestamps, *self.timestamps],
            np.vstack([context.X, self.X]),
            self.feature_columns,
        )


def to_matrix(
    rows: Sequence[tuple[int, datetime | None, dict]], columns: Sequence[str]
) -> LineMatrix:
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    X = np.empty((len(rows), len(columns)), dtype=np.float32)
    for i, (_, _, values) in enumerate(rows):
        X[i] = [values[c] for c in columns]
    return LineMatrix(ids, [r[1] for r in rows], X, tuple(columns))


def load_samples(
    session: Session,
    line: Line,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    batch_id: int | None = None,
) -> LineMatrix:
    query = select(Sample.id, Sample.ts, Sample.values).where(Sample.line_id == line.id)
    if start is not None:
        query = query.where(Sample.ts >= start)
    if end is not None:
        query = query.where(Sample.ts <= end)
    if batch_id is not None:
        query = query.where(Sample.batch_id == batch_id)
    rows = session.execute(query.order_by(Sample.ts, Sample.id)).all()
    return to_matrix(rows, line.feature_columns)


def load_context_before(
    session: Session, line: Line, first_ts: datetime | None, n: int
) -> LineMatrix:
    """The ``n`` samples just before ``first_ts``: windows that straddle a batch boundary."""
    if n <= 0 or first_ts is None:
        return to_matrix([], line.feature_columns)
    rows = session.execute(
        select(Sample.id, Sample.ts, Sample.values)
        .where(Sample.line_id == line.id, Sample.ts < first_ts)
        .order_by(Sample.ts.desc(), Sample.id.desc())
        .limit(n)
    ).all()
    return to_matrix(list(reversed(rows)), line.feature_columns)


def current_verdicts(session: Session, line_id: int) -> dict[int, Verdict]:
    """The newest verdict per reviewed sample of the line (reviews are append-only)."""
    newest = (
        select(func.max(Review.id).label("id"))
        .join(Sample, Sample.id == Review.sample_id)
        .where(Sample.line_id == line_id)
        .group_by(Review.sample_id)
        .subquery()
    )
    rows = session.execute(
        select(Review.sample_id, Review.verdict).join(newest, newest.c.id == Review.id)
    ).all()
    return {sample_id: verdict for sample_id, verdict in rows}


def feedback_masks(
    sample_ids: np.ndarray, verdicts: dict[int, Verdict]
) -> tuple[np.ndarray, np.ndarray]:
    """(known_normal, known_anomaly) boolean masks aligned with ``sample_ids``."""
    known_normal = np.fromiter(
        (verdicts.get(int(i)) == Verdict.DISMISSED for i in sample_ids), bool, len(sample_ids)
    )
    known_anomaly = np.fromiter(
        (verdicts.get(int(i)) == Verdict.CONFIRMED for i in sample_ids), bool, len(sample_ids)
    )
    return known_normal, known_anomaly
