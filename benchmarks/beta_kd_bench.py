"""Beta-KD benchmark: teacher vs student accuracy and scoring throughput, weighting ablation.

    python -m benchmarks.beta_kd_bench [--quick] [--json out.json]

Protocol (shared/data/README.md): ADBench + MVTec sets, inductive 60/40 stratified split,
seeds 0, 1, 2 (``--quick``: seed 0 only), standardization with train statistics, fit without
labels. One teacher fit per (dataset, seed) is shared by the three ``weighting`` students
(``BetaKDDetector.prepare`` / ``fit_prepared``), so the ablation differs only in the weighting.
Throughput: rows per second scoring the test rows (tiled to at least 2,000 rows), best of 3,
one torch thread, teacher = the full fitted ensemble, student = ``decision_function``.
Skips cleanly when the shared data folder is absent.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.metrics import average_precision_score, roc_auc_score

from benchmarks.common import (
    bench_parser,
    dump_rows,
    iter_cells,
    markdown_table,
    run_stamp,
    seeds_for,
    shared_specs,
)
from benchmarks.protocol import inductive_split
from detectors.beta_kd import BetaKDDetector

WEIGHTINGS = ("equal", "task", "instance")


def _best_time(fn: Callable[[], Any], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _metrics(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    return float(roc_auc_score(y, s)), float(average_precision_score(y, s))


def run_cell(name: str, X: np.ndarray, y: np.ndarray, seed: int, steps: int) -> dict[str, Any]:
    """One (dataset, seed): teacher, three students, gamma variants, throughput."""
    X_tr, X_te, _, y_te = inductive_split(X, y, seed)
    base = BetaKDDetector(random_state=seed, steps=steps, n_threads=1)
    ds = base.prepare(X_tr)
    row: dict[str, Any] = {"dataset": name, "seed": seed, "n_train": len(X_tr), "d": X.shape[1]}
    Xs_te = np.clip((X_te - ds.center) / ds.scale, -20, 20)
    row["teacher_auc"], row["teacher_ap"] = _metrics(y_te, ds.teacher.score(Xs_te))
    row["teacher_fit_s"] = ds.teacher_seconds
    dets: dict[str, BetaKDDetector] = {}
    for w in WEIGHTINGS:
        det = clone(base).set_params(weighting=w)
        t0 = time.perf_counter()
        det.fit_prepared(ds)
        row[f"{w}_fit_s"] = time.perf_counter() - t0
        row[f"{w}_auc"], row[f"{w}_ap"] = _metrics(y_te, det.decision_function(X_te))
        row[f"{w}_fidelity"] = det.fidelity_spearman_
        row[f"{w}_weights"] = det.channel_weights_
        dets[w] = det
    det = dets["task"]
    det.gamma = 0.0
    row["task_g0_auc"], row["task_g0_ap"] = _metrics(y_te, det.decision_function(X_te))
    det.gamma = 0.3
    row["task_g03_auc"], row["task_g03_ap"] = _metrics(y_te, det.decision_function(X_te))
    det.gamma = base.gamma
    reps = int(np.ceil(2000 / len(X_te)))
    X_big = np.tile(X_te, (reps, 1))
    t_teacher = _best_time(lambda: det.teacher_score(X_big))
    t_student = _best_time(lambda: det.decision_function(X_big))
    row["rows_timed"] = len(X_big)
    row["teacher_rows_per_s"] = len(X_big) / t_teacher
    row["student_rows_per_s"] = len(X_big) / t_student
    row["speedup"] = t_teacher / t_student
    row["student_params"] = sum(p.numel() for p in det.student_.parameters())
    return row


def summarize(rows: list[dict[str, Any]]) -> str:
    """Markdown tables: per dataset (mean over seeds) and the overall means."""
    names = list(dict.fromkeys(r["dataset"] for r in rows))
    keys = ["teacher_auc", "task_auc", "equal_auc", "instance_auc", "task_g0_auc", "task_g03_auc"]
    header = ["dataset", "teacher AUC", "student AUC (task)", "equal", "instance",
              "task, gamma=0", "task, gamma=0.3", "teacher AP", "student AP",
              "fidelity (Spearman)", "speed-up"]  # fmt: skip
    table: list[list[str]] = []

    def mean(rs: list[dict[str, Any]], k: str) -> float:
        return float(np.mean([r[k] for r in rs]))

    for n in names:
        rs = [r for r in rows if r["dataset"] == n]
        cells = [f"{mean(rs, k):.3f}" for k in keys]
        cells += [f"{mean(rs, 'teacher_ap'):.3f}", f"{mean(rs, 'task_ap'):.3f}"]
        cells += [f"{mean(rs, 'task_fidelity'):.3f}", f"{mean(rs, 'speedup'):.0f}x"]
        table.append([n, *cells])
    cells = [f"**{mean(rows, k):.3f}**" for k in keys]
    cells += [f"**{mean(rows, 'teacher_ap'):.3f}**", f"**{mean(rows, 'task_ap'):.3f}**"]
    cells += [f"**{mean(rows, 'task_fidelity'):.3f}**"]
    sp = [r["speedup"] for r in rows]
    cells.append(f"**min {min(sp):.0f}x / median {np.median(sp):.0f}x**")
    table.append(["**mean**", *cells])
    loss = mean(rows, "teacher_auc") - mean(rows, "task_auc")
    lines = [markdown_table(header, table), ""]
    lines.append(
        f"Targets: speed-up >= 20x on every cell: {'PASS' if min(sp) >= 20 else 'FAIL'} "
        f"(min {min(sp):.0f}x); mean ROC-AUC loss <= 0.01: "
        f"{'PASS' if loss <= 0.01 else 'FAIL'} (teacher - student = {loss:+.4f})"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = bench_parser(__doc__, "seed 0 only")
    ap.add_argument("--steps", type=int, default=1500, help="student gradient steps")
    ap.add_argument("--only", default="", help="comma-separated dataset names")
    ap.add_argument("--json", default="", help="write the raw rows here")
    args = ap.parse_args(argv)
    specs = shared_specs(("adbench", "mvtec"), args.only)
    if specs is None:
        return 0
    seeds = seeds_for(args.quick)
    rows = []
    for spec, X, y, seed in iter_cells(specs, seeds):
        row = run_cell(spec.name, X, y, seed, args.steps)
        rows.append(row)
        print(
            f"{spec.name} s{seed}: teacher {row['teacher_auc']:.3f} task {row['task_auc']:.3f} "
            f"equal {row['equal_auc']:.3f} inst {row['instance_auc']:.3f} "
            f"g0 {row['task_g0_auc']:.3f} speed-up {row['speedup']:.0f}x",
            file=sys.stderr,
            flush=True,
        )
    print(f"python -m benchmarks.beta_kd_bench{' --quick' if args.quick else ''}")
    print(f"{run_stamp()} seeds {seeds}")
    print(summarize(rows))
    dump_rows(args.json, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
