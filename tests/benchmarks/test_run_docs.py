"""How a benchmark run merges its section into docs/benchmarks.md."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from benchmarks import run


def test_a_run_replaces_only_its_own_section_and_keeps_the_edited_intro(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = tmp_path / "benchmarks.md"
    docs.write_text(
        "# Benchmarks\n\n<!-- detectors:start -->\n## Detectors (STKD and PyOD baselines)\n\n"
        "Runs of 05:15 ran on an idle host.\n\n"
        "<!-- detectors:run main -->\n### Main table\n\nmain figures\n\n"
        "<!-- detectors:run skab_reference -->\n### old title\n\nold named-window figures\n"
        "<!-- detectors:end -->\n"
    )
    monkeypatch.setattr(run, "DOCS", docs)
    args = argparse.Namespace(skab_reference=True)
    merged = run._merge_docs("new named-window figures", args)
    assert "Runs of 05:15 ran on an idle host." in merged
    assert run._INTRO not in merged
    assert "main figures" in merged and "old named-window figures" not in merged
    assert merged.index("### Main table") < merged.index(
        "### SKAB in time order with a named clean window\n\nnew named-window figures"
    )
    docs.write_text("# Benchmarks\n")  # a fresh file gets the generic intro
    assert run._INTRO in run._merge_docs("main figures", argparse.Namespace())
