"""Ingest a file into a line: keep the bytes, validate every row, write it all in one go.

One database transaction per batch: the batch row, its samples and its quarantine are committed
together or not at all, so an ingest killed half-way leaves the database as it was and the same
file can simply be ingested again. The raw file is stored first (content-addressed, so a retry
reuses it).
"""

from __future__ import annotations

import csv
import gc
import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.ingest import repository as repo
from app.ingest.columns import match_columns
from app.ingest.policy import ValidationPolicy
from app.ingest.readers import CsvReader, open_table
from app.ingest.report import IngestError, IngestReport, RowProblem
from app.ingest.storage import FileFacts, inspect_file, store_file, stored_relpath
from app.ingest.validation import ChunkResult, Validator
from app.services import audit
from app.services.auth import Actor, require
from app.services.lines import get_line
from db.engine import unit_of_work
from db.models import Batch, QuarantinedRow, Role, Sample


@dataclass(frozen=True)
class LineInfo:
    """The parts of a line that ingest needs, detached from any session."""

    id: int
    name: str
    features: list[str]
    timestamp: str | None
    units: dict[str, str]


def _line_info(factory: sessionmaker[Session], name: str) -> LineInfo:
    with factory() as session:
        line = get_line(session, name)
        return LineInfo(
            line.id,
            line.name,
            list(line.feature_columns),
            line.timestamp_column,
            dict(line.units or {}),
        )


@dataclass
class _Tally:
    """Counts and the capped problem sample of one run over a file."""

    max_problems: int
    received: int = 0
    accepted: int = 0
    repaired: int = 0
    rejected: int = 0
    n_blank: int = 0
    blank_rows: list[int] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    first_ts: int | None = None
    last_ts: int | None = None

    def add_problems(self, problems: list[RowProblem]) -> None:
        room = self.max_problems - len(self.problems)
        if room > 0:
            self.problems.extend(problems[:room])


class _Sink:
    """Where validated chunks go: the database, or nowhere (preview)."""

    def stored(self, ts: np.ndarray) -> dict[int, tuple[int, int]]:
        raise NotImplementedError

    def write(self, result: ChunkResult) -> None:
        raise NotImplementedError

    def quarantine(self, problems: list[RowProblem]) -> None:
        raise NotImplementedError

    def take_back(self, items: list[tuple[int, str]]) -> tuple[list[RowProblem], int]:
        """Reject rows accepted earlier; returns their problems and how many were repaired."""
        raise NotImplementedError


class _DbSink(_Sink):
    def __init__(self, session: Session, line: LineInfo, batch_id: int) -> None:
        self.session = session
        self.line = line
        self.batch_id = batch_id
        self.took_back = False

    def stored(self, ts: np.ndarray) -> dict[int, tuple[int, int]]:
        return repo.stored_times(self.session, self.line.id, ts, exclude_batch=self.batch_id)

    def write(self, result: ChunkResult) -> None:
        repo.insert_samples(
            self.session,
            line_id=self.line.id,
            batch_id=self.batch_id,
            features=self.line.features,
            row_numbers=result.row_numbers,
            ts=result.ts,
            values=result.values,
            repaired=result.repaired,
        )

    def quarantine(self, problems: list[RowProblem]) -> None:
        repo.insert_quarantine(self.session, self.batch_id, problems)

    def take_back(self, items: list[tuple[int, str]]) -> tuple[list[RowProblem], int]:
        self.took_back = True
        taken = repo.take_back_samples(self.session, self.batch_id, [n for n, _ in items])
        problems, repaired = [], 0
        for number, reason in items:
            stamp, values, was_repaired = taken[number]
            cells = [repo.as_utc(stamp).isoformat() if stamp else ""]
            cells += [repr(values[c]) for c in self.line.features]
            problems.append(RowProblem(number, self.line.timestamp, reason, ",".join(cells)))
            repaired += bool(was_repaired)
        self.quarantine(problems)
        return problems, repaired


class _PreviewSink(_Sink):
    def __init__(self, session: Session, line: LineInfo) -> None:
        self.session = session
        self.line = line
        self.repaired_rows: set[int] = set()

    def stored(self, ts: np.ndarray) -> dict[int, tuple[int, int]]:
        return repo.stored_times(self.session, self.line.id, ts)

    def write(self, result: ChunkResult) -> None:
        self.repaired_rows.update(result.row_numbers[result.repaired].tolist())

    def quarantine(self, problems: list[RowProblem]) -> None:
        pass

    def take_back(self, items: list[tuple[int, str]]) -> tuple[list[RowProblem], int]:
        problems = [
            RowProblem(n, self.line.timestamp, reason, "(accepted earlier in this file)")
            for n, reason in items
        ]
        return problems, sum(1 for n, _ in items if n in self.repaired_rows)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Ingest allocates millions of short-lived lists; the cycle collector would rescan them all
    over and over (it more than doubled the time of a 1M-row file). Reference counting still
    frees everything; the collector is switched back on afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _run(
    path: Path,
    filename: str,
    facts: FileFacts,
    policy: ValidationPolicy,
    line: LineInfo,
    sink: _Sink,
) -> tuple[_Tally, list[str]]:
    """Read, validate and hand every chunk to ``sink``; returns counts and rules applied."""
    with _gc_paused():
        return _run_paused(path, filename, facts, policy, line, sink)


