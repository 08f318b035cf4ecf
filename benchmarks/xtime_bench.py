"""xTime benchmark: forecasting on the rarest level and early warning of faults.

    python -m benchmarks.xtime_bench [--quick] [--json out.json]

Two settings, each fitted without labels on a time-ordered training series:

- SKAB valve1 (read in place): two folds; fit on runs 0-3 concatenated (unlabelled, so
  contaminated with their faults, ~35 %), evaluate on runs 4-7, then the reverse. The separate
  ``anomaly-free.csv`` was recorded in another operating regime (e.g. flow ~120 vs ~32), so
  every valve1 row is "extreme" against it; it is not used;
- demo plant (``app.demo``): each line, fit on ``--train-days`` of history (seed 0), evaluate
  on the following ``--test-days``.

Compared: ``XTimeDetector`` defaults (experts E_0..E_4 + gate) against a single forecaster of
the same architecture (``levels=()``, i.e. E_0 + the risk net, with the same total number of
expert steps and gate steps, fitted on every training row). Reported: one-step forecast MSE
(train-robust-scaled units) on test rows at the rarest level (|z| above the MoE's q99 threshold
on some sensor) and overall; the early warning ``extreme_risk(X, horizon=H) >= thr``, with
``thr`` the 95th percentile of the training series' own risk (a 5 % alarm budget on training
data), scored two ways:

- against extreme-band crossings (what the risk predicts; no labels): a crossing is the start
  of a run of extreme rows (runs closer than H merged); warned when an alarm is on in the H
  rows before it; an alarm run is true when an extreme row follows within H;
- against labelled fault segments: an event is warned when an alarm starts in
  [onset - H, onset] and detected when one is active in [onset - H, onset + H]; an alarm run
  (runs closer than H merged) is true when it overlaps [onset - H, end] of some event.

Point ROC-AUC of ``decision_function`` is given for context. ``--quick``: fewer steps, one SKAB
fold, one line, 7 / 3 days. ``--params '{"gate_holdout": 0}'`` overrides detector defaults
(ablations).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from benchmarks.common import bench_parser, dump_rows, markdown_table, run_stamp
from benchmarks.datasets import data_root, list_datasets, read_skab
from detectors.xtime import XTimeDetector


def runs(mask: np.ndarray, merge_gap: int = 0) -> list[tuple[int, int]]:
    """[start, end) of True runs; runs separated by <= ``merge_gap`` rows are merged."""
    idx = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    out: list[tuple[int, int]] = []
    for s, e in zip(idx[::2], idx[1::2], strict=True):
        if out and s - out[-1][1] <= merge_gap:
            out[-1] = (out[-1][0], int(e))
        else:
            out.append((int(s), int(e)))
    return out


def event_scores(alarm: np.ndarray, label: np.ndarray, horizon: int) -> dict[str, int]:
    """Counts for event-level early-warning precision / recall (see module docstring)."""
    events = runs(label.astype(bool))
    alarms = runs(alarm, merge_gap=horizon)
    warned = detected = 0
    for s, _ in events:
        lo = max(0, s - horizon)
        if any(lo <= a0 <= s for a0, _ in alarms):
            warned += 1
        if alarm[lo : min(len(alarm), s + horizon + 1)].any():
            detected += 1
    true_alarms = sum(
        any(a0 < e and a1 > max(0, s - horizon) for s, e in events) for a0, a1 in alarms
    )
    return {"events": len(events), "warned": warned, "detected": detected,
            "alarms": len(alarms), "true_alarms": true_alarms}  # fmt: skip


def crossing_scores(alarm: np.ndarray, extreme: np.ndarray, horizon: int) -> dict[str, int]:
    """Early warning of extreme-band crossings, the detector's own target (no labels needed).

    A crossing is the start of a run of extreme rows (runs closer than H merged) with at least
    H rows of history in the series; it is warned when an alarm is on in the H rows before it
    (``extreme_risk`` after row t is about rows t+1..t+H). An alarm run (runs closer than H
    merged) is true when some row in it is followed by an extreme row within H.
    """
    onsets = [s for s, _ in runs(extreme, merge_gap=horizon) if s >= horizon]
    warned = sum(bool(alarm[s - horizon : s].any()) for s in onsets)
    alarms = runs(alarm, merge_gap=horizon)
    true_alarms = sum(bool(extreme[a0 + 1 : a1 + horizon].any()) for a0, a1 in alarms)
    return {"crossings": len(onsets), "x_warned": warned, "x_alarms": len(alarms),
            "x_true_alarms": true_alarms}  # fmt: skip


def evaluate(
    det: XTimeDetector, X_train: np.ndarray, tests: list[tuple[str, np.ndarray, np.ndarray]],
    horizon: int, extreme_mask_from: XTimeDetector,
) -> dict[str, Any]:  # fmt: skip
    """Pooled metrics over the test series (each scored with its own padded start)."""
    thr = float(np.quantile(det.extreme_risk(X_train, horizon=horizon), 0.95))
    sq_ext, sq_all = [], []
    counts = {"events": 0, "warned": 0, "detected": 0, "alarms": 0, "true_alarms": 0,
              "crossings": 0, "x_warned": 0, "x_alarms": 0, "x_true_alarms": 0}  # fmt: skip
    aucs = []
    for _, X, y in tests:
        f = det.forecast(X)
        err = ((X - f) / extreme_mask_from.scale_) ** 2
        ext = extreme_mask_from.is_extreme(X)
        sq_ext.append(err[ext].mean(axis=1))
        sq_all.append(err.mean(axis=1))
        alarm = det.extreme_risk(X, horizon=horizon) >= thr
        for k, v in event_scores(alarm, y, horizon).items():
            counts[k] += v
        for k, v in crossing_scores(alarm, ext, horizon).items():
            counts[k] += v
        if 0 < y.mean() < 1:
            aucs.append(roc_auc_score(y, det.decision_function(X)))
    ev = max(1, counts["events"])
    return {
        "mse_rarest": float(np.mean(np.concatenate(sq_ext))) if sq_ext else float("nan"),
        "n_rarest": int(sum(len(s) for s in sq_ext)),
        "mse_all": float(np.mean(np.concatenate(sq_all))),
        "warn_recall": counts["warned"] / ev,
        "detect_recall": counts["detected"] / ev,
        "precision": counts["true_alarms"] / max(1, counts["alarms"]),
        "x_recall": counts["x_warned"] / max(1, counts["crossings"]),
        "x_precision": counts["x_true_alarms"] / max(1, counts["x_alarms"]),
        **counts,
        "point_auc": float(np.mean(aucs)) if aucs else float("nan"),
        "fit_s": det.fit_seconds_,
    }


def compare(
    setting: str, X_train: np.ndarray, tests: list[tuple[str, np.ndarray, np.ndarray]],
    params: dict[str, Any], horizon: int,
) -> list[dict[str, Any]]:  # fmt: skip
    moe = XTimeDetector(**params).fit(X_train)
    single_steps = params.get("steps_expert", 300) * moe.n_experts_
    single = XTimeDetector(
        **{**params, "levels": (), "steps_expert": single_steps, "gate_holdout": 0.0}
    ).fit(X_train)  # all rows for its one expert: nothing to route, no held-out blocks
    rows = []
    for name, det in (("xtime_moe", moe), ("single_forecaster", single)):
        row = {"setting": setting, "model": name, "horizon": horizon,
               **evaluate(det, X_train, tests, horizon, moe)}  # fmt: skip
        rows.append(row)
        print(f"{setting} {name}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float)
              else f"{k} {v}" for k, v in row.items() if k not in ("setting", "model")),
              file=sys.stderr, flush=True)  # fmt: skip
    return rows


def skab_rows(params: dict[str, Any], horizon: int, quick: bool) -> list[dict[str, Any]]:
    runs_ = [
        (s.path.stem, *read_skab(s.path)) for s in list_datasets() if s.group == "skab"
    ]  # valve1 runs in numeric order
    half = len(runs_) // 2
    folds = [(runs_[:half], runs_[half:]), (runs_[half:], runs_[:half])]
    rows = []
    for i, (fit_runs, test_runs) in enumerate(folds[:1] if quick else folds):
        X_train = np.concatenate([X for _, X, _ in fit_runs])  # labels never used here
        rows += compare(f"skab_valve1_fold{i}", X_train, test_runs, params, horizon)
    return rows


def demo_rows(
    params: dict[str, Any], horizon: int, train_days: float, test_days: float, quick: bool
) -> list[dict[str, Any]]:
    from app.demo import DEMO_LINES, generate_history

    start = datetime(2026, 1, 5, tzinfo=UTC)
    rows = []
    for line in DEMO_LINES[:1] if quick else DEMO_LINES:
        hist = generate_history(line, start, train_days, seed=0)
        test = generate_history(line, start + timedelta(days=train_days), test_days, seed=0)
        cols = list(line.feature_columns)
        X_train = hist.frame[cols].to_numpy(np.float64)
        X_test = test.frame[cols].to_numpy(np.float64)
        y = test.truth["is_anomaly"].to_numpy().astype(int)
        rows += compare(f"demo_{line.name}", X_train, [(line.name, X_test, y)], params, horizon)
    return rows


def summarize(rows: list[dict[str, Any]]) -> str:
    header = ["setting", "model", "MSE rarest level (n rows)", "MSE all",
              "crossings warned", "crossing alarm precision", "faults warned / events",
              "faults detected / events", "fault alarm precision", "point ROC-AUC",
              "fit s"]  # fmt: skip
    return markdown_table(
        header,
        (
            [
                r["setting"],
                r["model"],
                f"{r['mse_rarest']:.4g} ({r['n_rarest']})",
                f"{r['mse_all']:.4g}",
                f"{r['x_warned']} / {r['crossings']}",
                f"{r['x_precision']:.2f} ({r['x_true_alarms']}/{r['x_alarms']})",
                f"{r['warned']} / {r['events']}",
                f"{r['detected']} / {r['events']}",
                f"{r['precision']:.2f} ({r['true_alarms']}/{r['alarms']})",
                f"{r['point_auc']:.3f}",
                f"{r['fit_s']:.0f}",
            ]  # fmt: skip
            for r in rows
        ),
    )


def main(argv: list[str] | None = None) -> int:
    ap = bench_parser(__doc__, "fewer steps, SKAB runs 0-3, one line")
    ap.add_argument("--horizon", type=int, default=30, help="early-warning horizon H (rows)")
    ap.add_argument("--train-days", type=float, default=14.0)
    ap.add_argument("--test-days", type=float, default=7.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="", help="write the raw rows here")
    ap.add_argument("--params", default="{}", help="JSON overrides of the detector's defaults")
    args = ap.parse_args(argv)
    params: dict[str, Any] = {"random_state": args.seed, "risk_horizon": args.horizon}
    if args.quick:
        params.update(steps_expert=150, steps_gate=250)
        args.train_days, args.test_days = min(args.train_days, 7.0), min(args.test_days, 3.0)
    params.update(json.loads(args.params))
    rows: list[dict[str, Any]] = []
    root = data_root()
    if (root / "skab" / "valve1").is_dir():
        rows += skab_rows(params, args.horizon, args.quick)
    else:
        print(f"SKAB not found under {root}; set KDMON_SHARED_DATA. Skipping SKAB.")
    rows += demo_rows(params, args.horizon, args.train_days, args.test_days, args.quick)
    print(f"python -m benchmarks.xtime_bench {' '.join(sys.argv[1:] if argv is None else argv)}")
    print(f"{run_stamp()} seed {args.seed}")
    print(summarize(rows))
    dump_rows(args.json, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
