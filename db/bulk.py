"""Bulk inserts that skip the ORM's per-row work: COPY on PostgreSQL, executemany elsewhere.

Samples, scores and quarantined rows arrive by the hundred thousand; one ORM object per row
would cost minutes and gigabytes. Everything runs in the caller's session and transaction.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import JSON, Dialect, Table, insert
from sqlalchemy.orm import Session

INSERT_CHUNK = 10_000


def _defaults(table: Table, present: Sequence[str]) -> dict[str, Any]:
    """Python-side column defaults for columns the rows leave out (COPY does not apply them)."""
    values: dict[str, Any] = {}
    for column in table.columns:
        if column.name in present or column.primary_key or column.default is None:
            continue
        default = column.default
        values[column.name] = (
            default.arg(None) if default.is_callable else default.arg  # type: ignore[attr-defined]
        )
    return values


def _converters(table: Table, names: Sequence[str], dialect: Dialect, json_text: bool) -> list[Any]:
    """Each column type's own bind processor (``None`` where values pass as they are).

    They keep both fast paths storing what an ORM insert would: naive datetimes taken as UTC,
    booleans and JSON as the dialect expects. COPY wants JSON as text (``json_text``).
    """
    converters: list[Any] = []
    for name in names:
        column_type = table.c[name].type
        if json_text and isinstance(column_type, JSON):
            converters.append(json.dumps)
        else:
            converters.append(column_type.dialect_impl(dialect).bind_processor(dialect))
    return converters


def _tuples(
    rows: Sequence[dict[str, Any]],
    names: Sequence[str],
    defaults: dict[str, Any],
    converters: Sequence[Any],
) -> Iterator[tuple[Any, ...]]:
    """Rows as tuples in ``names`` order; converted column by column, the cheaper way round."""
    columns = []
    for name, convert in zip(names, converters, strict=True):
        if name in defaults:
            value = defaults[name] if convert is None else convert(defaults[name])
            columns.append(itertools.repeat(value, len(rows)))
            continue
        cells = [row[name] for row in rows]
        columns.append(cells if convert is None else list(map(convert, cells)))
    return zip(*columns, strict=False)


def _copy(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    from psycopg import sql

    given = list(rows[0])
    defaults = _defaults(table, given)
    names = given + list(defaults)
    converters = _converters(table, names, session.get_bind().dialect, json_text=True)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(n) for n in names)
    )
    dbapi = session.connection().connection.driver_connection
    with dbapi.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        for start in range(0, len(rows), INSERT_CHUNK):  # converted columns stay chunk-sized
            part = rows[start : start + INSERT_CHUNK]
            for values in _tuples(part, names, defaults, converters):
                copy.write_row(values)


def _executemany(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """One compiled INSERT, parameters converted by each column type's own bind processor.

    Stores exactly what ``session.execute(insert(table), rows)`` would, without SQLAlchemy's
    per-row parameter assembly, which was half the time of writing a million scores.
    """
    given = list(rows[0])
    defaults = _defaults(table, given)
    names = given + list(defaults)
    dialect = session.get_bind().dialect
    converters = _converters(table, names, dialect, json_text=False)
    quote = dialect.identifier_preparer.quote
    statement = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
        f"VALUES ({', '.join(['?'] * len(names))})"
    )
    connection = session.connection()
    for start in range(0, len(rows), INSERT_CHUNK):
        part = rows[start : start + INSERT_CHUNK]
        connection.exec_driver_sql(statement, list(_tuples(part, names, defaults, converters)))


def bulk_insert(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows of ``table`` in the session's transaction (COPY on PostgreSQL).

    Python-side column defaults are filled in here on both paths, so both store the same
    values. Other dialects go through SQLAlchemy's own executemany.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        _copy(session, table, rows)
    elif dialect.name == "sqlite":
        _executemany(session, table, rows)
    else:
        for start in range(0, len(rows), INSERT_CHUNK):
            session.execute(insert(table), list(rows[start : start + INSERT_CHUNK]))