def _run_paused(
    path: Path,
    filename: str,
    facts: FileFacts,
    policy: ValidationPolicy,
    line: LineInfo,
    sink: _Sink,
) -> tuple[_Tally, list[str]]:
    reader = open_table(path, filename, facts, policy)
    try:
        columns = match_columns(
            reader.header, line.features, line.timestamp, line.units, policy, filename
        )
        decimal_comma = isinstance(reader, CsvReader) and reader.dialect.decimal_comma
        validator = Validator(
            line.features,
            line.timestamp,
            columns,
            policy,
            filename,
            decimal_comma,
            stored=sink.stored,
        )
        tally = _Tally(policy.max_problems)
        for chunk in reader.chunks():
            tally.received += len(chunk) + len(chunk.problems)
            tally.blank_rows.extend(chunk.blank_rows[: 10 - len(tally.blank_rows)])
            result = validator.validate(chunk)
            rejected = sorted(chunk.problems + result.rejected, key=lambda p: p.row_number)
            if len(result.row_numbers):
                sink.write(result)
            if rejected:
                sink.quarantine(rejected)
            tally.accepted += len(result.row_numbers)
            tally.repaired += int(result.repaired.sum())
            tally.rejected += len(rejected)
            tally.add_problems(rejected)
            if result.retracted:
                problems, repaired = sink.take_back(result.retracted)
                tally.accepted -= len(problems)
                tally.rejected += len(problems)
                tally.repaired -= repaired
                tally.add_problems(problems)
            if result.ts is not None and len(result.ts):
                low, high = int(result.ts.min()), int(result.ts.max())
                tally.first_ts = low if tally.first_ts is None else min(tally.first_ts, low)
                tally.last_ts = high if tally.last_ts is None else max(tally.last_ts, high)
            tally.n_blank += chunk.n_blank
        if tally.received == 0:
            raise IngestError(f"{filename}: the file has a header but no data rows")
        rules = [*reader.notes, *columns.notes, *validator.rules_applied()]
        if tally.n_blank:
            more = ", ..." if tally.n_blank > len(tally.blank_rows) else ""
            shown = ", ".join(map(str, tally.blank_rows)) + more
            rules.append(f"skipped {tally.n_blank} blank lines (rows {shown}); they are not data")
        return tally, rules
    finally:
        reader.close()


def _report(
    line: LineInfo,
    filename: str,
    sha256: str,
    batch_id: int | None,
    tally: _Tally,
    rules: list[str],
) -> IngestReport:
    assert tally.received == tally.accepted + tally.rejected, "ingest lost count of a row"
    return IngestReport(
        line=line.name,
        filename=filename,
        sha256=sha256,
        batch_id=batch_id,
        duplicate=False,
        n_received=tally.received,
        n_accepted=tally.accepted,
        n_repaired=tally.repaired,
        n_rejected=tally.rejected,
        problems=sorted(tally.problems, key=lambda p: p.row_number),
        repairs=rules,
    )


def _existing_batch(
    factory: sessionmaker[Session], line: LineInfo, sha256: str, filename: str
) -> IngestReport | None:
    with factory() as session:
        batch = session.scalar(
            select(Batch).where(Batch.line_id == line.id, Batch.sha256 == sha256)
        )
        if batch is None:
            return None
        return IngestReport(
            line=line.name,
            filename=filename,
            sha256=sha256,
            batch_id=batch.id,
            duplicate=True,
            n_received=batch.n_received,
            n_accepted=batch.n_accepted,
            n_repaired=batch.n_repaired,
            n_rejected=batch.n_rejected,
            problems=[],
            repairs=[
                f"identical to batch #{batch.id} ({batch.filename!r}, received "
                f"{repo.as_utc(batch.received_at):%Y-%m-%d %H:%M} UTC); nothing written"
            ],
        )


def _check_path(path: Path, filename: str) -> None:
    if not path.exists():
        raise IngestError(f"{filename}: no such file ({path})")
    if not path.is_file():
        raise IngestError(f"{filename}: not a file ({path})")


