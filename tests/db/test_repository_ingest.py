"""Bulk sample/quarantine writes and reads (COPY on PostgreSQL, executemany on SQLite)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import insert, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session, sessionmaker

from app.ingest.report import RowProblem
from app.ingest.repository import (
    _sqlite_times,
    insert_quarantine,
    insert_samples,
    json_template,
    read_samples,
    stored_times,
    take_back_samples,
)
from db.bulk import bulk_insert
from db.engine import unit_of_work
from db.models import Batch, Line, QuarantinedRow, Sample, Score
from tests.seeding import add_model

TRICKY = [0.1 + 0.2, 1e-300, 5e-324, -0.0, 1.7976931348623157e308, 123456789.123456789, 2.0]
NAMES = ["plain", 'with "quotes"', "100%", "back\\slash", "tab\there", "ünïcode"]


def _line_and_batch(session: Session) -> tuple[int, int]:
    line = Line(name="l1", feature_columns=NAMES, units={})
    session.add(line)
    session.flush()
    batch = Batch(
        line_id=line.id, source="cli", filename="f.csv", sha256="0" * 64, raw_path="r", size_bytes=1
    )
    session.add(batch)
    session.flush()
    return line.id, batch.id


def _samples_and_model(
    session: Session, line_id: int, batch_id: int, n: int
) -> tuple[list[int], int]:
    """``n`` one-feature samples and a model version to hang scores on: (sample ids, model id)."""
    insert_samples(
        session,
        line_id=line_id,
        batch_id=batch_id,
        features=["plain"],
        row_numbers=np.arange(1, n + 1),
        ts=None,
        values=np.arange(1.0, n + 1).reshape(-1, 1),
        repaired=np.zeros(n, dtype=bool),
    )
    model_id = add_model(session, line_id, features=("plain",))
    return list(session.scalars(select(Sample.id).order_by(Sample.id))), model_id


def _ns(*iso: str) -> np.ndarray:
    return np.array([np.datetime64(t, "ns").astype(np.int64) for t in iso], dtype=np.int64)


def test_samples_round_trip_exactly_on_both_backends(
    session_factory: sessionmaker[Session],
) -> None:
    values = np.array([TRICKY[i : i + len(NAMES)] for i in range(2)] * 1, dtype=float)
    values = np.array(
        [[TRICKY[(i + j) % len(TRICKY)] for j in range(len(NAMES))] for i in range(3)]
    )
    with unit_of_work(session_factory) as session:
        line_id, batch_id = _line_and_batch(session)
        insert_samples(
            session,
            line_id=line_id,
            batch_id=batch_id,
            features=NAMES,
            row_numbers=np.array([1, 2, 4]),
            ts=_ns("2024-01-01T00:00:00.123456", "2024-06-30T23:59:59", "2024-12-31T12:00:00"),
            values=values,
            repaired=np.array([False, True, False]),
        )
    with session_factory() as session:
        got = read_samples(session, line_id)
    assert [g[0] for g in got] == [1, 2, 4]
    assert got[0][1] == datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)
    assert [g[3] for g in got] == [False, True, False]
    for (_n, _t, stored, _r), expected in zip(got, values, strict=True):
        assert list(stored) == NAMES
        for name, value in zip(NAMES, expected, strict=True):
            assert stored[name] == value and isinstance(stored[name], float)
            assert np.signbit(stored[name]) == np.signbit(value)


def test_json_template_matches_json_dumps() -> None:
    row = TRICKY[: len(NAMES)]
    assert json_template(NAMES) % tuple(row) == json.dumps(dict(zip(NAMES, row, strict=True)))


def test_sqlite_time_text_is_what_sqlalchemy_stores() -> None:
    process = Sample.__table__.c.ts.type.dialect_impl(sqlite.dialect()).bind_processor(
        sqlite.dialect()
    )
    moment = datetime(2024, 3, 5, 7, 9, 11, 13, tzinfo=UTC)
    assert _sqlite_times(_ns("2024-03-05T07:09:11.000013")) == [process(moment)]


def test_quarantine_and_generic_bulk_insert_fill_defaults(
    session_factory: sessionmaker[Session],
) -> None:
    with unit_of_work(session_factory) as session:
        line_id, batch_id = _line_and_batch(session)
        insert_quarantine(
            session,
            batch_id,
            [
                RowProblem(3, "plain", "'abc' is not a number", "t;abc\x00;1"),
                RowProblem(9, None, "row has 3 fields, the header has 2", "x" * 70_000),
            ],
        )
        (sample_id,), model_id = _samples_and_model(session, line_id, batch_id, 1)
        bulk_insert(
            session,
            Score.__table__,  # type: ignore[arg-type]
            [
                {
                    "sample_id": sample_id,
                    "line_id": line_id,
                    "model_version_id": model_id,
                    "ts": None,
                    "score": 0.7,
                    "threshold": 0.5,
                    "flagged": True,
                }
            ],
        )
    with session_factory() as session:
        rows = session.scalars(select(QuarantinedRow).order_by(QuarantinedRow.row_number)).all()
        score = session.scalars(select(Score)).one()
    assert rows[0].raw == "t;abc\ufffd;1"  # PostgreSQL text cannot hold NUL
    assert rows[1].column is None and rows[1].raw.endswith("[cut, 70000 characters in all]")
    assert score.top_features == [] and score.scored_at is not None  # defaults applied


def test_stored_times_and_take_back(session_factory: sessionmaker[Session]) -> None:
    ts = _ns("2024-01-01T00:00:00", "2024-01-01T00:00:01", "2024-01-01T00:00:02")
    with unit_of_work(session_factory) as session:
        line_id, batch_id = _line_and_batch(session)
        insert_samples(
            session,
            line_id=line_id,
            batch_id=batch_id,
            features=["plain"],
            row_numbers=np.array([1, 2, 3]),
            ts=ts,
            values=np.array([[1.0], [2.0], [3.0]]),
            repaired=np.array([False, True, False]),
        )
    with unit_of_work(session_factory) as session:
        probe = np.array([ts[1], ts[2] + 1000, ts[2]], dtype=np.int64)
        probe.sort()
        assert stored_times(session, line_id, probe) == {
            int(ts[1]): (batch_id, 2),
            int(ts[2]): (batch_id, 3),
        }
        assert stored_times(session, line_id, probe, exclude_batch=batch_id) == {}
        taken = take_back_samples(session, batch_id, [2])
        assert taken[2][1] == {"plain": 2.0} and taken[2][2] is True
    with session_factory() as session:
        assert [r[0] for r in read_samples(session, line_id)] == [1, 3]


def test_bulk_insert_stores_what_an_orm_insert_would(
    session_factory: sessionmaker[Session],
) -> None:
    """Same text in every column, bit for bit, whichever path wrote the row.

    On PostgreSQL the session runs in another time zone: a naive datetime is UTC in kdmon,
    and COPY must not read it as local time.
    """
    aware = datetime(2024, 3, 5, 7, 9, 11, 13, tzinfo=UTC)
    with unit_of_work(session_factory) as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET LOCAL TIME ZONE 'America/New_York'"))
        line_id, batch_id = _line_and_batch(session)
        (first, second), model_id = _samples_and_model(session, line_id, batch_id, 2)

        def row(sample_id: int) -> dict[str, object]:
            return {
                "sample_id": sample_id,
                "line_id": line_id,
                "model_version_id": model_id,
                "ts": aware,
                "score": TRICKY[0],
                "threshold": 0.5,
                "flagged": True,
                "top_features": [{"feature": "ünïcode", "contribution": TRICKY[5]}],
                "scored_at": aware.replace(tzinfo=None),
                "extreme_risk": None,
            }

        bulk_insert(session, Score.__table__, [row(first)])  # type: ignore[arg-type]
        session.execute(insert(Score), [row(second)])
    with session_factory() as session:
        stored = session.execute(
            text(
                "SELECT CAST(ts AS TEXT), CAST(score AS TEXT), CAST(flagged AS TEXT), "
                "CAST(top_features AS TEXT), CAST(scored_at AS TEXT), extreme_risk "
                "FROM score ORDER BY sample_id"
            )
        ).all()
    assert len(stored) == 2 and stored[0] == stored[1]
    assert stored[0][5] is None
