"""Behaviour of the xTime detector on small synthetic sensor series."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from sklearn.base import clone

from detectors.xtime import XTimeDetector
from detectors.xtime.detector import _expert_budgets
from detectors.xtime.features import holdout_blocks

FAST = {"steps_expert": 150, "steps_gate": 250, "hidden": (64, 32), "random_state": 0}


def extreme_series(
    n: int = 2000, n_events: int = 8, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """4 sensors: two oscillations, two AR(1) noise channels; sensor 2 has extreme excursions
    preceded by a 25-step ramp (the "intermediate events" xTime learns from)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    X = np.stack(
        [np.sin(2 * np.pi * t / 50), np.cos(2 * np.pi * t / 80), np.zeros(n), np.zeros(n)], 1
    )
    eps = rng.normal(0, 0.3, (n, 4))
    noise = np.zeros((n, 4))
    for i in range(1, n):
        noise[i] = 0.8 * noise[i - 1] + eps[i]
    X = X + noise
    gaps = np.linspace(150, n - 150, n_events).astype(int)
    starts = gaps + rng.integers(-20, 20, n_events)
    for s in starts:
        X[s - 25 : s, 2] += np.linspace(0.0, 2.0, 25)
        X[s : s + 8, 2] += 6.0
    return X, starts


@pytest.fixture(scope="module")
def fitted() -> tuple[XTimeDetector, np.ndarray, np.ndarray]:
    X, starts = extreme_series()
    return XTimeDetector(**FAST).fit(X), X, starts


def _mask(n: int, starts: np.ndarray, lo: int, hi: int) -> np.ndarray:
    m = np.zeros(n, dtype=bool)
    for s in starts:
        m[max(0, s + lo) : max(0, s + hi)] = True
    return m


def test_gate_routes_to_the_rarest_expert_near_extremes(fitted) -> None:
    det, X, starts = fitted
    g = det.gate_weights(X)
    assert g.shape == (len(X), 5)
    np.testing.assert_allclose(g.sum(axis=1), 1.0, atol=1e-5)
    near = _mask(len(X), starts, -5, 8)
    assert g[near, -1].mean() > 2.0 * g[~near, -1].mean()


def test_extreme_risk_rises_before_an_excursion(fitted) -> None:
    det, X, starts = fitted
    risk = det.extreme_risk(X, horizon=10)
    assert risk.shape == (len(X),)
    assert np.all((risk >= 0) & (risk <= 1))
    before = _mask(len(X), starts, -10, 0)
    far = ~_mask(len(X), starts, -60, 40)
    assert risk[before].mean() > 1.5 * risk[far].mean()
    rises = [risk[s - 3] > risk[s - 50] for s in starts]
    assert np.mean(rises) >= 0.75


def test_extreme_risk_grows_with_the_horizon(fitted) -> None:
    det, X, _ = fitted
    short = det.extreme_risk(X[:300], horizon=1)
    long = det.extreme_risk(X[:300], horizon=60)  # beyond the hazard head: extrapolated
    assert np.all(long >= short - 1e-9)


def test_unexpected_spike_scores_high_and_is_explained(fitted) -> None:
    det, X, _ = fitted
    Xt = X[:400].copy()
    Xt[200, 1] += 8.0  # sensor 1 never has excursions in training
    s = det.decision_function(Xt)
    assert s[200] > np.percentile(np.delete(s, range(200, 202)), 99)
    shares = det.explain(Xt)
    assert shares.shape == Xt.shape
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, atol=1e-6)
    assert shares[200].argmax() == 1


def test_scores_any_number_of_rows_and_uses_context(fitted) -> None:
    det, X, _ = fitted
    for n in (1, 2, 7):
        assert det.decision_function(X[100 : 100 + n]).shape == (n,)
        assert det.extreme_risk(X[100 : 100 + n], horizon=5).shape == (n,)
    with_ctx = det.decision_function(X[100:104], context=X[:100])
    np.testing.assert_allclose(with_ctx, det.decision_function(X[:104])[100:], atol=1e-6)


def test_pyod_contract(fitted) -> None:
    det, X, _ = fitted
    assert det.decision_scores_.shape == (len(X),)
    assert det.labels_.mean() == pytest.approx(det.contamination, abs=0.01)
    assert set(np.unique(det.predict(X[:50]))) <= {0, 1}
    fresh = clone(det)
    assert not hasattr(fresh, "model_")
    with pytest.raises(RuntimeError):
        fresh.decision_function(X[:5])
    with pytest.raises(ValueError, match="sensors"):
        det.decision_function(X[:5, :3])


def test_labels_are_ignored_and_fit_is_reproducible() -> None:
    X, _ = extreme_series(n=600, n_events=3, seed=1)
    params = {**FAST, "steps_expert": 30, "steps_gate": 30, "levels": (0.9, 0.99)}
    a = XTimeDetector(**params).fit(X).decision_scores_
    b = XTimeDetector(**params).fit(X, y=np.ones(len(X))).decision_scores_
    np.testing.assert_allclose(a, b)


def test_single_forecaster_baseline_has_one_expert() -> None:
    X, _ = extreme_series(n=400, n_events=2, seed=2)
    det = XTimeDetector(**{**FAST, "steps_expert": 30, "steps_gate": 30, "levels": ()}).fit(X)
    assert det.gate_weights(X[:10]).shape == (10, 1)
    assert det.forecast(X[:10], expert=0).shape == (10, 4)