def ingest_file(
    factory: sessionmaker[Session],
    settings: Settings,
    line: str,
    path: Path,
    *,
    source: str = "cli",
    policy: ValidationPolicy | None = None,
    filename: str | None = None,
    actor: Actor | None = None,
) -> IngestReport:
    """Store ``path`` byte-for-byte and ingest it into ``line`` in one transaction.

    The same bytes ingested again for the same line are a no-op (``duplicate=True``, the
    original batch id). Raises :class:`IngestError` for file-level failures (unreadable file,
    missing schema column, no data rows); row-level problems go to the quarantine. A person's
    upload names its ``actor`` (a reviewer or admin): checked first, and audited in the same
    transaction as the batch. Trusted callers (CLI, inbox job, demo) pass none.
    """
    if actor is not None:
        require(actor, Role.REVIEWER)
    path = Path(path)
    policy = policy or ValidationPolicy()
    filename = filename or path.name
    _check_path(path, filename)
    info = _line_info(factory, line)
    facts, stored = store_file(path, settings.data_dir)
    existing = _existing_batch(factory, info, facts.sha256, filename)
    if existing is not None:
        return existing
    try:
        with unit_of_work(factory) as session:
            batch = Batch(
                line_id=info.id,
                source=source,
                filename=filename[:400],
                sha256=facts.sha256,
                raw_path=stored_relpath(facts.sha256),
                size_bytes=facts.size,
            )
            session.add(batch)
            session.flush()  # takes the write lock and trips the (line, sha256) constraint
            sink = _DbSink(session, info, batch.id)
            tally, rules = _run(stored, filename, facts, policy, info, sink)
            batch.n_received = tally.received
            batch.n_accepted = tally.accepted
            batch.n_repaired = tally.repaired
            batch.n_rejected = tally.rejected
            if sink.took_back:
                low, high = session.execute(
                    select(func.min(Sample.ts), func.max(Sample.ts)).where(
                        Sample.batch_id == batch.id
                    )
                ).one()
                batch.first_ts = None if low is None else repo.as_utc(low)
                batch.last_ts = None if high is None else repo.as_utc(high)
            elif tally.first_ts is not None and tally.last_ts is not None:
                batch.first_ts, batch.last_ts = repo.ns_to_datetimes(
                    np.array([tally.first_ts, tally.last_ts], dtype=np.int64)
                )
            batch_id = batch.id
            if actor is not None:
                audit.record(
                    session,
                    actor.username,
                    "batch.upload",
                    f"line:{line}",
                    {
                        "batch_id": batch_id,
                        "filename": filename,
                        "accepted": tally.accepted,
                        "rejected": tally.rejected,
                    },
                )
    except IntegrityError:
        existing = _existing_batch(factory, info, facts.sha256, filename)
        if existing is None:
            raise
        return existing  # the same file was ingested concurrently by someone else
    return _report(info, filename, facts.sha256, batch_id, tally, rules)


def preview_file(
    factory: sessionmaker[Session],
    settings: Settings,
    line: str,
    path: Path,
    *,
    policy: ValidationPolicy | None = None,
) -> IngestReport:
    """The report :func:`ingest_file` would give, writing nothing (no rows, no raw copy)."""
    del settings  # same signature as ingest_file; a preview keeps no files
    path = Path(path)
    policy = policy or ValidationPolicy()
    _check_path(path, path.name)
    info = _line_info(factory, line)
    facts = inspect_file(path)
    existing = _existing_batch(factory, info, facts.sha256, path.name)
    if existing is not None:
        return existing
    with factory() as session:
        tally, rules = _run(path, path.name, facts, policy, info, _PreviewSink(session, info))
        session.rollback()
    return _report(info, path.name, facts.sha256, None, tally, rules)


def ingest_frame(
    factory: sessionmaker[Session],
    settings: Settings,
    line: str,
    frame: pd.DataFrame,
    *,
    filename: str,
    source: str,
) -> IngestReport:
    """Ingest a DataFrame (demo simulator) as a CSV file, so it is kept and checked like any."""
    incoming = settings.data_dir / "raw" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    tmp = incoming / f"{uuid.uuid4().hex}.csv"
    try:
        has_time_index = isinstance(frame.index, pd.DatetimeIndex)
        frame.to_csv(tmp, index=has_time_index, date_format="%Y-%m-%dT%H:%M:%S.%f%z")
        return ingest_file(factory, settings, line, tmp, source=source, filename=filename)
    finally:
        tmp.unlink(missing_ok=True)


def list_quarantine(session: Session, batch_id: int) -> list[QuarantinedRow]:
    """Every rejected row of a batch, in file order."""
    return list(
        session.scalars(
            select(QuarantinedRow)
            .where(QuarantinedRow.batch_id == batch_id)
            .order_by(QuarantinedRow.row_number, QuarantinedRow.id)
        )
    )


def quarantine_csv(session: Session, batch_id: int) -> bytes:
    """The rejected rows as a CSV (UTF-8 with BOM, so Excel opens it) to fix and re-ingest."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row_number", "column", "reason", "raw"])
    for row in list_quarantine(session, batch_id):
        writer.writerow([row.row_number, row.column or "", row.reason, row.raw])
    return out.getvalue().encode("utf-8-sig")
