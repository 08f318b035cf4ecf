"""Mix-KD benchmark: false alarms under sensor-noise regimes at the clean-data threshold.

    python -m benchmarks.mix_kd_bench [--quick] [--only SETS] [--json out.json]
    python -m benchmarks.mix_kd_bench --summarize a.json,b.json   # joint table of split runs

Protocol (shared/data/README.md): ADBench + MVTec sets, inductive 60/40 stratified split,
seeds 0, 1, 2 (``--quick``: seed 0 only), standardization with train statistics, fit on the
clean training part without labels. The test part is then corrupted by one regime at a time
(in train-standardized units): ``clean``; ``jitter`` N(0, 0.5^2); ``dropout`` 20 % of entries
per row set to the training median; ``drift`` +2 sd on a fixed 10 % of the channels.
FAR = share of test normals above the clean-data threshold (the ``contamination`` = 0.1
quantile of each scorer's own training scores) for the clean student alone (lambda = 1), the
noisy student alone (lambda = 0) and the fused detector (lambda per 256-row batch). ROC-AUC on
each regime too; the chosen lambda is the mean over batches. Skips cleanly without the data.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from benchmarks.common import (
    bench_parser,
    dump_rows,
    iter_cells,
    load_run_rows,
    markdown_table,
    run_stamp,
    seeds_for,
    shared_specs,
)
from benchmarks.protocol import inductive_split
from detectors.mix_kd import MixKDDetector
from detectors.mix_kd.noise import apply_regime

LEVELS = {"clean": 0.0, "jitter": 0.5, "dropout": 0.2, "drift": 2.0}


def run_cell(
    name: str, X: np.ndarray, y: np.ndarray, seed: int, steps: tuple[int, int]
) -> list[dict[str, Any]]:
    """One (dataset, seed): fit once on clean train rows, then score every regime."""
    X_tr, X_te, _, y_te = inductive_split(X, y, seed)
    det = MixKDDetector(random_state=seed, steps=steps, n_threads=1).fit(X_tr)
    median = np.median(X_tr, axis=0)
    normal = y_te == 0
    th_c, th_n = det.threshold_at(1.0), det.threshold_at(0.0)
    rows = []
    for regime, level in LEVELS.items():
        rng = np.random.default_rng(1000 + seed)
        Xn = apply_regime(X_te, regime, level, rng, median, np.ones(X.shape[1]))
        fused = det.decision_function(Xn)
        weights = list(det.last_fusion_weights_)
        clean = det.score_at(Xn, 1.0)
        noisy = det.score_at(Xn, 0.0)
        rows.append(
            {
                "dataset": name,
                "seed": seed,
                "regime": regime,
                "far_clean": float((clean[normal] > th_c).mean()),
                "far_noisy": float((noisy[normal] > th_n).mean()),
                "far_fused": float((fused[normal] > det.threshold_).mean()),
                "auc_clean": float(roc_auc_score(y_te, clean)),
                "auc_noisy": float(roc_auc_score(y_te, noisy)),
                "auc_fused": float(roc_auc_score(y_te, fused)),
                "weight": float(np.mean(weights)),
                "fit_s": det.fit_seconds_,
            }
        )
    return rows


LOG_LINE = re.compile(
    r"^(?P<dataset>\S+) s(?P<seed>\d+) (?P<regime>\w+): FAR c (?P<fc>[\d.]+) n (?P<fn>[\d.]+) "
    r"f (?P<ff>[\d.]+) AUC c (?P<ac>[\d.]+) f (?P<af>[\d.]+) lambda (?P<w>[\d.]+)$"
)


def row_from_log(line: str) -> dict[str, Any] | None:
    """A progress line as a row; it carries no noisy-student AUC or fit time (left NaN)."""
    m = LOG_LINE.match(line.strip())
    if m is None:
        return None
    return {"dataset": m["dataset"], "seed": int(m["seed"]), "regime": m["regime"],
            "far_clean": float(m["fc"]), "far_noisy": float(m["fn"]),
            "far_fused": float(m["ff"]), "auc_clean": float(m["ac"]),
            "auc_noisy": float("nan"), "auc_fused": float(m["af"]),
            "weight": float(m["w"]), "fit_s": float("nan")}  # fmt: skip


def _mean(values: list[float]) -> float:
    """Mean over the values that are known (NaN when none is: rows read from progress logs)."""
    v = np.asarray(values, dtype=np.float64)
    return float(v[~np.isnan(v)].mean()) if (~np.isnan(v)).any() else float("nan")


def summarize(rows: list[dict[str, Any]]) -> str:
    """Markdown: per regime, means over datasets and seeds; then clean AUC per dataset."""
    by_regime = []
    for regime in LEVELS:
        rs = [r for r in rows if r["regime"] == regime]
        m = {k: _mean([r[k] for r in rs]) for k in rs[0] if isinstance(rs[0][k], float)}
        ok = sum(r["far_fused"] <= r["far_clean"] + 1e-12 for r in rs)
        by_regime.append(
            [regime]
            + [f"{m[k]:.3f}" for k in ("far_clean", "far_noisy", "far_fused")]
            + [f"{m[k]:.3f}" for k in ("auc_clean", "auc_noisy", "auc_fused")]
            + [f"{m['weight']:.2f}", f"{ok}/{len(rs)}"]
        )
    by_dataset = []
    for name in dict.fromkeys(r["dataset"] for r in rows):
        rs = [r for r in rows if r["dataset"] == name and r["regime"] == "clean"]
        auc_c, auc_f, w = (
            np.mean([r[k] for r in rs]) for k in ("auc_clean", "auc_fused", "weight")
        )
        by_dataset.append([name, f"{auc_c:.3f}", f"{auc_f:.3f}", f"{w:.2f}"])
    cells = []
    for name in dict.fromkeys(r["dataset"] for r in rows):
        for regime in LEVELS:
            rs = [r for r in rows if r["dataset"] == name and r["regime"] == regime]
            m = {k: float(np.mean([r[k] for r in rs])) for k in ("far_clean", "far_noisy",
                 "far_fused", "auc_clean", "auc_fused", "weight")}  # fmt: skip
            ok = sum(r["far_fused"] <= r["far_clean"] + 1e-12 for r in rs)
            cells.append([name, regime, *(f"{m[k]:.3f}" for k in ("far_clean", "far_noisy",
                          "far_fused", "auc_clean", "auc_fused")), f"{m['weight']:.2f}",
                          f"{ok}/{len(rs)}"])  # fmt: skip
    gap = max(abs(r["auc_fused"] - r["auc_clean"]) for r in rows if r["regime"] == "clean")
    header = ["regime", "FAR clean student", "FAR noisy student", "FAR fused",
              "AUC clean student", "AUC noisy student", "AUC fused", "mean lambda (1 = clean)",
              "cells fused FAR <= clean"]  # fmt: skip
    clean = ["dataset", "clean AUC: clean student", "fused", "lambda on clean data"]
    per_cell = ["dataset", "regime", "FAR clean", "FAR noisy", "FAR fused", "AUC clean",
                "AUC fused", "lambda", "seeds fused FAR <= clean"]  # fmt: skip
    return "\n\n".join([
        markdown_table(header, by_regime),
        markdown_table(clean, by_dataset),
        f"largest |AUC fused - AUC clean student| on clean data (any dataset, seed): {gap:.4f}",
        markdown_table(per_cell, cells),
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = bench_parser(__doc__, "seed 0 only")
    ap.add_argument("--steps", default="1500,1000", help="clean,noisy student steps")
    ap.add_argument("--only", default="", help="comma-separated dataset names")
    ap.add_argument("--json", default="", help="write the raw rows here")
    ap.add_argument("--summarize", default="", help="comma-separated --json files of earlier "
                    "(e.g. parallel) runs: print their joint summary and exit")  # fmt: skip
    args = ap.parse_args(argv)
    if args.summarize:
        paths = args.summarize.split(",")
        print(summarize(load_run_rows(paths, ("dataset", "seed", "regime"), row_from_log)))
        return 0
    specs = shared_specs(("adbench", "mvtec"), args.only)
    if specs is None:
        return 0
    steps = tuple(int(s) for s in args.steps.split(","))
    seeds = seeds_for(args.quick)
    rows: list[dict[str, Any]] = []
    for spec, X, y, seed in iter_cells(specs, seeds):
        cell = run_cell(spec.name, X, y, seed, steps)  # type: ignore[arg-type]
        rows += cell
        for r in cell:
            print(
                f"{spec.name} s{seed} {r['regime']}: FAR c {r['far_clean']:.3f} "
                f"n {r['far_noisy']:.3f} f {r['far_fused']:.3f} AUC c {r['auc_clean']:.3f} "
                f"f {r['auc_fused']:.3f} lambda {r['weight']:.2f}",
                file=sys.stderr,
                flush=True,
            )
    print(
        f"python -m benchmarks.mix_kd_bench{' --quick' if args.quick else ''} --steps {args.steps}"
    )
    print(f"{run_stamp(processor=False)} seeds {seeds}")
    print(summarize(rows))
    dump_rows(args.json, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
