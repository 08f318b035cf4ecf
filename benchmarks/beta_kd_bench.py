"""Beta-KD benchmark: teacher vs student accuracy and scoring throughput, weighting ablation.

    python -m benchmarks.beta_kd_bench [--quick] [--seeds 0,1,2] [--json out.json]
    python -m benchmarks.beta_kd_bench --from-json s0.json,s1.json,s2.json

Protocol (shared/data/README.md): ADBench + MVTec sets, inductive 60/40 stratified split,
seeds 0, 1, 2 (``--quick``: seed 0 only), standardization with train statistics, fit without
labels. One teacher fit per (dataset, seed) is shared by the three ``weighting`` students
(``BetaKDDetector.prepare`` / ``fit_prepared``), so the ablation differs only in the weighting.
Throughput: rows per second scoring the test rows (tiled to at least 2,000 rows), best of 3
(``--repeats``), one torch thread, teacher = the full fitted ensemble, student =
``decision_function`` at the default settings. ``--from-json`` summarizes rows saved by
earlier runs (e.g. one process per seed) without refitting; where two files hold the same
(dataset, seed) cell, the first file listed wins. Skips cleanly when the shared data folder is
absent.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.metrics import average_precision_score, roc_auc_score

from benchmarks.common import (
    bench_parser,
    cpu_name,
    dump_rows,
    iter_cells,
    load_run_rows,
    markdown_table,
    seeds_for,
    shared_specs,
    utc_stamp,
)
from benchmarks.protocol import inductive_split
from detectors.beta_kd import BetaKDDetector

WEIGHTINGS = ("equal", "task", "instance")
SPEEDUP_TARGET = 20.0
AUC_LOSS_TARGET = 0.01
MIX_GAMMA = 0.3  # methods.md's optional reconstruction mix, measured as an ablation


def _best_time(fn: Callable[[], Any], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _metrics(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    return float(roc_auc_score(y, s)), float(average_precision_score(y, s))


def run_cell(
    name: str, X: np.ndarray, y: np.ndarray, seed: int, steps: int, repeats: int = 3
) -> dict[str, Any]:
    """One (dataset, seed): teacher, three students, the gamma mix, throughput."""
    X_tr, X_te, _, y_te = inductive_split(X, y, seed)
    base = BetaKDDetector(random_state=seed, steps=steps, n_threads=1)
    ds = base.prepare(X_tr)
    row: dict[str, Any] = {"dataset": name, "seed": seed, "n_train": len(X_tr), "d": X.shape[1]}
    teacher_te = ds.teacher.score(base_scale(ds, X_te))
    row["teacher_auc"], row["teacher_ap"] = _metrics(y_te, teacher_te)
    row["teacher_fit_s"] = ds.teacher_seconds
    row["n_distill"] = len(ds.Xs)
    dets: dict[str, BetaKDDetector] = {}
    for w in WEIGHTINGS:
        det = clone(base).set_params(weighting=w)
        t0 = time.perf_counter()
        det.fit_prepared(ds)
        row[f"{w}_fit_s"] = time.perf_counter() - t0
        scores = det.decision_function(X_te)
        row[f"{w}_auc"], row[f"{w}_ap"] = _metrics(y_te, scores)
        row[f"{w}_fidelity"] = det.fidelity_spearman_
        row[f"{w}_test_fidelity"] = float(spearmanr(scores, teacher_te).statistic)
        row[f"{w}_weights"] = det.channel_weights_
        dets[w] = det
    det = dets["task"]
    det.gamma = MIX_GAMMA
    row["task_mix_auc"], row["task_mix_ap"] = _metrics(y_te, det.decision_function(X_te))
    det.gamma = base.gamma
    reps = int(np.ceil(2000 / len(X_te)))
    X_big = np.tile(X_te, (reps, 1))
    t_teacher = _best_time(lambda: det.teacher_score(X_big), repeats)
    t_student = _best_time(lambda: det.decision_function(X_big), repeats)
    row["timing_repeats"] = repeats
    row["rows_timed"] = len(X_big)
    row["teacher_rows_per_s"] = len(X_big) / t_teacher
    row["student_rows_per_s"] = len(X_big) / t_student
    row["speedup"] = t_teacher / t_student
    row["student_params"] = sum(p.numel() for p in det.student_.parameters())
    return row


def base_scale(ds: Any, X: np.ndarray) -> np.ndarray:
    """Test rows in the teacher's units (the detector's robust scaling, same clip)."""
    return np.clip((X - ds.center) / ds.scale, -20, 20)


def _mean(rows: list[dict[str, Any]], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def _geomean(values: list[float]) -> float:
    return float(np.exp(np.mean(np.log(values))))


def per_dataset_table(rows: list[dict[str, Any]]) -> str:
    """Teacher vs default student per dataset (means over seeds), with the overall mean row."""
    names = list(dict.fromkeys(r["dataset"] for r in rows))
    header = ["dataset", "seeds", "teacher AUC", "student AUC", "AUC loss", "teacher AP",
              "student AP", "test Spearman", "speed-up"]  # fmt: skip
    table = []
    for n in names:
        rs = [r for r in rows if r["dataset"] == n]
        table.append(_dataset_cells(n, rs, f"{_geomean([r['speedup'] for r in rs]):.0f}x"))
    sp = [r["speedup"] for r in rows]
    cells = _dataset_cells("**mean**", rows, f"geo-mean {_geomean(sp):.0f}x, min {min(sp):.0f}x")
    table.append([f"**{c}**" if i else c for i, c in enumerate(cells)])
    return markdown_table(header, table)


def _dataset_cells(name: str, rs: list[dict[str, Any]], speed: str) -> list[str]:
    loss = _mean(rs, "teacher_auc") - _mean(rs, "task_auc")
    return [
        name,
        str(len({r["seed"] for r in rs})),
        f"{_mean(rs, 'teacher_auc'):.3f}",
        f"{_mean(rs, 'task_auc'):.3f}",
        f"{loss:+.3f}",
        f"{_mean(rs, 'teacher_ap'):.3f}",
        f"{_mean(rs, 'task_ap'):.3f}",
        f"{_mean(rs, 'task_test_fidelity'):.3f}",
        speed,
    ]


def ablation_table(rows: list[dict[str, Any]]) -> str:
    """Weighting (and gamma) variants on the same teacher fits: means over all cells."""
    t_auc, t_ap = _mean(rows, "teacher_auc"), _mean(rows, "teacher_ap")
    header = ["student", "mean AUC", "AUC loss", "mean AP", "test Spearman", "fit s (mean)"]
    table = [["teacher (ensemble)", f"{t_auc:.4f}", "", f"{t_ap:.4f}", "", ""]]
    for w in WEIGHTINGS:
        label = f"`{w}`" + (" (default)" if w == "task" else "")
        table.append([
            label,
            f"{_mean(rows, f'{w}_auc'):.4f}",
            f"{t_auc - _mean(rows, f'{w}_auc'):+.4f}",
            f"{_mean(rows, f'{w}_ap'):.4f}",
            f"{_mean(rows, f'{w}_test_fidelity'):.3f}",
            f"{_mean(rows, f'{w}_fit_s'):.1f}",
        ])  # fmt: skip
    table.append([
        f"`task`, gamma={MIX_GAMMA} (reconstruction mix)",
        f"{_mean(rows, 'task_mix_auc'):.4f}",
        f"{t_auc - _mean(rows, 'task_mix_auc'):+.4f}",
        f"{_mean(rows, 'task_mix_ap'):.4f}",
        "",
        "",
    ])  # fmt: skip
    return markdown_table(header, table)


def per_seed_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Mean teacher / student AUC per seed: how much the headline gap moves between splits."""
    out = []
    for s in sorted({r["seed"] for r in rows}):
        rs = [r for r in rows if r["seed"] == s]
        t, st = _mean(rs, "teacher_auc"), _mean(rs, "task_auc")
        out.append(
            f"- seed {s} ({len(rs)} sets): teacher {t:.4f}, student {st:.4f}, loss {t - st:+.4f}"
        )
    return out


