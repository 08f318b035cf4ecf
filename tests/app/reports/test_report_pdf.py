"""The PDF renderer on hand-built report data: no database needed."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import app.reports.pdf as pdf_module
from app.reports.data import (
    FlaggedSample,
    LineKpis,
    LineReport,
    ModelInForce,
    ReportData,
    TimelineBucket,
)
from app.reports.pdf import render_pdf
from app.reports.request import ReportRequest
from tests.app.reports.helpers import pdf_text

DAY = datetime(2024, 5, 1, tzinfo=UTC)
LINE = "Öl-Presse №3 – Halle Süd"


def synthetic_report(n_flagged: int, bucket_seconds: int = 300) -> ReportData:
    """A dense day: a bucket every five minutes with a slow wave, flags on the peaks."""
    request = ReportRequest((LINE,), DAY, DAY + timedelta(days=1))
    n = 86400 // bucket_seconds
    timeline = tuple(
        TimelineBucket(
            start=DAY + timedelta(seconds=bucket_seconds * i),
            samples=60,
            mean_score=0.4 + 0.1 * math.sin(i / 15),
            max_score=0.6 + 0.25 * math.sin(i / 15) ** 8,
            threshold=0.8,
            flagged=1 if math.sin(i / 15) ** 8 > 0.8 else 0,
        )
        for i in range(n)
        if not 100 <= i < 130  # downtime: a gap, not a bridged line
    )
    flagged = tuple(
        FlaggedSample(
            sample_id=900_001 + i,
            line=LINE,
            ts=DAY + timedelta(seconds=86400 * i / max(1, n_flagged)),
            score=0.81 + 0.001 * i,  # the later, the more anomalous
            threshold=0.8,
            model_version=3,
            verdict=("confirmed", "dismissed", None)[i % 3],
            reviewer=None if i % 3 == 2 else "jürgen",
            reviewed_at=None if i % 3 == 2 else DAY + timedelta(days=1),
            comment=None if i % 3 == 2 else "Lager\nläuft\x00 heiß " + "sehr " * 60,
            top_features=(("vibration_x", 0.61), ("temperature", 0.22), ("pressure", 0.05)),
        )
        for i in range(n_flagged)
    )
    kpis = LineKpis(scored=60 * len(timeline), flagged=n_flagged, reviewed=2 * n_flagged // 3)
    line = LineReport(
        line_id=1,
        name=LINE,
        models=(ModelInForce(3, "stkd", kpis.scored, 0.8, 0.8),),
        active_version=3,
        current_threshold=0.8,
        kpis=kpis,
        timeline=timeline,
    )
    return ReportData(request, DAY + timedelta(days=1, hours=2), (line,), flagged, bucket_seconds)


def test_pdf_keeps_only_the_most_anomalous_flagged_samples_and_says_so(tmp_path: Path) -> None:
    text = pdf_text(render_pdf(synthetic_report(40), flagged_limit=10), tmp_path)

    assert "Showing the 10 most anomalous of 40 flagged samples" in text
    assert "900040" in text and "900031" in text  # the highest scores are kept
    assert "900030" not in text and "900001" not in text
    assert "CSV and XLSX exports list all" in text


def test_pdf_prints_unicode_names_and_flattens_comments(tmp_path: Path) -> None:
    text = pdf_text(render_pdf(synthetic_report(3)), tmp_path)

    assert LINE in text
    assert "jürgen" in text and "Lager läuft heiß" in text
    assert "…" in text  # long comments are cut, not spread over pages
    assert "vibration_x (0.61)" in text
    assert "All 3 flagged samples" in text


def test_pdf_shows_a_risk_column_only_for_models_that_forecast_extremes(tmp_path: Path) -> None:
    plain = synthetic_report(3)
    assert "Risk" not in pdf_text(render_pdf(plain), tmp_path)

    risky = dataclasses.replace(
        plain,
        flagged=tuple(
            dataclasses.replace(f, extreme_risk=r)
            for f, r in zip(plain.flagged, (0.874, None, 0.05), strict=True)
        ),
    )
    text = pdf_text(render_pdf(risky), tmp_path)
    assert "Risk" in text and "87%" in text and "5%" in text
    assert pdf_module._flagged_columns(True, True)[-1][0] == "Top features"
    widths = [
        sum(w for _, w, _ in pdf_module._flagged_columns(one, risk))
        for one in (True, False)
        for risk in (True, False)
    ]
    assert len(set(widths)) == 1  # the table keeps the page width whatever the columns


def test_pdf_of_a_line_without_scores_says_so(tmp_path: Path) -> None:
    data = synthetic_report(0)
    quiet = LineReport(1, LINE, (), None, None, LineKpis(), ())
    text = pdf_text(
        render_pdf(ReportData(data.request, data.generated_at, (quiet,), (), 300)), tmp_path
    )

    assert "No scores in this period" in text
    assert "no active model" in text
    assert "no flags" in text


def test_pdf_falls_back_to_a_core_font_without_dejavu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pdf_module, "_FONT_DIR", tmp_path / "no-fonts")
    text = pdf_text(render_pdf(synthetic_report(3)), tmp_path)

    assert "Öl-Presse ?3 - Halle Süd" in text  # Latin-1 kept, the rest replaced, not fatal
    assert "All 3 flagged samples" in text
