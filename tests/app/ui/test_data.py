"""Data page: batches so far, upload -> preview -> ingest, rejected rows as CSV."""

from __future__ import annotations

from sqlalchemy import select

from db.models import AuditEvent, Batch, QuarantinedRow
from tests.app.ui.helpers import table_with
from tests.app.ui.seed import Seeded

UPLOAD = (
    b"timestamp,pressure,temperature,vibration\n"
    b"2024-03-01T08:00:00Z,101.0,60.5,2.1\n"
    b"2024-03-01T08:01:00Z,102.0,60.7,2.0\n"
    b"2024-03-01T08:02:00Z,,60.9,2.2\n"
    b"2024-03-01T08:03:00Z,103.5,61.0,2.1\n"
    b"2024-03-01T08:04:00Z,abc,61.1,2.3\n"
    b"2024-03-01T08:05:00Z,104.0,61.2,2.2\n"
)


def _metrics(at) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {m.label: m.value for m in at.metric}


def test_data_page_lists_batches(seeded: Seeded, app_as) -> None:  # type: ignore[no-untyped-def]
    at = app_as("rita", "app/ui/data.py")
    assert not at.exception
    batches = at.dataframe[-1].value
    assert list(batches["File"]) == ["day1.csv"] and batches["Accepted"][0] == 120
    assert not at.download_button  # nothing was rejected yet


def test_upload_previews_the_counts_then_ingests_and_rejects_go_to_a_csv(
    seeded: Seeded,
    app_as,
    app_factory,
    downloads,  # type: ignore[no-untyped-def]
) -> None:
    at = app_as("rita", "app/ui/data.py")
    at.radio(key="data_missing").set_value("fill_forward").run()
    at.file_uploader(key="data_upload").upload("shift2.csv", UPLOAD, "text/csv").run()
    assert not at.exception
    metrics = _metrics(at)
    assert metrics["Rows received"] == "6" and metrics["Accepted"] == "5"
    assert metrics["Repaired"] == "1" and metrics["Rejected"] == "1"
    problems = table_with(at, "Reason")
    assert list(problems["Row"]) == [5] and list(problems["Column"]) == ["pressure"]
    assert any("Missing value" in m.value for m in at.markdown)  # the policy, in words
    with app_factory() as session:
        assert session.scalar(select(Batch).where(Batch.filename == "shift2.csv")) is None

    at.button(key="data_ingest").click().run()
    assert not at.exception
    assert any("batch #" in s.value and "5 accepted" in s.value for s in at.success)
    with app_factory() as session:
        batch = session.scalar(select(Batch).where(Batch.filename == "shift2.csv"))
        assert batch is not None and batch.source == "upload"
        assert (batch.n_accepted, batch.n_repaired, batch.n_rejected) == (5, 1, 1)
        assert session.scalar(select(QuarantinedRow.row_number)) == 5
        upload_event = session.scalar(select(AuditEvent).where(AuditEvent.action == "batch.upload"))
        assert upload_event is not None and upload_event.actor == "rita"
        batch_id = batch.id

    assert at.selectbox(key="data_quarantine_batch").value == batch_id
    rejected = downloads(at.download_button(key="data_quarantine_dl")).decode("utf-8-sig")
    header, row = rejected.strip().splitlines()
    assert header == "row_number,column,reason,raw"
    assert row.startswith("5,pressure,") and "abc" in row


def test_a_file_already_ingested_is_not_offered_again(seeded: Seeded, app_as) -> None:  # type: ignore[no-untyped-def]
    at = app_as("ada", "app/ui/data.py")
    at.file_uploader(key="data_upload").upload("shift2.csv", UPLOAD, "text/csv").run()
    at.button(key="data_ingest").click().run()
    at.file_uploader(key="data_upload").clear().upload("copy.csv", UPLOAD, "text/csv").run()
    assert not at.exception
    assert any("already ingested" in i.value for i in at.info)
    assert not [b for b in at.button if b.key == "data_ingest"]
