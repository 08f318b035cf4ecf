"""The malformed-file corpus: exact counts, named rows and columns, nothing lost, bytes kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from app.ingest import IngestError, ingest_file
from app.ingest.repository import read_samples
from db.models import Batch, Line
from tests.app.ingest.checks import assert_consistent, assert_raw_kept
from tests.app.ingest.conftest import Env, make_line
from tests.app.ingest.corpus import CASES, Case, Expect, Fail


@pytest.mark.parametrize("case", CASES, ids=[c.filename for c in CASES])
def test_corpus_file_ingests_exactly_or_fails_naming_file_row_and_column(
    case: Case, ingest_env: Env, tmp_path: Path
) -> None:
    settings, factory = ingest_env
    line = make_line(factory)
    path = tmp_path / case.filename
    case.make(path)

    if isinstance(case.outcome, Fail):
        with pytest.raises(IngestError) as caught:
            ingest_file(factory, settings, line, path, policy=case.policy)
        message = str(caught.value)
        for word in case.outcome.words:
            assert word in message, f"{word!r} not in {message!r}"
        with factory() as session:
            line_id = session.scalar(select(Line.id).where(Line.name == line))
            assert session.scalar(select(Batch).where(Batch.line_id == line_id)) is None
        return

    expect: Expect = case.outcome
    report = ingest_file(factory, settings, line, path, policy=case.policy)
    summary = report.summary()
    assert (report.n_received, report.n_accepted, report.n_rejected, report.n_repaired) == (
        expect.received,
        expect.accepted,
        expect.rejected,
        expect.repaired,
    ), summary
    assert_consistent(factory, settings, path, report)
    problems = {p.row_number: p for p in report.problems}
    for row, (column, words) in expect.problems.items():
        assert row in problems, summary
        assert problems[row].column == column, summary
        assert words in problems[row].reason, summary
        shown = problems[row].message(case.filename)
        assert shown.startswith(f"{case.filename}, row {row}"), shown
    if expect.note is not None:
        assert any(expect.note in r for r in report.repairs), report.repairs
    with factory() as session:
        batch = session.get(Batch, report.batch_id)
        assert batch is not None
        samples = {s[0]: s for s in read_samples(session, batch.line_id, batch.id)}
    if expect.rows is not None:
        assert tuple(sorted(samples)) == expect.rows
    for row, values in expect.values.items():
        for name, value in values.items():
            assert samples[row][2][name] == value
    for row, iso in expect.times.items():
        assert samples[row][1].isoformat() == iso


@pytest.mark.parametrize("case", [c for c in CASES if isinstance(c.outcome, Expect)][:6])
def test_same_file_again_is_a_noop_that_says_so(
    case: Case, ingest_env: Env, tmp_path: Path
) -> None:
    settings, factory = ingest_env
    line = make_line(factory)
    path = tmp_path / case.filename
    case.make(path)
    first = ingest_file(factory, settings, line, path, policy=case.policy)
    again = ingest_file(factory, settings, line, path, policy=case.policy, filename="renamed.csv")
    assert again.duplicate and again.batch_id == first.batch_id
    assert (again.n_accepted, again.n_rejected) == (first.n_accepted, first.n_rejected)
    assert "already ingested" in again.summary()
    with factory() as session:
        batch = session.get(Batch, first.batch_id)
        assert batch is not None
        assert len(read_samples(session, batch.line_id)) == first.n_accepted
    assert_raw_kept(settings, path, first.sha256)
