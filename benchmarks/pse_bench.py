"""Fed-PSE benchmark: per-client ROC-AUC of PSE vs local-only vs FedAvg (and FedAvg + fine-tune).

    python -m benchmarks.pse_bench [--quick] [--only SETS] [--seeds 0,1,2] [--json out.json]
    python -m benchmarks.pse_bench --summarize a.json,b.json   # joint table of split runs

Settings (labels only for evaluation, never in ``fit_federated``):

- ADBench: each set is partitioned into ``--clients`` clients by a Dirichlet(``--alpha``) draw
  over 8 k-means clusters (methods.md §5.3; clients re-drawn until each has >= 40 rows); each
  client splits its own rows 60/40 (stratified when it can) and never shares them.
- demo plant: the same line simulated as ``--clients`` plants (seeds 0..k-1) with skewed
  history lengths (1 to 10 days), each tested on the 3 days that follow; the plants are fixed,
  the seed draws the models.

Every mode runs the same ``FedPSEDetector`` code path and budget (``rounds`` x ``local_steps``
etc.); per client ROC-AUC on its own test rows (clients whose test part has one class are
skipped), then the macro mean and the worst client, and PSE's gain over each baseline.
``--quick``: seed 0, three ADBench sets, one demo line. ``--only`` names settings (ADBench
names, ``demo_<line>``) so a run can be split over processes. Skips ADBench cleanly without
the shared data.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from benchmarks.common import (
    bench_parser,
    dump_rows,
    load_run_rows,
    markdown_table,
    run_stamp,
    seeds_for,
)
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
    if args.only:
        specs = [s for s in specs if s.name in args.only]
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
    lines = DEMO_LINES[:1] if args.quick else DEMO_LINES
    if args.only:
        lines = [line for line in lines if f"demo_{line.name}" in args.only]
    for line in lines:
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
        for seed in args.seeds:  # plants are fixed; the seed draws the models
            rows += run_federation(f"demo_{line.name}", seed, train, test, params)
    return rows


LOG_LINE = re.compile(
    r"^(?P<setting>\S+) s(?P<seed>\d+) (?P<mode>\w+): macro (?P<macro>[\d.na]+) "
    r"worst (?P<worst>[\d.na]+) \((?P<n>\d+) clients\) (?P<fit>[\d.]+)s$"
)


def row_from_log(line: str) -> dict[str, Any] | None:
    """A progress line (one finished mode) as a row; per-client AUCs are not in it."""
    m = LOG_LINE.match(line.strip())
    if m is None:
        return None
    return {"setting": m["setting"], "seed": int(m["seed"]), "mode": m["mode"],
            "per_client": {}, "macro": float(m["macro"]), "worst": float(m["worst"]),
            "n_clients_scored": int(m["n"]), "fit_s": float(m["fit"])}  # fmt: skip


def summarize(rows: list[dict[str, Any]]) -> str:
    def cell(rs: list[dict[str, Any]]) -> str:
        if not rs:
            return "-"
        seeds = f" (n={len(rs)})" if len(rs) != 3 else ""
        macro, worst = np.mean([r["macro"] for r in rs]), np.mean([r["worst"] for r in rs])
        return f"{macro:.3f} / {worst:.3f}{seeds}"

    table = [
        [s, *(cell([r for r in rows if r["setting"] == s and r["mode"] == m]) for m in MODES)]
        for s in dict.fromkeys(r["setting"] for r in rows)
    ]
    modes_of: dict[tuple[str, int], set[str]] = {}
    for r in rows:
        modes_of.setdefault((r["setting"], r["seed"]), set()).add(r["mode"])
    complete = {k for k, v in modes_of.items() if v == set(MODES)}
    done = [r for r in rows if (r["setting"], r["seed"]) in complete]
    table.append([f"**mean of {len(complete)} complete cells**",
                  *(cell([r for r in done if r["mode"] == m]) for m in MODES)])  # fmt: skip
    out = markdown_table(["setting", *(f"{m} macro / worst" for m in MODES)], table)
    return out + "\n\n" + gains(rows)


def gains(rows: list[dict[str, Any]]) -> str:
    """PSE minus each baseline, macro and worst client, with the (setting, seed) cells won."""
    lines = []
    for base in MODES[1:]:
        dm, dw, won = [], [], 0
        for r in (r for r in rows if r["mode"] == "pse"):
            b = next((x for x in rows if x["mode"] == base and x["setting"] == r["setting"]
                      and x["seed"] == r["seed"]), None)  # fmt: skip
            if b is None:  # an unfinished run: compare only complete cells
                continue
            dm.append(r["macro"] - b["macro"])
            dw.append(r["worst"] - b["worst"])
            won += r["macro"] > b["macro"]
        lines.append([f"pse - {base}", f"{np.mean(dm):+.3f}", f"{np.mean(dw):+.3f}",
                      f"{won}/{len(dm)}"])  # fmt: skip
    return markdown_table(["gain", "macro", "worst client", "cells with higher macro"], lines)


def main(argv: list[str] | None = None) -> int:
    ap = bench_parser(__doc__, "seed 0, three ADBench sets, one line")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=0.3)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--only", default="", help="comma-separated settings (e.g. 6_cardio,"
                    "demo_pump-line-a); default all")  # fmt: skip
    ap.add_argument("--seeds", default="", help="comma-separated seeds (default 0,1,2)")
    ap.add_argument("--json", default="", help="write the raw rows here")
    ap.add_argument("--summarize", default="", help="comma-separated --json files of earlier "
                    "(e.g. parallel) runs: print their joint summary and exit")  # fmt: skip
    args = ap.parse_args(argv)
    if args.summarize:
        paths = args.summarize.split(",")
        print(summarize(load_run_rows(paths, ("setting", "seed", "mode"), row_from_log)))
        return 0
    args.seeds = (
        tuple(int(s) for s in args.seeds.split(",")) if args.seeds else seeds_for(args.quick)
    )
    args.only = set(filter(None, args.only.split(",")))
    params = {"rounds": args.rounds}
    rows: list[dict[str, Any]] = []
    if (data_root() / "adbench").is_dir():
        rows += adbench_rows(args, params)
    else:
        print(f"ADBench not found under {data_root()}; set KDMON_SHARED_DATA. Skipping ADBench.")
    rows += demo_rows(args, params)
    print("python -m benchmarks.pse_bench " + " ".join(argv if argv is not None else sys.argv[1:]))
    print(f"{run_stamp()} seeds {args.seeds} "
          f"clients {args.clients} alpha {args.alpha} rounds {args.rounds}")  # fmt: skip
    print(summarize(rows))
    dump_rows(args.json, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
