"""Fed-PSE benchmark: per-client ROC-AUC of PSE vs local-only vs FedAvg (and FedAvg + fine-tune).

    python -m benchmarks.pse_bench [--quick] [--json out.json]

Settings (labels only for evaluation, never in ``fit_federated``):

- ADBench: each set is partitioned into ``--clients`` clients by a Dirichlet(``--alpha``) draw
  over 8 k-means clusters (methods.md §5.3; clients re-drawn until each has >= 40 rows); each
  client splits its own rows 60/40 (stratified when it can) and never shares them.
- demo plant: the same line simulated as ``--clients`` plants (seeds 0..k-1) with skewed
  history lengths (1 to 10 days), each tested on the 3 days that follow.

Every mode runs the same ``FedPSEDetector`` code path and budget (``rounds`` x ``local_steps``
etc.); per client ROC-AUC on its own test rows (clients whose test part has one class are
skipped), then the macro mean and the worst client. ``--quick``: seed 0, three ADBench sets,
one demo line. Skips ADBench cleanly without the shared data.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from benchmarks.common import bench_parser, dump_rows, markdown_table, run_stamp, seeds_for
from benchmarks.datasets import data_root, list_datasets, load
from detectors.pse import FedPSEDetector

MODES = ("pse", "local", "fedavg", "fedavg_ft")
QUICK_SETS = ("6_cardio", "38_thyroid", "12_fault")


def dirichlet_clients(
    X: np.ndarray, n_clients: int, alpha: float, seed: int, min_rows: int = 40
) -> list[np.ndarray]:
    """Row indices per client: Dirichlet(alpha) shares of each k-means cluster (no labels)."""
    rng = np.random.default_rng(seed)
    clusters = KMeans(8, n_init=3, random_state=seed).fit_predict(X)
    for _ in range(200):
        parts: list[list[int]] = [[] for _ in range(n_clients)]
        for c in np.unique(clusters):
            idx = rng.permutation(np.flatnonzero(clusters == c))
            cuts = np.cumsum(rng.dirichlet(alpha * np.ones(n_clients)))[:-1] * len(idx)
            for k, chunk in enumerate(np.split(idx, cuts.astype(int))):
                parts[k] += chunk.tolist()
        if min(len(p) for p in parts) >= min_rows:
            return [np.sort(np.asarray(p)) for p in parts]
    raise RuntimeError(f"no Dirichlet partition with >= {min_rows} rows per client")


def split_client(
    X: np.ndarray, y: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    strat = y if np.bincount(y, minlength=2).min() >= 2 else None
    return train_test_split(X, y, train_size=0.6, stratify=strat, random_state=seed)


def run_federation(
    setting: str, seed: int, train: dict[str, np.ndarray],
    test: dict[str, tuple[np.ndarray, np.ndarray]], params: dict[str, Any],
) -> list[dict[str, Any]]:  # fmt: skip
    rows = []
    for mode in MODES:
        det = FedPSEDetector(mode=mode, random_state=seed, **params).fit_federated(train)
        aucs = {
            k: float(roc_auc_score(y, det.decision_function(X, client=k)))
            for k, (X, y) in test.items()
            if 0 < y.mean() < 1
        }
        vals = np.array(list(aucs.values()))
        row = {"setting": setting, "seed": seed, "mode": mode, "per_client": aucs,
               "macro": float(vals.mean()) if len(vals) else float("nan"),
               "worst": float(vals.min()) if len(vals) else float("nan"),
               "n_clients_scored": len(vals), "fit_s": det.fit_seconds_}  # fmt: skip
        rows.append(row)
        print(
            f"{setting} s{seed} {mode}: macro {row['macro']:.3f} worst {row['worst']:.3f} "
            f"({len(vals)} clients) {det.fit_seconds_:.0f}s",
            file=sys.stderr,
            flush=True,
        )
    return rows


def adbench_rows(args: argparse.Namespace, params: dict[str, Any]) -> list[dict[str, Any]]:
    specs = [s for s in list_datasets(data_root()) if s.group == "adbench"]
    if args.quick:
        specs = [s for s in specs if s.name in QUICK_SETS]
    rows = []
    for spec in specs:
        X, y = load(spec)
        for seed in args.seeds:
            parts = dirichlet_clients(X, args.clients, args.alpha, seed)
            train, test = {}, {}
            for k, idx in enumerate(parts):
                Xtr, Xte, _, yte = split_client(X[idx], y[idx], seed)
                train[f"client{k}"], test[f"client{k}"] = Xtr, (Xte, yte)
            rows += run_federation(spec.name, seed, train, test, params)
    return rows


def demo_rows(args: argparse.Namespace, params: dict[str, Any]) -> list[dict[str, Any]]:
    from app.demo import DEMO_LINES, generate_history

    start = datetime(2026, 1, 5, tzinfo=UTC)
    days = np.linspace(1, 10, args.clients).round().astype(int)
    rows = []
    for line in DEMO_LINES[:1] if args.quick else DEMO_LINES:
        cols = list(line.feature_columns)
        train, test = {}, {}
        for k, d in enumerate(days):
            hist = generate_history(line, start, float(d), seed=k)
            nxt = generate_history(line, start + timedelta(days=int(d)), 3.0, seed=k)
            train[f"plant{k}"] = hist.frame[cols].to_numpy(np.float64)
            test[f"plant{k}"] = (
                nxt.frame[cols].to_numpy(np.float64),
                nxt.truth["is_anomaly"].to_numpy().astype(int),
            )
        for seed in args.seeds[:1]:
            rows += run_federation(f"demo_{line.name}", seed, train, test, params)
    return rows


def summarize(rows: list[dict[str, Any]]) -> str:
    def cell(rs: list[dict[str, Any]]) -> str:
        return f"{np.mean([r['macro'] for r in rs]):.3f} / {np.mean([r['worst'] for r in rs]):.3f}"

    table = [
        [s, *(cell([r for r in rows if r["setting"] == s and r["mode"] == m]) for m in MODES)]
        for s in dict.fromkeys(r["setting"] for r in rows)
    ]
    table.append(["**mean**", *(cell([r for r in rows if r["mode"] == m]) for m in MODES)])
    return markdown_table(["setting", *(f"{m} macro / worst" for m in MODES)], table)


def main(argv: list[str] | None = None) -> int:
    ap = bench_parser(__doc__, "seed 0, three ADBench sets, one line")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=0.3)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--json", default="", help="write the raw rows here")
    args = ap.parse_args(argv)
    args.seeds = seeds_for(args.quick)
    params = {"rounds": args.rounds}
    rows: list[dict[str, Any]] = []
    if (data_root() / "adbench").is_dir():
        rows += adbench_rows(args, params)
    else:
        print(f"ADBench not found under {data_root()}; set KDMON_SHARED_DATA. Skipping ADBench.")
    rows += demo_rows(args, params)
    print(f"python -m benchmarks.pse_bench{' --quick' if args.quick else ''}")
    print(f"{run_stamp()} seeds {args.seeds} "
          f"clients {args.clients} alpha {args.alpha} rounds {args.rounds}")  # fmt: skip
    print(summarize(rows))
    dump_rows(args.json, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
