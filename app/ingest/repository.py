"""Bulk reads and writes for ingest: COPY on PostgreSQL, chunked executemany elsewhere.

Never one ORM object per row: a million samples as ORM objects cost minutes and gigabytes.
Everything here runs inside the caller's session and transaction, so an ingest that dies
half-way leaves nothing behind.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from db.bulk import INSERT_CHUNK, bulk_insert
from db.models import QuarantinedRow, Sample

MAX_RAW_CHARS = 65_536
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ns_to_datetimes(ns: np.ndarray) -> list[datetime]:
    """UTC-aware datetimes (microsecond precision, as both databases store them)."""
    return [EPOCH + timedelta(microseconds=us) for us in (ns // 1000).tolist()]


def as_utc(value: datetime) -> datetime:
    """SQLite hands timestamps back without a zone; kdmon stores UTC, so naive means UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def datetime_to_ns(value: datetime) -> int:
    delta = as_utc(value) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def clean_text(text: str, limit: int = MAX_RAW_CHARS) -> str:
    """PostgreSQL text cannot hold NUL; a runaway line should not become a 2 GB cell."""
    text = text.replace("\x00", "\ufffd")
    if len(text) > limit:
        return f"{text[:limit]}... [cut, {len(text)} characters in all]"
    return text


def json_template(names: Sequence[str]) -> str:
    """A ``%``-template that renders a row of floats as the JSON object json.dumps would give.

    ``repr`` of a finite float is a valid JSON number and round-trips exactly; doing the
    formatting with one template instead of ``json.dumps(dict(...))`` per row is about twice
    as fast, which is most of the time spent writing a million samples.
    """
    parts = [json.dumps(name).replace("%", "%%") + ": %r" for name in names]
    return "{" + ", ".join(parts) + "}"


def _copy_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _sqlite_times(ts: np.ndarray) -> list[str]:
    """SQLAlchemy's SQLite DATETIME storage format, 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC)."""
    text = np.datetime_as_string(ts.astype("datetime64[ns]").astype("datetime64[us]"), unit="us")
    return [t[:10] + " " + t[11:] for t in text.tolist()]


def insert_samples(
    session: Session,
    *,
    line_id: int,
    batch_id: int,
    features: Sequence[str],
    row_numbers: np.ndarray,
    ts: np.ndarray | None,
    values: np.ndarray,
    repaired: np.ndarray,
) -> None:
    """Write accepted rows; ``values`` is (n, len(features)) finite floats in schema order.

    Goes below the ORM on purpose: SQLAlchemy's per-row parameter processing doubled the time
    of a million-row ingest. PostgreSQL gets COPY; SQLite a driver-level executemany. Both run
    in the session's transaction and store exactly what ``insert(Sample)`` would.
    """
    if not len(row_numbers):
        return
    template = json_template(features)
    numbers = row_numbers.tolist()
    flags = repaired.tolist()
    vectors = values.tolist()
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        from psycopg import sql

        stamps = (
            [t + "+00" for t in _sqlite_times(ts)] if ts is not None else ["\\N"] * len(numbers)
        )
        copy_template = _copy_escape(template)
        head = f"{line_id}\t{batch_id}\t"
        statement = sql.SQL(
            "COPY sample (line_id, batch_id, row_number, ts, {}, repaired) FROM STDIN"
        ).format(sql.Identifier("values"))
        dbapi = connection.connection.driver_connection
        with dbapi.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
            for start in range(0, len(numbers), INSERT_CHUNK):
                stop = start + INSERT_CHUNK
                copy.write(
                    "".join(
                        f"{head}{n}\t{t}\t{copy_template % tuple(v)}\t{'t' if r else 'f'}\n"
                        for n, t, v, r in zip(
                            numbers[start:stop],
                            stamps[start:stop],
                            vectors[start:stop],
                            flags[start:stop],
                            strict=True,
                        )
                    )
                )
        return
    stamps_sqlite: list[str | None] = _sqlite_times(ts) if ts is not None else [None] * len(numbers)
    statement_sqlite = (
        'INSERT INTO sample (line_id, batch_id, row_number, ts, "values", repaired) '
        "VALUES (?, ?, ?, ?, ?, ?)"
    )
    for start in range(0, len(numbers), INSERT_CHUNK):
        stop = start + INSERT_CHUNK
        connection.exec_driver_sql(
            statement_sqlite,
            [
                (line_id, batch_id, n, t, template % tuple(v), int(r))
                for n, t, v, r in zip(
                    numbers[start:stop],
                    stamps_sqlite[start:stop],
                    vectors[start:stop],
                    flags[start:stop],
                    strict=True,
                )
            ],
        )


def insert_quarantine(session: Session, batch_id: int, problems: Sequence[Any]) -> None:
    """``problems`` are :class:`app.ingest.report.RowProblem`s (one per rejected row)."""
    rows = [
        {
            "batch_id": batch_id,
            "row_number": p.row_number,
            "column": None if p.column is None else clean_text(p.column, 200)[:200],
            "reason": clean_text(p.reason),
            "raw": clean_text(p.raw),
        }
        for p in problems
    ]
    bulk_insert(session, QuarantinedRow.__table__, rows)  # type: ignore[arg-type]


def stored_times(
    session: Session, line_id: int, ts: np.ndarray, exclude_batch: int | None = None
) -> dict[int, tuple[int, int]]:
    """Which of the sorted epoch-ns ``ts`` a line already has: {ts: (batch_id, row_number)}."""
    if not len(ts):
        return {}
    low, high = ns_to_datetimes(np.array([ts[0], ts[-1]], dtype=np.int64))
    query = select(Sample.ts, Sample.batch_id, Sample.row_number).where(
        Sample.line_id == line_id, Sample.ts >= low, Sample.ts <= high
    )
    if exclude_batch is not None:
        query = query.where(Sample.batch_id != exclude_batch)
    wanted = set(ts.tolist())
    found: dict[int, tuple[int, int]] = {}
    for stamp, batch_id, row_number in session.execute(query):
        key = datetime_to_ns(stamp)
        if key in wanted and key not in found:
            found[key] = (batch_id, row_number)
    return found


def take_back_samples(
    session: Session, batch_id: int, row_numbers: Sequence[int]
) -> dict[int, tuple[datetime | None, dict[str, Any], bool]]:
    """Delete rows of this batch accepted earlier in the same ingest; returns what they held."""
    taken: dict[int, tuple[datetime | None, dict[str, Any], bool]] = {}
    numbers = list(row_numbers)
    for start in range(0, len(numbers), 1000):
        part = numbers[start : start + 1000]
        for number, stamp, values, repaired in session.execute(
            select(Sample.row_number, Sample.ts, Sample.values, Sample.repaired).where(
                Sample.batch_id == batch_id, Sample.row_number.in_(part)
            )
        ):
            taken[number] = (stamp, values, repaired)
        session.execute(
            delete(Sample).where(Sample.batch_id == batch_id, Sample.row_number.in_(part))
        )
    return taken


def read_samples(
    session: Session, line_id: int, batch_id: int | None = None
) -> list[tuple[int, datetime | None, dict[str, Any], bool]]:
    """(row_number, UTC ts, values, repaired) in file order; for checks and small exports."""
    query = select(Sample.row_number, Sample.ts, Sample.values, Sample.repaired).where(
        Sample.line_id == line_id
    )
    if batch_id is not None:
        query = query.where(Sample.batch_id == batch_id)
    return [
        (number, None if stamp is None else as_utc(stamp), values, repaired)
        for number, stamp, values, repaired in session.execute(
            query.order_by(Sample.batch_id, Sample.row_number)
        )
    ]
