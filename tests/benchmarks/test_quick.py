"""The quick benchmark runs end to end on real data and STKD beats the median baseline."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.datasets import data_root, list_datasets
from benchmarks.report import group_summary

pytestmark = [pytest.mark.slow, pytest.mark.data]


def test_quick_benchmark_stkd_beats_the_median_baseline():
    if not list_datasets(data_root()):
        pytest.skip(f"shared benchmark data not found at {data_root()}")
    from benchmarks.run import main

    out = main(["--quick", "--no-docs", "--jobs", "2"])
    results = out["results"]
    assert {r["mode"] for r in results} == {"inductive"}
    assert all(np.isfinite(r["roc_auc"]) for r in results)
    # mean ROC-AUC over the quick datasets, per detector
    per_det: dict[str, list[float]] = {}
    for group in group_summary(results).values():
        for det, m in group.items():
            per_det.setdefault(det, []).append(m["roc_auc"])
    means = {det: float(np.mean(v)) for det, v in per_det.items()}
    baselines = [v for det, v in means.items() if det != "stkd"]
    assert len(baselines) >= 10
    assert means["stkd"] > float(np.median(baselines)), means
