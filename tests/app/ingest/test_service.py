"""Ingest as a whole: one transaction per batch, duplicates, previews, quarantine, frames."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.ingest import (
    IngestError,
    ValidationPolicy,
    infer_line_spec,
    ingest_file,
    ingest_frame,
    list_quarantine,
    preview_file,
    quarantine_csv,
    readers,
    repository,
)
from app.ingest.repository import read_samples
from app.services.errors import NotFoundError, ValidationError
from tests.app.ingest.checks import assert_consistent, count_rows
from tests.app.ingest.conftest import make_line
from tests.app.ingest.corpus import rows, text, with_cell


def _messy(n: int = 40) -> str:
    """Problems spread over the file so that small chunks see them on both sides of a border."""
    body = rows(n)
    body = with_cell(body, 3, 1, "abc")
    body = with_cell(body, 7, 0, body[5][0])  # duplicate of row 6
    body = with_cell(body, 12, 2, "")  # missing: filled forward under fill_forward
    body = with_cell(body, 13, 2, "")
    body = with_cell(body, 20, 0, body[1][0])  # duplicate of row 2, far away
    body = with_cell(body, 25, 3, "inf")
    return text(body)


def test_result_does_not_depend_on_chunk_size(
    session_factory: sessionmaker[Session],
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "messy.csv"
    path.write_text(_messy())
    policy = ValidationPolicy(missing="fill_forward", max_fill_gap=2)
    whole = preview_file(session_factory, settings, make_line(session_factory), path, policy=policy)
    monkeypatch.setattr(readers, "CHUNK_ROWS", 4)
    line = make_line(session_factory)
    small = ingest_file(session_factory, settings, line, path, policy=policy)
    assert (
        (small.n_received, small.n_accepted, small.n_repaired, small.n_rejected)
        == (
            whole.n_received,
            whole.n_accepted,
            whole.n_repaired,
            whole.n_rejected,
        )
        == (40, 36, 2, 4)
    )
    assert [(p.row_number, p.column) for p in small.problems] == [
        (p.row_number, p.column) for p in whole.problems
    ]
    assert_consistent(session_factory, settings, path, small)


def test_duplicate_timestamps_reject_policy_takes_back_rows_from_earlier_chunks(
    session_factory: sessionmaker[Session],
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(readers, "CHUNK_ROWS", 4)
    path = tmp_path / "dups.csv"
    path.write_text(_messy())
    policy = ValidationPolicy(duplicate_timestamp="reject")
    preview = preview_file(
        session_factory, settings, make_line(session_factory), path, policy=policy
    )
    report = ingest_file(session_factory, settings, make_line(session_factory), path, policy=policy)
    rejected = {p.row_number for p in report.problems}
    assert {2, 6, 7, 20} <= rejected  # both rows of each duplicated time
    assert (report.n_accepted, report.n_rejected) == (preview.n_accepted, preview.n_rejected)
    assert_consistent(session_factory, settings, path, report)


def test_rows_already_stored_for_the_line_are_rejected_not_overwritten(
    session_factory: sessionmaker[Session], settings: Settings, line: str, tmp_path: Path
) -> None:
    first = tmp_path / "monday.csv"
    first.write_text(text(rows(10)))
    ingest_file(session_factory, settings, line, first)
    overlap = tmp_path / "monday_again.csv"
    overlap.write_text(text(rows(15)[5:]))  # rows 6..15 of the day: 5 already stored
    report = ingest_file(session_factory, settings, line, overlap)
    assert (report.n_received, report.n_accepted, report.n_rejected) == (10, 5, 5)
    assert "is already stored for this line (batch #" in report.problems[0].reason
    assert_consistent(session_factory, settings, overlap, report)


def test_failure_part_way_leaves_database_unchanged_and_retry_succeeds(
    session_factory: sessionmaker[Session],
    settings: Settings,
    line: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "big.csv"
    path.write_text(text(rows(30)))
    monkeypatch.setattr(readers, "CHUNK_ROWS", 5)
    real = repository.insert_samples
    calls = {"n": 0}

    def failing(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        real(*args, **kwargs)  # type: ignore[arg-type]

    before = count_rows(session_factory)
    monkeypatch.setattr(repository, "insert_samples", failing)
    with pytest.raises(OSError, match="disk full"):
        ingest_file(session_factory, settings, line, path)
    assert count_rows(session_factory) == before
    monkeypatch.setattr(repository, "insert_samples", real)
    report = ingest_file(session_factory, settings, line, path)
    assert not report.duplicate and report.n_accepted == 30
    assert_consistent(session_factory, settings, path, report)


def test_preview_writes_nothing_and_predicts_the_ingest(
    session_factory: sessionmaker[Session], settings: Settings, line: str, tmp_path: Path
) -> None:
    path = tmp_path / "messy.csv"
    path.write_text(_messy())
    before = count_rows(session_factory)
    preview = preview_file(session_factory, settings, line, path)
    assert preview.batch_id is None and not preview.duplicate
    assert preview.summary().startswith("Preview (nothing written)")
    assert count_rows(session_factory) == before
    assert not list((settings.data_dir / "raw").glob("??/*"))  # no raw copy either
    report = ingest_file(session_factory, settings, line, path)
    assert (preview.n_accepted, preview.n_rejected) == (report.n_accepted, report.n_rejected)
    assert [p.reason for p in preview.problems] == [p.reason for p in report.problems]
    assert preview_file(session_factory, settings, line, path).duplicate


def test_same_bytes_for_two_lines_are_two_batches_and_one_raw_file(
    session_factory: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "shared.csv"
    path.write_text(text(rows()))
    a = ingest_file(session_factory, settings, make_line(session_factory), path)
    b = ingest_file(session_factory, settings, make_line(session_factory), path)
    assert a.batch_id != b.batch_id and not b.duplicate
    assert len(list((settings.data_dir / "raw").glob("??/*"))) == 1


def test_quarantine_lists_and_downloads_every_rejected_row(
    session_factory: sessionmaker[Session], settings: Settings, line: str, tmp_path: Path
) -> None:
    path = tmp_path / "pump_a.csv"
    path.write_text(text(with_cell(rows(1200), 1043, 1, "abc")))
    report = ingest_file(
        session_factory, settings, line, path, policy=ValidationPolicy(max_problems=0)
    )
    assert report.n_rejected == 1 and report.problems == []  # capped display, full list in DB
    with session_factory() as session:
        rows_out = list_quarantine(session, report.batch_id)  # type: ignore[arg-type]
        data = quarantine_csv(session, report.batch_id)  # type: ignore[arg-type]
    assert [(q.row_number, q.column) for q in rows_out] == [(1043, "flow_m3h")]
    message = f"pump_a.csv, row 1043, column 'flow_m3h': {rows_out[0].reason}"
    assert message == "pump_a.csv, row 1043, column 'flow_m3h': 'abc' is not a number"
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0] == ["row_number", "column", "reason", "raw"]
    assert table[1][0] == "1043" and table[1][3].startswith("2024-01-01 17:22:00,abc,")
    assert "more rejected" in report.summary()


def test_ingest_frame_keeps_the_csv_and_ingests_it(
    session_factory: sessionmaker[Session], settings: Settings, line: str
) -> None:
    index = pd.date_range("2024-05-01", periods=50, freq="s", tz="UTC", name="timestamp")
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        rng.normal(size=(50, 4)), index=index, columns=["flow_m3h", "pressure", "temp_1", "temp_2"]
    )
    report = ingest_frame(session_factory, settings, line, frame, filename="sim.csv", source="demo")
    assert (report.n_received, report.n_accepted, report.n_rejected) == (50, 50, 0)
    assert not list((settings.data_dir / "raw" / "incoming").iterdir())
    with session_factory() as session:
        samples = read_samples(session, 1)
    assert samples[0][1] == index[0].to_pydatetime()
    assert samples[-1][2]["temp_2"] == frame["temp_2"].iloc[-1]  # floats survive exactly


def test_unknown_line_and_missing_file_are_clear_errors(
    session_factory: sessionmaker[Session], settings: Settings, line: str, tmp_path: Path
) -> None:
    with pytest.raises(IngestError, match="nowhere.csv: no such file"):
        ingest_file(session_factory, settings, line, tmp_path / "nowhere.csv")
    path = tmp_path / "ok.csv"
    path.write_text(text(rows()))
    with pytest.raises(NotFoundError, match="No line 'pump_b'"):
        ingest_file(session_factory, settings, "pump_b", path)


def test_infer_line_spec_finds_time_numeric_columns_and_units(tmp_path: Path) -> None:
    path = tmp_path / "new_line.csv"
    lines = ["Zeit;Pressure [bar];Flow (m3/h);Operator;Counter"]
    for i in range(30):
        lines.append(f"0{1 + i // 10}.02.2024 08:{i % 60:02d}:00;{i},5;{2 * i},25;anna;{i}")
    path.write_text("\n".join(lines) + "\n", encoding="cp1252")
    spec = infer_line_spec(path, "press_7")
    assert spec.name == "press_7"
    assert spec.timestamp_column == "Zeit"
    assert spec.feature_columns == ("Pressure", "Flow", "Counter")
    assert spec.units == {"Pressure": "bar", "Flow": "m3/h"}


def test_policy_is_described_and_validated() -> None:
    rules = ValidationPolicy(missing="fill_forward", max_fill_gap=2).describe()
    assert any("previous value" in r and "2 rows" in r for r in rules)
    assert any("UTC" in r for r in rules)
    with pytest.raises(ValidationError):
        ValidationPolicy(missing="guess")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        ValidationPolicy(naive_timezone="Mars/Olympus")


def test_an_upload_is_role_checked_and_audited_with_its_batch(
    session_factory: sessionmaker[Session], settings: Settings, line: str, tmp_path: Path
) -> None:
    from sqlalchemy import select

    from app.services.auth import Actor
    from app.services.errors import PermissionDeniedError
    from db.models import AuditEvent, Role

    path = tmp_path / "upload.csv"
    path.write_text(_messy())
    before = count_rows(session_factory)
    with pytest.raises(PermissionDeniedError):
        ingest_file(session_factory, settings, line, path, actor=Actor("vic", Role.VIEWER))
    assert count_rows(session_factory) == before

    report = ingest_file(
        session_factory, settings, line, path, source="upload", actor=Actor("rita", Role.REVIEWER)
    )
    with session_factory() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "batch.upload")
        ).all()
    uploads = [e for e in events if e.details.get("batch_id") == report.batch_id]
    assert len(uploads) == 1 and uploads[0].actor == "rita"
    assert uploads[0].details["rejected"] == report.n_rejected
