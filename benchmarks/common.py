"""Scaffolding shared by the stand-alone bench scripts (``*_bench.py``, ``soak.py``).

Data paths and loading stay in :mod:`benchmarks.datasets`; the detectors' docs section and
tables stay in :mod:`benchmarks.report`. This module holds what the scripts repeated around
them: argument parsing, the dataset x seed loop, the run stamp, markdown tables, the raw-rows
dump and reading several runs' rows back, marker-delimited sections of ``docs/benchmarks.md``
and scratch PostgreSQL databases.
"""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.datasets import REPO_ROOT, DatasetSpec, data_root, list_datasets, load
from db.scratch import scratch_database

DOCS = REPO_ROOT / "docs" / "benchmarks.md"
SEEDS = (0, 1, 2)


def bench_parser(doc: str | None, quick_help: str) -> argparse.ArgumentParser:
    """Parser titled by the module docstring's first line, with the ``--quick`` flag first.

    Every bench script starts its options this way; scripts add their own options after it.
    """
    lines = (doc or "").splitlines()
    ap = argparse.ArgumentParser(description=lines[0] if lines else None)
    ap.add_argument("--quick", action="store_true", help=quick_help)
    return ap


def seeds_for(quick: bool) -> tuple[int, ...]:
    """The protocol's seeds; ``--quick`` keeps seed 0 only."""
    return SEEDS[:1] if quick else SEEDS


def shared_specs(groups: Sequence[str], only: str = "") -> list[DatasetSpec] | None:
    """Datasets of ``groups`` (optionally the comma-separated ``only`` names).

    ``None`` after printing the skip notice when the shared data folder is absent, so a
    script without the data exits 0 instead of failing.
    """
    root = data_root()
    if not root.is_dir():
        print(f"shared data not found at {root}; set KDMON_SHARED_DATA. Skipping.")
        return None
    specs = [s for s in list_datasets(root) if s.group in groups]
    if only:
        specs = [s for s in specs if s.name in set(only.split(","))]
    return specs


def iter_cells(
    specs: Iterable[DatasetSpec], seeds: Sequence[int]
) -> Iterator[tuple[DatasetSpec, np.ndarray, np.ndarray, int]]:
    """(spec, X, y, seed) for every cell, loading each dataset once for all its seeds."""
    for spec in specs:
        X, y = load(spec)
        for seed in seeds:
            yield spec, X, y, seed


def run_stamp(*, processor: bool = True) -> str:
    """``<date> <arch> <processor>`` line printed under each bench command for provenance."""
    stamp = f"{date.today()} {platform.machine()}"
    return f"{stamp} {platform.processor() or ''}" if processor else stamp


def utc_stamp() -> str:
    """Wall-clock time in UTC, minute precision, as the DB benches print it."""
    return f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"


def _cpuinfo_fields(cpuinfo: str | None) -> dict[str, str]:
    """``key: value`` lines of /proc/cpuinfo (or of the text given); empty where there is none."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return {}
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if value.strip():
            fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_name(cpuinfo: str | None = None) -> str:
    """CPU model from /proc/cpuinfo where there is one, else what ``platform`` knows."""
    model = _cpuinfo_fields(cpuinfo).get("model name")
    return model or platform.processor() or platform.machine()


def cpu_vector_unit(cpuinfo: str | None = None) -> str | None:
    """The CPU's widest vector unit ("AVX-512", "AVX2", "AVX"), None if unknown.

    STKD's small networks lean on wide vector units where IForest's tree walks do not, so its
    ratios to IForest differ between an AVX-512 host and an AVX2 one.
    """
    flags = set(_cpuinfo_fields(cpuinfo).get("flags", "").split())
    names = {"avx512f": "AVX-512", "avx2": "AVX2", "avx": "AVX"}
    return next((name for flag, name in names.items() if flag in flags), None)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Pipe table with a plain ``---`` rule; cells are already formatted strings."""
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def dump_rows(path: str | None, rows: Any) -> None:
    """Write the raw result rows as JSON when ``--json`` named a file (no-op otherwise)."""
    if path:
        with open(path, "w") as f:
            json.dump(rows, f, indent=1)


def load_run_rows(
    paths: Iterable[str],
    key_fields: Sequence[str],
    from_log: Callable[[str], dict[str, Any] | None] | None = None,
) -> list[dict[str, Any]]:
    """Rows of several runs, in order, a cell (``key_fields``) seen twice counted once.

    A path is a ``--json`` dump, or, ending in ``.log`` / ``.err``, the progress lines a run
    printed (parsed by ``from_log``), so a run stopped before it wrote its JSON still counts.
    """
    rows: list[dict[str, Any]] = []
    for path in paths:
        with open(path) as f:
            if not path.endswith((".log", ".err")):
                rows += json.load(f)
            elif from_log is not None:
                rows += [r for r in map(from_log, f) if r is not None]
    cells: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        cells.setdefault(tuple(r[k] for k in key_fields), r)
    return list(cells.values())


def markers(name: str) -> tuple[str, str]:
    """The HTML comments that delimit section ``name`` of docs/benchmarks.md."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def replace_section(text: str, name: str, body: str) -> str:
    """``text`` with the first ``name`` section replaced by ``body`` (appended if missing).

    Only the markers and what is between them change, so several scripts can each own a
    section of the same file; ``body`` is right-stripped so repeated writes are idempotent.
    """
    start, end = markers(name)
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text.split(start, 1)[1]:
        before, rest = text.split(start, 1)
        return before + block + rest.split(end, 1)[1]
    return text.rstrip("\n") + "\n\n" + block + "\n"


def write_section(name: str, body: str, path: Path = DOCS) -> None:
    """Replace section ``name`` of ``path`` in place, creating the file with a title if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    path.write_text(replace_section(text, name, body), encoding="utf-8")


def fresh_pg_database(base_url: str) -> tuple[str, Callable[[], None]]:
    """A scratch database for one bench run, and a function to drop it."""
    return scratch_database(base_url, prefix="kdmon_bench")