def verdict(rows: list[dict[str, Any]]) -> str:
    sp = [r["speedup"] for r in rows]
    loss = _mean(rows, "teacher_auc") - _mean(rows, "task_auc")
    ok_speed = min(sp) >= SPEEDUP_TARGET
    ok_auc = loss <= AUC_LOSS_TARGET
    return (
        f"Targets: speed-up >= {SPEEDUP_TARGET:.0f}x on every cell: "
        f"{'PASS' if ok_speed else 'FAIL'} (min {min(sp):.0f}x, geo-mean {_geomean(sp):.0f}x); "
        f"mean ROC-AUC loss <= {AUC_LOSS_TARGET}: {'PASS' if ok_auc else 'FAIL'} "
        f"(teacher - student = {loss:+.4f})\n\n{robustness(rows)}"
    )


def robustness(rows: list[dict[str, Any]]) -> str:
    """How much the mean leans on one set: per-set losses and the mean without the best gain."""
    names = list(dict.fromkeys(r["dataset"] for r in rows))
    loss = {
        n: _mean([r for r in rows if r["dataset"] == n], "teacher_auc")
        - _mean([r for r in rows if r["dataset"] == n], "task_auc")
        for n in names
    }
    worst, best = max(loss, key=loss.get), min(loss, key=loss.get)
    within = sum(v <= AUC_LOSS_TARGET for v in loss.values())
    rest = [r for r in rows if r["dataset"] != best]
    rest_loss = _mean(rest, "teacher_auc") - _mean(rest, "task_auc") if rest else float("nan")
    return (
        f"Per set: {within} of {len(names)} within {AUC_LOSS_TARGET}; worst {worst} "
        f"{loss[worst]:+.3f}; without the set the student gains most on ({best}, "
        f"{loss[best]:+.3f}) the mean loss is {rest_loss:+.4f}."
    )


