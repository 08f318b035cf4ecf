"""Invariants every ingest must keep, checked against the database and the raw store."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.ingest import IngestReport, list_quarantine
from app.ingest.repository import as_utc, read_samples
from app.ingest.storage import raw_file
from db.models import Batch, QuarantinedRow, Sample


def assert_raw_kept(settings: Settings, path: Path, sha256: str) -> None:
    original = path.read_bytes()
    assert hashlib.sha256(original).hexdigest() == sha256
    stored = raw_file(settings.data_dir, f"raw/{sha256[:2]}/{sha256}")
    assert stored.read_bytes() == original


def assert_consistent(
    factory: sessionmaker[Session], settings: Settings, path: Path, report: IngestReport
) -> None:
    """Counts add up, every row is either a sample or quarantined, the raw bytes are kept."""
    assert report.batch_id is not None and not report.duplicate
    assert report.n_received == report.n_accepted + report.n_rejected
    assert 0 <= report.n_repaired <= report.n_accepted
    with factory() as session:
        batch = session.get(Batch, report.batch_id)
        assert batch is not None
        assert batch.sha256 == report.sha256
        assert batch.size_bytes == path.stat().st_size
        assert (batch.n_received, batch.n_accepted, batch.n_repaired, batch.n_rejected) == (
            report.n_received,
            report.n_accepted,
            report.n_repaired,
            report.n_rejected,
        )
        samples = read_samples(session, batch.line_id, batch.id)
        quarantined = list_quarantine(session, batch.id)
        accepted_rows = {s[0] for s in samples}
        rejected_rows = {q.row_number for q in quarantined}
        assert len(samples) == len(accepted_rows) == report.n_accepted
        assert len(quarantined) == len(rejected_rows) == report.n_rejected
        assert not accepted_rows & rejected_rows, "a row is both accepted and rejected"
        assert sum(1 for s in samples if s[3]) == report.n_repaired
        stamps = [s[1] for s in samples if s[1] is not None]
        if stamps:
            assert as_utc(batch.first_ts) == min(stamps)
            assert as_utc(batch.last_ts) == max(stamps)
        else:
            assert batch.first_ts is None and batch.last_ts is None
        for _row, _ts, values, _rep in samples:
            assert all(isinstance(v, float) for v in values.values())
    assert_raw_kept(settings, path, report.sha256)


def count_rows(factory: sessionmaker[Session]) -> tuple[int, int, int]:
    """(batches, samples, quarantined rows) in the whole database."""
    with factory() as session:
        return (
            session.scalar(select(func.count()).select_from(Batch)) or 0,
            session.scalar(select(func.count()).select_from(Sample)) or 0,
            session.scalar(select(func.count()).select_from(QuarantinedRow)) or 0,
        )