def test_e0_is_the_equal_budget_single_forecaster_and_rare_experts_are_heads() -> None:
    X, _ = extreme_series(n=800, n_events=4, seed=4)
    params = {**FAST, "steps_expert": 40, "steps_gate": 20, "levels": (0.9, 0.99)}
    moe = XTimeDetector(**params).fit(X)
    single = XTimeDetector(**{**params, "levels": (), "steps_expert": 120, "gate_holdout": 0.0})
    single.fit(X)
    # the mixture's common expert *is* the single forecaster of the same total budget ...
    np.testing.assert_allclose(moe.forecast(X, expert=0), single.forecast(X, expert=0), atol=1e-5)
    # ... and the rare experts only re-learn the output layer on its frozen features
    bodies = [dict(e.body.named_parameters()) for e in moe.model_.experts]
    for k in (1, 2):
        for name, p in bodies[k].items():
            assert torch.equal(p, bodies[0][name])
        assert not np.allclose(moe.forecast(X, expert=k), moe.forecast(X, expert=0))
    stages = {t["stage"]: t for t in moe.training_trace_}
    assert stages["expert0"]["steps"] == 120 and not stages["expert0"]["head_only"]
    assert stages["expert2"]["head_only"]
    assert _expert_budgets(100, 5, 0.8) == [400, 25, 25, 25, 25]  # rare_mode="full"
    assert _expert_budgets(100, 5, 1.0, heads=True) == [500, 100, 100, 100, 100]


def test_gate_routes_on_blocks_the_experts_never_fitted(fitted) -> None:
    det, X, _ = fitted
    held = holdout_blocks(len(X), det.gate_holdout, 128)
    assert 0.15 < held.mean() < 0.25
    assert held[: len(X) // 3].any() and held[-len(X) // 3 :].any()  # spread over the series
    by_stage = {t["stage"]: t for t in det.training_trace_}
    assert by_stage["expert1"]["rows"] + by_stage["gate"]["route_rows"] == len(X)
    assert by_stage["expert0"]["rows"] == len(X)  # like the single forecaster it is compared to
    assert not holdout_blocks(len(X), 0.0, 128).any()


def test_output_distillation_keeps_rare_experts_near_their_teacher_on_common_rows() -> None:
    X, _ = extreme_series(n=1200, n_events=6, seed=3)
    params = {**FAST, "steps_expert": 60, "steps_gate": 20, "levels": (0.9, 0.99)}
    gaps = []
    for kd in (0.0, 3.0):
        det = XTimeDetector(**{**params, "kd_output": kd}).fit(X)
        common = det.rarity_level(X) == 0
        rare_vs_teacher = det.forecast(X, expert=2) - det.forecast(X, expert=1)
        gaps.append(np.abs(rare_vs_teacher[common]).mean())
    assert gaps[1] < 0.7 * gaps[0]


@pytest.mark.slow
def test_mixture_forecasts_fresh_extremes_better_than_an_equal_budget_single_forecaster() -> None:
    """Issue #7's claim where extremes have precursors: train on one run of the process, forecast
    the extremes of another; E_0 of the mixture is the single forecaster, so any gain comes
    from the rarity heads and the gate."""
    X, _ = extreme_series(n=3000, n_events=12, seed=1)
    X_new, _ = extreme_series(n=2000, n_events=8, seed=11)
    moe = XTimeDetector(**{**FAST, "random_state": 1}).fit(X)
    single = XTimeDetector(
        **{**FAST, "random_state": 1, "levels": (), "steps_expert": 5 * FAST["steps_expert"],
           "gate_holdout": 0.0}
    ).fit(X)  # fmt: skip
    ext = moe.is_extreme(X_new)
    assert ext.sum() > 50

    def rare_mse(f: np.ndarray) -> float:
        return float((((X_new - f) / moe.scale_) ** 2).mean(axis=1)[ext].mean())

    assert rare_mse(moe.forecast(X_new)) < 0.98 * rare_mse(single.forecast(X_new))
    assert rare_mse(moe.forecast(X_new, expert=4)) < rare_mse(moe.forecast(X_new, expert=0))


def test_round_trip_through_json_and_safetensors(fitted, tmp_path: Path) -> None:
    det, X, _ = fitted
    meta, tensors = det.kdmon_state()
    (tmp_path / "xtime.json").write_text(json.dumps(meta))
    save_file(tensors, str(tmp_path / "weights.safetensors"))
    back = XTimeDetector.from_kdmon_state(
        json.loads((tmp_path / "xtime.json").read_text()),
        load_file(str(tmp_path / "weights.safetensors")),
    )
    np.testing.assert_array_equal(back.decision_function(X[:300]), det.decision_function(X[:300]))
    np.testing.assert_array_equal(back.extreme_risk(X[:300], 7), det.extreme_risk(X[:300], 7))
    np.testing.assert_array_equal(back.labels_, det.labels_)
    assert back.threshold_ == det.threshold_
    assert all(isinstance(v, torch.Tensor) for v in tensors.values())
    with pytest.raises(ValueError, match="refit"):
        XTimeDetector.from_kdmon_state({**meta, "format": 1}, tensors)