def summarize(rows: list[dict[str, Any]]) -> str:
    """Markdown: per-dataset table, weighting ablation, per-seed means, target verdict."""
    parts = [
        per_dataset_table(rows),
        "",
        "Weighting ablation (same teacher fits, default gamma 0 unless stated):",
        "",
        ablation_table(rows),
        "",
        *per_seed_lines(rows),
        "",
        verdict(rows),
    ]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = bench_parser(__doc__, "seed 0 only")
    ap.add_argument("--seeds", default="", help="comma-separated seeds (overrides --quick)")
    ap.add_argument("--steps", type=int, default=1500, help="student gradient steps")
    ap.add_argument("--only", default="", help="comma-separated dataset names")
    ap.add_argument("--repeats", type=int, default=3, help="timing: best of this many runs")
    ap.add_argument("--json", default="", help="write the raw rows here")
    ap.add_argument("--from-json", default="", help="summarize saved rows (comma-separated)")
    args = ap.parse_args(argv)
    if args.from_json:
        rows = load_run_rows(args.from_json.split(","), ("dataset", "seed"))
    else:
        specs = shared_specs(("adbench", "mvtec"), args.only)
        if specs is None:
            return 0
        seeds = (
            tuple(int(s) for s in args.seeds.split(",")) if args.seeds else seeds_for(args.quick)
        )
        rows = []
        for spec, X, y, seed in iter_cells(specs, seeds):
            row = run_cell(spec.name, X, y, seed, args.steps, args.repeats)
            rows.append(row)
            dump_rows(args.json, rows)  # keep finished cells if the run is cut short
            print(
                f"{spec.name} s{seed}: teacher {row['teacher_auc']:.3f} task {row['task_auc']:.3f} "
                f"equal {row['equal_auc']:.3f} inst {row['instance_auc']:.3f} "
                f"mix {row['task_mix_auc']:.3f} speed-up {row['speedup']:.0f}x",
                file=sys.stderr,
                flush=True,
            )
    stamp = f"{utc_stamp()}, {cpu_name()}"
    seeds_run = sorted({r["seed"] for r in rows})
    print(f"{stamp}; seeds {seeds_run}; {len(rows)} cells")
    text = summarize(rows)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
