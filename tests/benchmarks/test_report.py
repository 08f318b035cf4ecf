"""The docs writer only touches the detectors section of docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path

from benchmarks.report import END, START, group_summary, write_docs_section


def test_docs_section_leaves_other_sections_alone(tmp_path: Path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n<!-- dashboard:start -->\nkeep me\n<!-- dashboard:end -->\n")
    write_docs_section(doc, "first")
    write_docs_section(doc, "second")
    text = doc.read_text()
    assert "keep me" in text and "second" in text and "first" not in text
    assert text.count(START) == 1 and text.count(END) == 1


def test_docs_file_is_created_with_title_and_markers(tmp_path: Path):
    doc = tmp_path / "docs" / "benchmarks.md"
    write_docs_section(doc, "body")
    assert doc.read_text().startswith("# Benchmarks\n") and START in doc.read_text()


def test_group_summary_ranks_the_best_detector_first():
    rows = [
        {"group": "g", "dataset": ds, "detector": det, "roc_auc": auc, "ap": auc,
         "fit_s": 0.1, "score_s": 0.1}
        for ds, det, auc in [("a", "x", 0.9), ("a", "y", 0.7), ("b", "x", 0.8), ("b", "y", 0.8)]
    ]  # fmt: skip
    summary = group_summary(rows)["g"]
    assert summary["x"]["rank"] == 1.25 and summary["y"]["rank"] == 1.75
    assert abs(summary["x"]["roc_auc"] - 0.85) < 1e-12
