"""Scaling benchmark: fit/score seconds and peak memory at 10k / 100k / 1M rows x 20 features.

Each (detector, n) runs in a fresh subprocess so peak memory is that detector's alone. Memory is
the process's peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``), which
covers numpy, torch and everything else; we also report the RSS right after imports so the
interpreter + library share is visible and can be subtracted. Data is synthetic (float32
Gaussian with 5 % shifted rows), generated inside the worker.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np

SIZES = (10_000, 100_000, 1_000_000)
DETECTORS = ("stkd", "iforest", "ecod")
WINDOWS_SIZES = (10_000, 100_000)
"""The windows view (a time-ordered line) is timed at these sizes only: its fit is a fixed
step budget through a conv net plus passes over every window, minutes at 1M rows."""
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {"stkd-windows": ("stkd", {"view": "windows"})}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def worker(name: str, n: int, d: int = 20, seed: int = 0) -> dict[str, Any]:
    """Runs inside the subprocess: import, generate, fit, score, report."""
    from detectors import create_detector

    base_mb = _rss_mb()
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d), dtype=np.float32)
    X[: n // 20] += 3.0
    registry_name, params = VARIANTS.get(name, (name, {}))
    det = create_detector(registry_name, **params)
    t0 = time.perf_counter()
    det.fit(X)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    det.decision_function(X)
    score_s = time.perf_counter() - t0
    return {
        "detector": name,
        "n": n,
        "d": d,
        "fit_s": fit_s,
        "score_s": score_s,
        "peak_rss_mb": _rss_mb(),
        "after_import_rss_mb": base_mb,
    }


def run_one(name: str, n: int, timeout: float = 1800) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.scale", "--worker", name, str(n)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"scale worker {name} n={n} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_scale(sizes: tuple[int, ...] = SIZES, detectors: tuple[str, ...] = DETECTORS):
    rows = []
    for n in sizes:
        for name in (*detectors, *(["stkd-windows"] if n in WINDOWS_SIZES else [])):
            row = run_one(name, n)
            rows.append(row)
            print(
                f"  scale {name:12s} n={n:>9,d} fit {row['fit_s']:7.2f}s score "
                f"{row['score_s']:7.2f}s peak {row['peak_rss_mb']:7.0f} MB",
                flush=True,
            )
    return rows


def scale_table(rows: list[dict[str, Any]]) -> str:
    by = {(r["detector"], r["n"]): r for r in rows}
    lines = [
        "| n x 20 | detector | fit s | score s | peak RSS MB | RSS after imports MB "
        "| fit / IForest | score / IForest |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        ref = by.get(("iforest", r["n"]))
        fr = r["fit_s"] / ref["fit_s"] if ref else float("nan")
        sr = r["score_s"] / ref["score_s"] if ref else float("nan")
        lines.append(
            f"| {r['n']:,} | {r['detector']} | {r['fit_s']:.2f} | {r['score_s']:.2f} "
            f"| {r['peak_rss_mb']:.0f} | {r['after_import_rss_mb']:.0f} | {fr:.2f} | {sr:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], int(sys.argv[3]))))
    else:
        print(scale_table(run_scale()))
