"""Keep ``score_rollup`` (hourly score aggregates) in step with ``score``.

Whatever writes scores calls :func:`add_scores` with the rows it just inserted, in the same
transaction, so the rollup can never be ahead of or behind the committed scores. Whatever
rewrites a model's scores in place (re-flagging after a threshold change or an activation)
calls :func:`rebuild_model`, which recomputes that model's rows from its scores.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Connection, Integer, case, cast, delete, extract, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from db.models import Score, ScoreRollup

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
UPSERT_CHUNK = 2_000

Key = tuple[int, int, int]  # (line_id, model_version_id, bucket_hour)


def hour_of(ts: datetime) -> int:
    """Whole hours since 1970-01-01 UTC, floored; naive datetimes are taken as UTC."""
    aware = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts
    return (aware - EPOCH) // HOUR


@dataclass
class _Hour:
    n: int
    n_flagged: int
    min_score: float
    max_score: float
    sum_score: float
    max_risk: float | None

    def add(self, score: float, flagged: bool, risk: float | None) -> None:
        self.n += 1
        self.n_flagged += int(flagged)
        self.min_score = min(self.min_score, score)
        self.max_score = max(self.max_score, score)
        self.sum_score += score
        if risk is not None and (self.max_risk is None or risk > self.max_risk):
            self.max_risk = risk


def aggregate(rows: Iterable[Mapping[str, Any]]) -> dict[Key, _Hour]:
    """Hourly aggregates of score rows (dicts as inserted); rows without a timestamp are left
    out, as every timeline leaves them out."""
    hours: dict[Key, _Hour] = {}
    for row in rows:
        ts = row["ts"]
        if ts is None:
            continue
        key = (int(row["line_id"]), int(row["model_version_id"]), hour_of(ts))
        score, flagged, risk = float(row["score"]), bool(row["flagged"]), row.get("extreme_risk")
        risk = None if risk is None else float(risk)
        acc = hours.get(key)
        if acc is None:
            hours[key] = _Hour(1, int(flagged), score, score, score, risk)
        else:
            acc.add(score, flagged, risk)
    return hours


def _larger(old: ColumnElement[Any], new: ColumnElement[Any], bigger: Any) -> Any:
    """The larger of two values, NULL only when both are (SQLite's max(a, NULL) is NULL)."""
    return bigger(func.coalesce(old, new), func.coalesce(new, old))


def _dialect(db: Session | Connection) -> str:
    return db.dialect.name if isinstance(db, Connection) else db.get_bind().dialect.name


def add_scores(db: Session | Connection, rows: Iterable[Mapping[str, Any]]) -> int:
    """Merge freshly inserted score rows into the rollup; returns the hours touched.

    ``db`` is the session (or Core connection) whose transaction inserted the rows. One upsert
    per chunk of hours, keys in sorted order so two writers on the same line take row locks in
    the same order on PostgreSQL.
    """
    hours = aggregate(rows)
    if not hours:
        return 0
    dialect = _dialect(db)
    if dialect == "postgresql":
        insert_, smaller, bigger = postgresql.insert, func.least, func.greatest
    elif dialect == "sqlite":
        insert_, smaller, bigger = sqlite.insert, func.min, func.max
    else:
        raise NotImplementedError(f"the score rollup does not support the {dialect!r} database")
    values = [
        {
            "line_id": line_id,
            "model_version_id": model_id,
            "bucket_hour": hour,
            "n": acc.n,
            "n_flagged": acc.n_flagged,
            "min_score": acc.min_score,
            "max_score": acc.max_score,
            "sum_score": acc.sum_score,
            "max_risk": acc.max_risk,
        }
        for (line_id, model_id, hour), acc in sorted(hours.items())
    ]
    table = ScoreRollup.__table__
    for start in range(0, len(values), UPSERT_CHUNK):
        stmt = insert_(table).values(values[start : start + UPSERT_CHUNK])
        new, old = stmt.excluded, table.c
        stmt = stmt.on_conflict_do_update(
            index_elements=[old.line_id, old.model_version_id, old.bucket_hour],
            set_={
                "n": old.n + new.n,
                "n_flagged": old.n_flagged + new.n_flagged,
                "min_score": smaller(old.min_score, new.min_score),
                "max_score": bigger(old.max_score, new.max_score),
                "sum_score": old.sum_score + new.sum_score,
                "max_risk": _larger(old.max_risk, new.max_risk, bigger),
            },
        )
        db.execute(stmt)
    return len(values)


def hour_expression(dialect: str) -> ColumnElement[int]:
    """``Score.ts`` as whole hours since the epoch, floored, computed in the database."""
    if dialect == "postgresql":
        return cast(func.floor(extract("epoch", Score.ts) / 3600), BigInteger)
    if dialect == "sqlite":
        # Whole seconds of the UTC text, the fraction cut off first (strftime rounds to
        # milliseconds, which would carry 59.9999995 s into the next hour); floored below zero.
        secs = cast(func.strftime("%s", func.substr(Score.ts, 1, 19)), Integer)
        return (secs - ((secs % 3600) + 3600) % 3600) // 3600
    raise NotImplementedError(f"the score rollup does not support the {dialect!r} database")


def rebuild_model(session: Session, model_version_id: int) -> None:
    """Recompute one model version's rollup rows from its stored scores.

    For every in-place rewrite of a model's scores (re-flagging, deletion): cheaper to
    recompute than to work out what each update changed, and right by construction.
    """
    dialect = session.get_bind().dialect.name
    hour = hour_expression(dialect).label("bucket_hour")
    session.execute(delete(ScoreRollup).where(ScoreRollup.model_version_id == model_version_id))
    aggregated = (
        select(
            Score.line_id,
            Score.model_version_id,
            hour,
            func.count(),
            func.sum(case((Score.flagged, 1), else_=0)),
            func.min(Score.score),
            func.max(Score.score),
            func.sum(Score.score),
            func.max(Score.extreme_risk),
        )
        .where(Score.model_version_id == model_version_id, Score.ts.is_not(None))
        .group_by(Score.line_id, Score.model_version_id, hour)
    )
    session.execute(
        ScoreRollup.__table__.insert().from_select(
            [
                "line_id",
                "model_version_id",
                "bucket_hour",
                "n",
                "n_flagged",
                "min_score",
                "max_score",
                "sum_score",
                "max_risk",
            ],
            aggregated,
        )
    )
