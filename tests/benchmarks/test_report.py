"""The docs writer only touches the detectors section of docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path

from benchmarks.report import END, START, cpu_description, group_summary, write_docs_section


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


def test_the_machine_line_names_the_cpu_and_its_widest_vector_unit():
    """Ratios to IForest differ between AVX-512 and AVX2 hosts, so each run says which it had."""
    intel = "processor\t: 0\nmodel name\t: Intel Xeon\nflags\t\t: fpu sse2 avx avx2 avx512f\n"
    amd = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2\n\n"
    assert cpu_description(intel) == "Intel Xeon, AVX-512"
    assert cpu_description(amd) == "AMD EPYC, AVX2"
    assert cpu_description("model name\t: Old\nflags\t: fpu sse2\n") == "Old"
