"""Reports end to end on each backend: seeded scores and reviews in, PDF/CSV/XLSX out."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.reports.collect import TIMELINE_MAX_BUCKETS, collect_report
from app.services.errors import NotFoundError
from app.services.reports import (
    FLAGGED_COLUMNS,
    ReportRequest,
    build_nightly_report,
    build_report,
)
from db.engine import unit_of_work
from db.models import (
    Batch,
    Line,
    ModelStatus,
    ModelVersion,
    Review,
    Sample,
    Score,
    ThresholdVersion,
    Verdict,
)
from tests.app.reports.helpers import pdf_text

DAY = datetime(2024, 5, 1, tzinfo=UTC)
STEP = timedelta(minutes=30)
N = 48  # one sample every 30 minutes through DAY
FLAGGED = (5, 17, 30, 47)  # indexes of Press 1's flagged samples on DAY
OLD_MODEL_ONLY = (0, 1, 2, 3)  # scored by v1 before v2 took over
RESCORED = 10  # flagged by v1, then rescored by v2 as normal: the newest score counts


@dataclass(frozen=True)
class Plant:
    """Sample ids by index on DAY, plus the flagged ones just outside it."""

    press1: list[int]
    press2: list[int]
    before: int  # flagged, 30 minutes before DAY
    at_end: int  # flagged, exactly at the (exclusive) end of DAY


def _scores(line: Line, model: ModelVersion, samples: list[Sample], flagged: set[int]) -> list:
    return [
        Score(
            sample_id=s.id,
            line_id=line.id,
            model_version_id=model.id,
            ts=s.ts,
            score=0.9 + 0.01 * i if s.id in flagged else 0.1 + 0.001 * i,
            threshold=model.threshold,
            flagged=s.id in flagged,
            top_features=[
                {"feature": "vibration", "contribution": 0.7},
                {"feature": "temperature", "contribution": 0.2},
            ],
        )
        for i, s in enumerate(samples)
    ]


def _line(session: Session, name: str) -> tuple[Line, Batch]:
    line = Line(name=name, feature_columns=["temperature", "vibration"])
    session.add(line)
    session.flush()
    batch = Batch(
        line_id=line.id,
        source="cli",
        filename=f"{name}.csv",
        sha256=name.encode().hex().ljust(64, "0")[:64],
        raw_path=f"raw/{name}.csv",
        size_bytes=1,
    )
    session.add(batch)
    session.flush()
    return line, batch


def _model(session: Session, line: Line, version: int, threshold: float, active: bool):
    model = ModelVersion(
        line_id=line.id,
        version=version,
        detector="stkd",
        status=ModelStatus.ACTIVE if active else ModelStatus.RETIRED,
        threshold=threshold,
        feature_columns=["temperature", "vibration"],
        artifact_path=f"models/{line.id}-{version}",
        artifact_sha256="0" * 64,
    )
    session.add(model)
    session.flush()
    return model


def _samples(session: Session, line: Line, batch: Batch, times: list[datetime]) -> list[Sample]:
    samples = [
        Sample(
            line_id=line.id,
            batch_id=batch.id,
            row_number=i + 1,
            ts=ts,
            values={"temperature": 20.0, "vibration": 0.1},
        )
        for i, ts in enumerate(times)
    ]
    session.add_all(samples)
    session.flush()
    return samples


def _review(session: Session, sample_id: int, verdict: Verdict, who: str, comment: str) -> None:
    # Explicit, increasing created_at: the newest review wins however fast the test runs.
    session.add(
        Review(
            sample_id=sample_id,
            verdict=verdict,
            reviewer=who,
            comment=comment,
            created_at=datetime.now(UTC),
        )
    )
    session.flush()


def seed(factory: sessionmaker[Session]) -> Plant:
    with unit_of_work(factory) as session:
        line, batch = _line(session, "Press 1")
        v1 = _model(session, line, 1, 0.9, active=False)
        v2 = _model(session, line, 2, 0.8, active=True)
        session.add(ThresholdVersion(line_id=line.id, model_version_id=v2.id, value=0.8))
        day = _samples(session, line, batch, [DAY + STEP * i for i in range(N)])
        edge = _samples(session, line, batch, [DAY - STEP, DAY + STEP * N])
        old = [day[i] for i in (*OLD_MODEL_ONLY, RESCORED)]
        session.add_all(_scores(line, v1, old, {day[RESCORED].id}))
        session.flush()  # v2's rescoring of RESCORED gets the larger id: it is the newest
        new = [s for i, s in enumerate(day) if i not in OLD_MODEL_ONLY] + edge
        session.add_all(_scores(line, v2, new, {day[i].id for i in FLAGGED} | {s.id for s in edge}))

        other, other_batch = _line(session, "Press 2")
        model2 = _model(session, other, 1, 0.5, active=True)
        press2 = _samples(session, other, other_batch, [DAY + STEP * i for i in range(10)])
        session.add_all(_scores(other, model2, press2, {press2[2].id, press2[7].id}))
        session.flush()

        _review(session, day[5].id, Verdict.CONFIRMED, "alice", "bearing noise")
        _review(session, day[5].id, Verdict.DISMISSED, "bob", "sensor glitch, recalibrated")
        _review(session, day[17].id, Verdict.UNSURE, "alice", "Ölstand schwankt – prüfen")
        _review(session, day[30].id, Verdict.CONFIRMED, "carol", '=HYPERLINK("http://x")')
        _review(session, edge[0].id, Verdict.CONFIRMED, "alice", "outside the period")
        return Plant([s.id for s in day], [s.id for s in press2], edge[0].id, edge[1].id)


def _day(*lines: str) -> ReportRequest:
    return ReportRequest(lines or ("Press 1",), DAY, DAY + timedelta(days=1))


def _csv_rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


def test_csv_lists_exactly_the_flagged_samples_in_the_period_with_current_verdicts(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    plant = seed(session_factory)
    content = build_report(session_factory, settings, _day(), "csv")

    header = content.decode("utf-8").splitlines()[0].split(",")
    assert header == list(FLAGGED_COLUMNS)
    rows = _csv_rows(content)
    assert [int(r["sample_id"]) for r in rows] == [plant.press1[i] for i in FLAGGED]
    assert {r["line"] for r in rows} == {"Press 1"}
    by_id = {int(r["sample_id"]): r for r in rows}
    changed = by_id[plant.press1[5]]
    assert (changed["verdict"], changed["reviewer"]) == ("dismissed", "bob")
    assert changed["comment"] == "sensor glitch, recalibrated"
    assert changed["time_utc"] == (DAY + STEP * 5).isoformat()
    assert changed["model_version"] == "2"
    assert float(changed["threshold"]) == pytest.approx(0.8)
    assert changed["top_features"].startswith("vibration (0.7)")
    assert by_id[plant.press1[17]]["comment"] == "Ölstand schwankt – prüfen"
    assert by_id[plant.press1[30]]["comment"].startswith("'=")  # never run as a formula
    assert (by_id[plant.press1[47]]["verdict"], by_id[plant.press1[47]]["reviewer"]) == ("", "")


def test_exports_carry_the_extreme_risk_of_forecasting_models_and_leave_it_empty_otherwise(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    plant = seed(session_factory)
    with unit_of_work(session_factory) as session:
        risky = session.scalars(
            select(Score).where(Score.sample_id == plant.press2[7], Score.flagged.is_(True))
        ).one()
        risky.extreme_risk = 0.875

    rows = _csv_rows(build_report(session_factory, settings, _day("Press 1", "Press 2"), "csv"))
    risk = {int(r["sample_id"]): r["extreme_risk"] for r in rows}
    assert float(risk.pop(plant.press2[7])) == pytest.approx(0.875)
    assert set(risk.values()) == {""}  # STKD's scores forecast nothing: empty, not 0

    # Not read-only: that mode trims a row's trailing empty cells.
    book = load_workbook(
        io.BytesIO(build_report(session_factory, settings, _day("Press 2"), "xlsx"))
    )
    sheet = list(book["Flagged"].iter_rows(values_only=True))
    column = sheet[0].index("extreme_risk")
    by_id = {row[0]: row[column] for row in sheet[1:]}
    assert by_id == {plant.press2[2]: None, plant.press2[7]: pytest.approx(0.875)}


def test_kpis_count_each_sample_once_with_its_newest_score_and_verdict(
    session_factory: sessionmaker[Session],
) -> None:
    seed(session_factory)
    with unit_of_work(session_factory) as session:
        data = collect_report(session, _day("Press 2", "Press 1"))

    assert [line.name for line in data.lines] == ["Press 2", "Press 1"]
    press1 = data.lines[1].kpis
    assert (press1.scored, press1.flagged, press1.reviewed) == (N, len(FLAGGED), 3)
    assert (press1.confirmed, press1.dismissed, press1.unsure) == (1, 1, 1)
    assert press1.flagged_share == pytest.approx(len(FLAGGED) / N)
    models = data.lines[1].models
    assert [(m.version, m.samples) for m in models] == [(1, 4), (2, N - 4)]
    assert (models[0].threshold_max, models[1].threshold_min) == (0.9, 0.8)
    assert data.lines[1].active_version == 2 and data.lines[1].current_threshold == 0.8
    assert (data.lines[0].kpis.scored, data.lines[0].kpis.flagged) == (10, 2)
    assert [f.line for f in data.flagged] == ["Press 2"] * 2 + ["Press 1"] * len(FLAGGED)


def test_a_flagged_limit_keeps_the_samples_furthest_above_their_threshold(
    session_factory: sessionmaker[Session],
) -> None:
    plant = seed(session_factory)
    with unit_of_work(session_factory) as session:
        data = collect_report(session, _day("Press 1", "Press 2"), flagged_limit=2)

    # Margins: Press 1 #47 1.33-0.8, Press 2 #7 0.97-0.5, then Press 2 #2 and Press 1 #30.
    assert [f.sample_id for f in data.flagged] == [plant.press1[47], plant.press2[7]]
    assert data.flagged_total == len(FLAGGED) + 2  # the KPIs still count every flag


def test_timeline_is_bucketed_in_sql_and_bounded(session_factory: sessionmaker[Session]) -> None:
    seed(session_factory)
    with unit_of_work(session_factory) as session:
        day = collect_report(session, _day())
        month = collect_report(
            session, ReportRequest(("Press 1",), DAY - timedelta(days=29), DAY + timedelta(days=1))
        )

    buckets = day.lines[0].timeline
    assert day.bucket_seconds == 300
    assert [b.start for b in buckets] == [DAY + STEP * i for i in range(N)]
    assert all(b.samples == 1 for b in buckets)
    assert [i for i, b in enumerate(buckets) if b.flagged] == list(FLAGGED)
    assert buckets[5].max_score > buckets[5].threshold == 0.8
    coarse = month.lines[0].timeline
    assert len(coarse) <= TIMELINE_MAX_BUCKETS
    assert sum(b.samples for b in coarse) == N + 1  # DAY's samples and the one just before
    assert sum(b.flagged for b in coarse) == len(FLAGGED) + 1


def test_xlsx_has_summary_and_flagged_sheets_with_one_row_per_flagged_sample(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    plant = seed(session_factory)
    content = build_report(session_factory, settings, _day("Press 1", "Press 2"), "xlsx")

    book = load_workbook(io.BytesIO(content), read_only=True)
    assert book.sheetnames == ["Summary", "Flagged"]
    flagged = list(book["Flagged"].iter_rows(values_only=True))
    assert list(flagged[0]) == list(FLAGGED_COLUMNS)
    assert len(flagged) == 1 + len(FLAGGED) + 2
    assert {row[0] for row in flagged[1:]} == {plant.press1[i] for i in FLAGGED} | {
        plant.press2[2],
        plant.press2[7],
    }
    assert all(isinstance(row[2], datetime) for row in flagged[1:])
    comments = {row[0].value: row[9] for row in book["Flagged"].iter_rows(min_row=2)}
    formula_like = comments[plant.press1[30]]
    assert (formula_like.value, formula_like.data_type) == ('=HYPERLINK("http://x")', "s")
    summary = [row for row in book["Summary"].iter_rows(values_only=True) if any(row)]
    kpi_rows = {row[0]: row for row in summary if row[0] in ("Press 1", "Press 2")}
    assert kpi_rows["Press 1"][4:6] == (N, len(FLAGGED))
    assert kpi_rows["Press 2"][4:6] == (10, 2)


def test_pdf_names_the_line_the_period_and_flagged_samples(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path
) -> None:
    plant = seed(session_factory)
    content = build_report(session_factory, settings, _day(), "pdf")

    assert content.startswith(b"%PDF")
    text = pdf_text(content, tmp_path)
    assert "Press 1" in text
    assert "2024-05-01 (UTC)" in text
    assert "Press 2" not in text
    for i in FLAGGED:
        assert f" {plant.press1[i]} " in text
    assert "dismissed" in text and "Ölstand schwankt" in text
    assert "All 4 flagged samples" in text
    assert "Page 1 of" in text


def test_empty_period_gives_valid_reports_saying_there_were_no_flags(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path
) -> None:
    seed(session_factory)
    quiet = ReportRequest(("Press 1",), DAY + timedelta(days=3), DAY + timedelta(days=4))

    rows = _csv_rows(build_report(session_factory, settings, quiet, "csv"))
    assert rows == []
    book = load_workbook(io.BytesIO(build_report(session_factory, settings, quiet, "xlsx")))
    assert book["Flagged"].max_row == 1
    notes = [r for r in book["Summary"].iter_rows(values_only=True) if r[0] == "Note"]
    assert notes and "No samples were flagged" in notes[0][1]
    text = pdf_text(build_report(session_factory, settings, quiet, "pdf"), tmp_path)
    assert "no flags" in text and "No scores in this period" in text


def test_unknown_line_is_a_clear_error(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    seed(session_factory)
    with pytest.raises(NotFoundError, match=r"'Nope'.*Known lines: Press 1, Press 2"):
        build_report(session_factory, settings, _day("Press 1", "Nope"), "csv")


def test_nightly_report_archives_three_files_for_yesterday_and_is_idempotent(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    plant = seed(session_factory)
    now = DAY + timedelta(days=1, hours=2)

    first = build_nightly_report(session_factory, settings, now=now)
    folder = settings.report_dir / "2024-05-01"
    assert sorted(p.suffix for p in first) == [".csv", ".pdf", ".xlsx"]
    assert all(p.parent == folder and p.stat().st_size > 0 for p in first)
    rows = _csv_rows((folder / "kdmon-daily_2024-05-01.csv").read_bytes())
    assert len(rows) == len(FLAGGED) + 2  # both lines, nothing from outside the day
    assert plant.before not in {int(r["sample_id"]) for r in rows}
    assert plant.at_end not in {int(r["sample_id"]) for r in rows}

    with unit_of_work(session_factory) as session:
        _review(session, plant.press1[47], Verdict.CONFIRMED, "dave", "late review")
    second = build_nightly_report(session_factory, settings, now=now + timedelta(hours=3))
    assert second == first
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in first)
    rows = _csv_rows((folder / "kdmon-daily_2024-05-01.csv").read_bytes())
    assert {r["reviewer"] for r in rows if int(r["sample_id"]) == plant.press1[47]} == {"dave"}
    assert sorted(p.name for p in settings.report_dir.iterdir()) == ["2024-05-01"]
