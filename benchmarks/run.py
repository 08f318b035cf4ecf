"""Detector benchmark: ``python -m benchmarks.run [--quick | --sweep | --ablations | --scale]``.

Protocol in ``benchmarks/protocol.py`` (from shared/data/README.md). Prints tables and writes
them between the ``detectors`` markers of docs/benchmarks.md (``--no-docs`` to skip).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.datasets import REPO_ROOT, DatasetSpec, data_root, list_datasets, load
from benchmarks.protocol import evaluate
from benchmarks.report import (
    dataset_table,
    machine_line,
    summary_table,
    write_docs_section,
)
from detectors import available_detectors

QUICK_DATASETS = ("38_thyroid", "6_cardio", "mvtec_bottle", "skab_valve1_0")
SWEEP_SHARES = (0.0, 0.02, 0.05, 0.10, 0.20)
SWEEP_BASELINES = ("inne", "iforest", "knn")  # the strongest baselines of the main table
ABLATIONS: dict[str, dict[str, Any]] = {
    "stkd": {},
    "stkd-no-purification": {"rounds": 0},
    "stkd-one-round": {"rounds": 1},
    "stkd-no-teacher": {"lambda_kd": 0.0, "eta": 0.0, "judge_weight": 0.0},
    "stkd-no-judge": {"judge_weight": 0.0},
    "stkd-no-kd-loss": {"lambda_kd": 0.0},
    "stkd-kd-in-score": {"eta": 0.5},
    "stkd-kd-random": {"kd_target": "random"},
    "stkd-no-pool-terms": {"knn_weight": 0.0, "gauss_weight": 0.0},
}
DOCS = REPO_ROOT / "docs" / "benchmarks.md"


def select(specs: list[DatasetSpec], wanted: str | None) -> list[DatasetSpec]:
    """Filter by comma-separated dataset names or group names (adbench, mvtec, skab)."""
    if not wanted:
        return specs
    keys = {w.strip() for w in wanted.split(",") if w.strip()}
    chosen = [s for s in specs if s.name in keys or s.group in keys]
    unknown = keys - {s.name for s in specs} - {s.group for s in specs}
    if unknown:
        raise SystemExit(f"unknown dataset(s) {sorted(unknown)}; have {[s.name for s in specs]}")
    return chosen


def run_grid(
    specs: list[DatasetSpec],
    detectors: list[tuple[str, str, dict[str, Any]]],
    seeds: list[int],
    modes: list[str],
    train_share: float | None = None,
    max_train: int | None = None,
    jobs: int = 1,
) -> list[dict[str, Any]]:
    """Every (dataset, detector, seed, mode) cell; detectors are (label, name, params).

    ``jobs`` > 1 runs cells in that many worker processes (results keep the serial order); each
    cell still fits one single-threaded detector, so fit seconds stay comparable within a run.
    Workers are spawned, not forked: forking a process whose torch thread pool has already run
    can deadlock the child, and the caller (a test, a notebook) may well have used torch.
    """
    cells = [
        (spec, mode, label, name, params, seed, train_share, max_train)
        for spec in specs
        for mode in modes
        for label, name, params in detectors
        for seed in (seeds if mode == "inductive" else seeds[:1])
    ]
    if jobs <= 1:
        return [_run_cell(cell) for cell in cells]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=spawn) as pool:
        return list(pool.map(_run_cell, cells, chunksize=1))


@functools.lru_cache(maxsize=2)
def _load_cached(spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray]:
    return load(spec)


def _run_cell(cell: tuple[Any, ...]) -> dict[str, Any]:
    spec, mode, label, name, params, seed, train_share, max_train = cell
    X, y = _load_cached(spec)
    r = evaluate(
        spec.name, spec.group, X, y, name, seed, mode, params, label, train_share, max_train
    )
    print(
        f"  {spec.name:20s} {mode[:5]} {label:22s} seed {seed} "
        f"auc {r.roc_auc:.4f} ap {r.ap:.4f} fit {r.fit_s:.2f}s",
        flush=True,
    )
    return r.as_dict()


def run_skab_windows(
    specs: list[DatasetSpec], names: list[str], seeds: list[int]
) -> list[dict[str, Any]]:
    """Fit on a whole run and score it (transductive); STKD sees the raw series as windows.

    Baselines get the trailing-window row features (they have no notion of time otherwise).
    Standardization uses the whole run, as in the transductive protocol; labels only score.
    """
    from sklearn.preprocessing import StandardScaler

    from benchmarks.datasets import read_skab, trailing_features
    from benchmarks.protocol import Result, _safe_metrics, fit_and_score

    results = []
    for spec in specs:
        raw, y = read_skab(spec.path)
        series = StandardScaler().fit_transform(raw)
        rows = StandardScaler().fit_transform(trailing_features(raw))
        cells = [("stkd-windows", "stkd", {"view": "windows"}, series)]
        cells += [(n, n, {}, rows) for n in names]
        for label, name, params, X in cells:
            for seed in seeds:
                p = {**params}
                if name in ("stkd", "iforest", "inne", "pca", "dif", "autoencoder", "deepsvdd"):
                    p["random_state"] = seed
                scores, fit_s, score_s = fit_and_score(name, p, X, X)
                auc, ap = _safe_metrics(y, scores)
                r = Result(spec.name, "skab-time", label, seed, "transductive", auc, ap, fit_s,
                           score_s, len(X), float(np.mean(y)))  # fmt: skip
                results.append(r.as_dict())
                print(f"  {spec.name:20s} {label:14s} seed {seed} auc {auc:.4f}", flush=True)
    return results


REFERENCE_SHARE = 0.2  # the leading share of each SKAB run named as a trusted clean window


def run_skab_reference(
    specs: list[DatasetSpec], names: list[str], seeds: list[int], share: float = REFERENCE_SHARE
) -> list[dict[str, Any]]:
    """SKAB runs in time order with their first ``share`` named clean, as an engineer would name
    a commissioning window. ROC-AUC and AP on the rows after the window.

    STKD fits the whole run with the window passed as ``reference_mask``
    (``teacher="reference"``); each detector is also fitted on the whole run with nothing named,
    and on the window alone (the obvious use of a clean window). Rows are the trailing-window
    features standardized on the whole run, as in ``--skab-windows``; labels only score, and
    report the window's faulty share (0 on every valve1 run).
    """
    from sklearn.preprocessing import StandardScaler

    from benchmarks.datasets import read_skab, trailing_features
    from benchmarks.protocol import Result, _safe_metrics, _seedable
    from detectors import create_detector

    results = []
    for spec in specs:
        raw, y = read_skab(spec.path)
        X = StandardScaler().fit_transform(trailing_features(raw))
        window = np.arange(len(X)) < int(round(share * len(X)))
        after = ~window
        print(f"  {spec.name}: window {int(window.sum())} rows, faulty {y[window].mean():.1%}")
        cells = [("stkd-named-window", "stkd", {"teacher": "reference"}, "named")]
        cells += [(n, n, {}, "whole") for n in names]
        cells += [(f"{n}-on-window", n, {}, "window") for n in names]
        for label, name, params, how in cells:
            for seed in seeds:
                p = dict(params)
                if "random_state" in _seedable(name):
                    p["random_state"] = seed
                det = create_detector(name, **p)
                t0 = time.perf_counter()
                if how == "named":
                    det.fit(X, reference_mask=window)
                else:
                    det.fit(X if how == "whole" else X[window])
                fit_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                scores = np.asarray(det.decision_function(X[after]), dtype=np.float64)
                score_s = time.perf_counter() - t0
                auc, ap = _safe_metrics(y[after], scores)
                n_fit = len(X) if how != "window" else int(window.sum())
                r = Result(spec.name, "skab-named-window", label, seed, "transductive", auc, ap,
                           fit_s, score_s, n_fit, float(np.mean(y[after])))  # fmt: skip
                results.append(r.as_dict())
                print(f"  {spec.name:20s} {label:24s} seed {seed} auc {auc:.4f}", flush=True)
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--detectors", help="comma-separated names (default: all registered)")
    ap.add_argument("--datasets", help="comma-separated dataset or group names")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--modes", default="inductive,transductive")
    ap.add_argument(
        "--max-train",
        type=int,
        default=10_000,
        help="cap the training part (stratified subsample, same for all detectors; 0 = no cap)",
    )
    ap.add_argument("--quick", action="store_true", help="4 small datasets, seed 0, inductive")
    ap.add_argument("--sweep", action="store_true", help="training contamination sweep")
    ap.add_argument("--ablations", action="store_true", help="STKD with parts switched off")
    ap.add_argument(
        "--variants",
        help=f"comma-separated ablation variants (default: all of {', '.join(ABLATIONS)})",
    )
    ap.add_argument("--scale", action="store_true", help="10k/100k/1M x 20 timing and memory")
    ap.add_argument(
        "--skab-windows",
        action="store_true",
        help="SKAB runs in time order: STKD windows view vs row baselines, transductive",
    )
    ap.add_argument(
        "--skab-reference",
        action="store_true",
        help="SKAB runs in time order with their first 20 %% named clean (reference_mask)",
    )
    ap.add_argument(
        "--jobs", type=int, default=1, help="worker processes for the cells (default 1)"
    )
    ap.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    ap.add_argument("--json", type=Path, help="also write raw results to this file")
    args = ap.parse_args(argv)

    command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    sections: list[str] = []
    out: dict[str, Any] = {}
    t_start = time.perf_counter()

    if args.scale:
        from benchmarks.scale import run_scale, scale_table

        rows = run_scale()
        out["scale"] = rows
        sections.append(
            "#### Scaling (synthetic n x 20, one process per cell)\n\n" + scale_table(rows)
        )
        sections.append(
            "Peak RSS is `ru_maxrss` of a fresh process per cell (numpy + torch + interpreter); "
            "the after-imports column is that process's RSS before the data was generated. "
            "`stkd-windows` is STKD's windows view (a time-ordered line: sliding windows of 32 "
            "rows through a 1-D conv autoencoder), timed at 10k and 100k rows only."
        )
    else:
        root = data_root()
        specs = list_datasets(root)
        if not specs:
            print(f"benchmark data not found at {root}; set KDMON_SHARED_DATA. Skipping.")
            return {"skipped": True}
        seeds = [int(s) for s in args.seeds.split(",")]
        cap = args.max_train or None
        modes = [m.strip() for m in args.modes.split(",")]
        names = args.detectors.split(",") if args.detectors else available_detectors()
        if args.quick:
            specs = select(specs, args.datasets or ",".join(QUICK_DATASETS))
            seeds, modes = [0], ["inductive"]
        else:
            specs = select(specs, args.datasets)

        if args.ablations:
            wanted = args.variants.split(",") if args.variants else list(ABLATIONS)
            unknown = set(wanted) - set(ABLATIONS)
            if unknown:
                raise SystemExit(f"unknown variant(s) {sorted(unknown)}; have {list(ABLATIONS)}")
            dets = [(label, "stkd", ABLATIONS[label]) for label in wanted]
            res = run_grid(specs, dets, seeds, ["inductive"], None, cap, args.jobs)
            sections.append(summary_table(res, "STKD ablations (inductive, mean over datasets)"))
            sections.append(dataset_table(res, "STKD ablations, ROC-AUC per dataset"))
        elif args.skab_windows:
            res = run_skab_windows(select(specs, "skab"), names, seeds)
            sections.append(summary_table(res, "SKAB valve1, time order kept, transductive"))
            sections.append(dataset_table(res, "SKAB valve1 transductive, ROC-AUC per run"))
        elif args.skab_reference:
            res = run_skab_reference(select(specs, "skab"), names, seeds)
            sections.append(
                summary_table(res, "SKAB valve1, first 20 % named clean, scored after it")
            )
            sections.append(dataset_table(res, "SKAB valve1 with a named window, ROC-AUC per run"))
        elif args.sweep:
            specs = [s for s in specs if s.group in ("adbench", "mvtec")]
            sweep_names = (
                args.detectors.split(",") if args.detectors else ["stkd", *SWEEP_BASELINES]
            )
            res = []
            for share in SWEEP_SHARES:
                cells = [(n, n, {}) for n in sweep_names]
                part = run_grid(specs, cells, seeds, ["inductive"], share, cap, args.jobs)
                for r in part:
                    r["group"] = f"{r['group']} @ {share * 100:02.0f}%"
                res += part
            sections.append(
                summary_table(res, "Contamination sweep: training-part anomaly share, test fixed")
            )
        else:
            dets = [(n, n, {}) for n in names]
            res = run_grid(specs, dets, seeds, modes, None, cap, args.jobs)
            for mode in modes:
                part = [r for r in res if r["mode"] == mode]
                sections.append(summary_table(part, f"{mode.capitalize()}: mean over datasets"))
                sections.append(dataset_table(part, f"{mode.capitalize()}: ROC-AUC per dataset"))
        out["results"] = res

    elapsed = time.perf_counter() - t_start
    header = (
        f"Command: `{command.strip()}` · machine: {machine_line()} · wall time {elapsed:.0f} s."
    )
    text = "\n\n".join([header, *sections])
    print("\n" + text)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    if not args.no_docs:
        write_docs_section(DOCS, _merge_docs(text, args))
    out["markdown"] = text
    return out


def _merge_docs(text: str, args: argparse.Namespace) -> str:
    """Keep one subsection per run kind so a --scale run does not erase the main table."""
    kind = "main"
    for flag in ("scale", "sweep", "ablations", "skab_windows", "skab_reference", "quick"):
        if getattr(args, flag, False):
            kind = flag
            break
    current = DOCS.read_text() if DOCS.exists() else ""
    parts: dict[str, str] = {}
    intro = _INTRO
    if "<!-- detectors:start -->" in current:
        body = current.split("<!-- detectors:start -->", 1)[1].split("<!-- detectors:end -->", 1)[0]
        kept = body.split("<!-- detectors:run ", 1)[0].strip().split("\n", 1)
        if len(kept) == 2 and kept[1].strip():
            intro = kept[1].strip()  # the intro as edited (which runs shared an idle host)
        for chunk in body.split("<!-- detectors:run ")[1:]:
            name, rest = chunk.split(" -->", 1)
            lines = rest.strip().splitlines()
            while lines and (lines[0].startswith("### ") or not lines[0].strip()):
                lines.pop(0)  # drop the heading we add back below
            parts[name.strip()] = "\n".join(lines).strip()
    parts[kind] = text
    order = ["main", "ablations", "sweep", "skab_windows", "skab_reference", "scale", "quick"]
    title = "## Detectors (STKD and PyOD baselines)\n\n" + intro
    blocks = [
        f"<!-- detectors:run {k} -->\n### {_TITLES[k]}\n\n{parts[k]}" for k in order if k in parts
    ]
    return "\n\n".join([title, *blocks])


_TITLES = {
    "main": "Main table",
    "ablations": "STKD ablations",
    "sweep": "Contamination sweep",
    "scale": "Scaling",
    "skab_windows": "SKAB in time order: STKD windows view",
    "skab_reference": "SKAB in time order with a named clean window",
    "quick": "Quick check",
}
_INTRO = (
    "Fully unsupervised protocol (shared/data/README.md): per dataset and seed a stratified 60/40 "
    "split, standardization with training statistics, fit without labels, score the 40 %; "
    "transductive = fit and score all of X. One default configuration per detector (registry "
    "defaults), no per-dataset tuning. SKAB rows are trailing-window features (value, 16 s mean, "
    "16 s std per sensor). The training part is capped at 10,000 rows by a stratified "
    "subsample, the same for every detector (`--max-train`; only 32_shuttle is affected). "
    "Produced by `python -m benchmarks.run`; numbers below are as measured on a shared, busy "
    "2-core machine (other jobs running), so seconds are noisy."
)


if __name__ == "__main__":
    main()
    sys.exit(0)
