"""Tables from benchmark results, and the detectors' section of docs/benchmarks.md."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import cpu_name, cpu_vector_unit

START = "<!-- detectors:start -->"
END = "<!-- detectors:end -->"


def _mean(values: Iterable[float]) -> float:
    arr = np.asarray(list(values), dtype=np.float64)
    return float(np.nanmean(arr)) if arr.size else float("nan")


def cell_means(results: list[dict[str, Any]], metric: str) -> dict[tuple[str, str, str], float]:
    """(group, dataset, detector) -> metric averaged over seeds."""
    acc: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for r in results:
        acc[(r["group"], r["dataset"], r["detector"])].append(r[metric])
    return {k: _mean(v) for k, v in acc.items()}


def group_summary(results: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """group -> detector -> {roc_auc, ap, rank, fit_s, score_s}, means over the datasets."""
    auc = cell_means(results, "roc_auc")
    ap = cell_means(results, "ap")
    fit = cell_means(results, "fit_s")
    score = cell_means(results, "score_s")
    out: dict[str, dict[str, dict[str, float]]] = {}
    for group in sorted({k[0] for k in auc}):
        datasets = sorted({k[1] for k in auc if k[0] == group})
        dets = sorted({k[2] for k in auc if k[0] == group})
        ranks: dict[str, list[float]] = defaultdict(list)
        for ds in datasets:
            present = [d for d in dets if (group, ds, d) in auc]
            vals = np.array([-auc[(group, ds, d)] for d in present])
            order = _rankdata(vals)
            for d, rk in zip(present, order, strict=True):
                ranks[d].append(rk)
        out[group] = {
            d: {
                "roc_auc": _mean(auc[(group, ds, d)] for ds in datasets if (group, ds, d) in auc),
                "ap": _mean(ap[(group, ds, d)] for ds in datasets if (group, ds, d) in ap),
                "rank": _mean(ranks[d]),
                "fit_s": _mean(fit[(group, ds, d)] for ds in datasets if (group, ds, d) in fit),
                "score_s": _mean(
                    score[(group, ds, d)] for ds in datasets if (group, ds, d) in score
                ),
            }
            for d in dets
        }
    return out


def _rankdata(values: np.ndarray) -> np.ndarray:
    """Average ranks (1 = best = smallest value)."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for v in np.unique(values):
        tie = values == v
        ranks[tie] = ranks[tie].mean()
    return ranks


def summary_table(results: list[dict[str, Any]], title: str) -> str:
    """Markdown: one row per (group, detector), sorted by mean ROC-AUC within the group."""
    lines = [
        f"#### {title}",
        "",
        "| group | detector | ROC-AUC | AP | avg rank | fit s | score s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for group, dets in group_summary(results).items():
        for det, m in sorted(dets.items(), key=lambda kv: -kv[1]["roc_auc"]):
            lines.append(
                f"| {group} | {det} | {m['roc_auc']:.4f} | {m['ap']:.4f} | {m['rank']:.2f} "
                f"| {m['fit_s']:.2f} | {m['score_s']:.3f} |"
            )
    return "\n".join(lines)


def dataset_table(results: list[dict[str, Any]], title: str, metric: str = "roc_auc") -> str:
    """Markdown: datasets as rows, detectors as columns (metric averaged over seeds)."""
    cells = cell_means(results, metric)
    dets = sorted({k[2] for k in cells})
    if "stkd" in dets:
        dets = ["stkd", *[d for d in dets if d != "stkd"]]
    lines = [
        f"#### {title}",
        "",
        "| dataset | " + " | ".join(dets) + " |",
        "| --- | " + " | ".join("---:" for _ in dets) + " |",
    ]
    for group, ds in sorted({(k[0], k[1]) for k in cells}):
        vals = [cells.get((group, ds, d), float("nan")) for d in dets]
        best = np.nanmax(vals) if not all(np.isnan(vals)) else np.nan
        txt = [f"**{v:.3f}**" if v == best else f"{v:.3f}" for v in vals]
        lines.append(f"| {ds} | " + " | ".join(txt) + " |")
    return "\n".join(lines)


def cpu_description(cpuinfo: str | None = None) -> str:
    """The CPU's model name and its widest vector unit, e.g. "AMD EPYC, AVX2": a figure needs
    the kind of host beside it (``benchmarks.common.cpu_vector_unit``)."""
    unit = cpu_vector_unit(cpuinfo)
    return cpu_name(cpuinfo) if unit is None else f"{cpu_name(cpuinfo)}, {unit}"


def machine_line() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpus} CPU cores ({cpu_description()}, {platform.machine()}), Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}, "
        f"run {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}"
    )


def write_docs_section(path: Path, body: str) -> None:
    """Replace only the text between the detectors markers; create the file if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    block = f"{START}\n{body.strip()}\n{END}"
    if not path.exists():
        path.write_text(f"# Benchmarks\n\n{block}\n")
        return
    text = path.read_text()
    if START in text and END in text:
        pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + f"\n\n{block}\n"
    path.write_text(text)
