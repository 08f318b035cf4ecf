"""The bench scripts' shared scaffolding: docs sections, tables, data paths, run helpers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import common, datasets
from benchmarks.common import (
    dump_rows,
    iter_cells,
    load_run_rows,
    markdown_table,
    markers,
    replace_section,
    seeds_for,
    shared_specs,
    write_section,
)
from benchmarks.datasets import DatasetSpec, data_root

DOC = (
    "# Benchmarks\n\nintro  \n\n"
    "<!-- dashboard:start -->\nold dashboard\n<!-- dashboard:end -->\n\n"
    "between\n\n"
    "<!-- ingest:start -->\nold ingest\n<!-- ingest:end -->\n\ntrailing \n\n"
)


def test_markers_name_the_section():
    assert markers("xtime") == ("<!-- xtime:start -->", "<!-- xtime:end -->")


def test_replace_section_keeps_everything_outside_the_markers_byte_identical():
    start, end = markers("dashboard")
    out = replace_section(DOC, "dashboard", "new body\n\n")
    head, rest = DOC.split(start, 1)
    tail = rest.split(end, 1)[1]
    assert out == head + f"{start}\nnew body\n{end}" + tail
    assert "old dashboard" not in out and "old ingest" in out


def test_replace_section_is_idempotent():
    once = replace_section(DOC, "ingest", "fresh\n")
    assert replace_section(once, "ingest", "fresh\n") == once
    assert once.count("<!-- ingest:start -->") == 1 and once.count("<!-- ingest:end -->") == 1


def test_replace_section_appends_a_missing_section_at_the_end():
    out = replace_section("# Benchmarks\n\n\n", "soak", "body")
    assert out == "# Benchmarks\n\n<!-- soak:start -->\nbody\n<!-- soak:end -->\n"


def test_replace_section_ignores_an_end_marker_before_the_start():
    text = "<!-- x:end -->\nkeep\n<!-- x:start -->\n"
    out = replace_section(text, "x", "b")
    assert out.startswith(text.rstrip("\n")) and out.endswith(
        "<!-- x:start -->\nb\n<!-- x:end -->\n"
    )


def test_write_section_edits_in_place_and_creates_a_missing_file(tmp_path: Path):
    doc = tmp_path / "docs" / "benchmarks.md"
    write_section("dashboard", "first", doc)
    assert doc.read_text() == (
        "# Benchmarks\n\n<!-- dashboard:start -->\nfirst\n<!-- dashboard:end -->\n"
    )
    doc.write_text(DOC)
    write_section("ingest", "second", doc)
    write_section("ingest", "second", doc)
    assert doc.read_text() == DOC.replace("old ingest", "second")


def test_markdown_table_renders_header_rule_and_rows():
    out = markdown_table(["a", "b c"], [["1", "2"], ["x", ""]])
    assert out == "| a | b c |\n| --- | --- |\n| 1 | 2 |\n| x |  |"


def test_markdown_table_without_rows_is_header_and_rule_only():
    assert markdown_table(["only"], iter([])) == "| only |\n| --- |"


def test_data_root_defaults_to_shared_data_next_to_the_repo(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("KDMON_SHARED_DATA", raising=False)
    assert data_root() == datasets.REPO_ROOT.parent / "shared" / "data"
    assert (datasets.REPO_ROOT / "benchmarks" / "common.py").is_file()


def test_data_root_follows_the_env_var(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("KDMON_SHARED_DATA", str(tmp_path))
    assert data_root() == tmp_path


def test_shared_specs_skips_without_data(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("KDMON_SHARED_DATA", str(tmp_path / "absent"))
    assert shared_specs(("adbench",)) is None
    assert "shared data not found" in capsys.readouterr().out


def _npz(path: Path, n: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, X=np.arange(n * 2, dtype=float).reshape(n, 2), y=np.arange(n) % 2)


def test_shared_specs_filters_groups_and_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    for name in ("1_a", "2_b", "3_c"):
        _npz(tmp_path / "adbench" / f"{name}.npz", 4)
    _npz(tmp_path / "mvtec_resnet18" / "MVTec-AD_cable.npz", 4)
    monkeypatch.setenv("KDMON_SHARED_DATA", str(tmp_path))
    assert [s.name for s in shared_specs(("adbench",)) or []] == ["1_a", "2_b", "3_c"]
    both = shared_specs(("adbench", "mvtec"), "3_c,mvtec_cable") or []
    assert [s.name for s in both] == ["3_c", "mvtec_cable"]


def test_iter_cells_loads_each_dataset_once_per_seed_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    specs = [DatasetSpec(n, "adbench", tmp_path / f"{n}.npz") for n in ("a", "b")]
    for s, n in zip(specs, (3, 5), strict=True):
        _npz(s.path, n)
    loads: list[str] = []
    real = common.load
    monkeypatch.setattr(common, "load", lambda s: loads.append(s.name) or real(s))
    cells = [(s.name, len(X), len(y), seed) for s, X, y, seed in iter_cells(specs, (0, 1))]
    assert cells == [("a", 3, 3, 0), ("a", 3, 3, 1), ("b", 5, 5, 0), ("b", 5, 5, 1)]
    assert loads == ["a", "b"]


def test_seeds_for_quick_and_full():
    assert seeds_for(True) == (0,)
    assert seeds_for(False) == (0, 1, 2)


def test_dump_rows_writes_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    dump_rows("", [{"a": 1}])
    assert list(tmp_path.iterdir()) == []
    dump_rows(str(tmp_path / "out.json"), [{"a": 1.5}])
    assert json.loads((tmp_path / "out.json").read_text()) == [{"a": 1.5}]


def test_bench_parser_takes_the_first_docstring_line_and_quick():
    ap = common.bench_parser("Title line.\n\nmore", "seed 0 only")
    assert ap.description == "Title line."
    assert ap.parse_args(["--quick"]).quick is True and ap.parse_args([]).quick is False


def test_load_run_rows_joins_json_dumps_and_progress_logs_counting_a_cell_once(tmp_path):
    first = tmp_path / "s0.json"
    first.write_text(json.dumps([{"dataset": "a", "seed": 0, "auc": 0.9}]))
    log = tmp_path / "s1.err"
    log.write_text("noise\nrow a 1 0.7\nrow a 0 0.1\nrow b 1 0.6\n")

    def from_log(line: str) -> dict | None:
        parts = line.split()
        if len(parts) != 4 or parts[0] != "row":
            return None
        return {"dataset": parts[1], "seed": int(parts[2]), "auc": float(parts[3])}

    rows = load_run_rows([str(first), str(log)], ("dataset", "seed"), from_log)
    assert rows == [
        {"dataset": "a", "seed": 0, "auc": 0.9},  # the JSON row came first and is kept
        {"dataset": "a", "seed": 1, "auc": 0.7},
        {"dataset": "b", "seed": 1, "auc": 0.6},
    ]
    assert load_run_rows([str(log)], ("dataset", "seed")) == []  # no parser: logs are skipped
