"""Behaviour of MixKDDetector: the fusion weight follows the noise, false alarms stay bounded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file, save_file

from detectors.mix_kd import MixKDDetector
from detectors.mix_kd.noise import apply_regime

FAST = {"steps": (500, 400), "lr": 3e-3, "n_threads": 1, "fusion_batch": 200}


def sensors(n: int, seed: int) -> np.ndarray:
    """Eight correlated channels driven by two latent factors (redundancy a denoiser can use)."""
    rng = np.random.default_rng(seed)
    mix = np.random.default_rng(42).standard_normal((2, 8))
    return rng.standard_normal((n, 2)) @ mix + 0.1 * rng.standard_normal((n, 8))


@pytest.fixture(scope="module")
def fitted() -> MixKDDetector:
    return MixKDDetector(random_state=0, **FAST).fit(sensors(800, 0))


def test_clean_batches_keep_the_clean_student(fitted: MixKDDetector) -> None:
    X = sensors(400, 1)
    scores = fitted.decision_function(X)
    assert fitted.last_fusion_weight_ == 1.0
    np.testing.assert_allclose(scores, fitted.score_at(X, 1.0))


def test_fusion_weight_moves_to_the_noisy_student_as_noise_grows(fitted: MixKDDetector) -> None:
    X = sensors(400, 2)
    weights = []
    for sd in (0.0, 0.3, 0.8):
        fitted.decision_function(apply_regime(X, "jitter", sd, np.random.default_rng(3)))
        weights.append(float(np.mean(fitted.last_fusion_weights_)))
    assert weights[0] >= weights[1] >= weights[2]
    assert weights[0] - weights[2] >= 0.5


def test_false_alarms_under_noise_are_not_above_the_clean_students(fitted: MixKDDetector) -> None:
    X = sensors(400, 4)
    for regime, level in (("jitter", 0.8), ("drift", 2.0)):
        Xn = apply_regime(X, regime, level, np.random.default_rng(5))
        far_fused = (fitted.decision_function(Xn) > fitted.threshold_).mean()
        far_clean = (fitted.score_at(Xn, 1.0) > fitted.threshold_at(1.0)).mean()
        assert far_fused <= far_clean, regime
    assert far_clean > 0.2  # the regime really is hard for the clean student


def test_planted_anomalies_score_high_and_labels_are_ignored() -> None:
    X = sensors(300, 6)
    X[:8] += np.random.default_rng(7).choice([-6.0, 6.0], size=(8, 8))
    y = np.random.default_rng(8).integers(0, 2, len(X))
    small = {**FAST, "steps": (150, 100)}
    a = MixKDDetector(random_state=1, **small).fit(X)
    b = MixKDDetector(random_state=1, **small).fit(X, y)
    np.testing.assert_array_equal(a.decision_scores_, b.decision_scores_)
    assert a.decision_scores_[:8].min() > np.quantile(a.decision_scores_[8:], 0.9)
    assert a.labels_.shape == (len(X),)


def test_round_trip_through_json_and_safetensors(fitted: MixKDDetector, tmp_path: Path) -> None:
    X = apply_regime(sensors(300, 9), "dropout", 0.2, np.random.default_rng(0))
    meta, tensors = fitted.kdmon_state()
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    save_file(tensors, str(tmp_path / "t.safetensors"))
    back = MixKDDetector.from_kdmon_state(
        json.loads((tmp_path / "meta.json").read_text()), load_file(str(tmp_path / "t.safetensors"))
    )
    np.testing.assert_array_equal(back.decision_function(X), fitted.decision_function(X))
    assert back.last_fusion_weights_ == fitted.last_fusion_weights_
    assert back.threshold_ == fitted.threshold_


def test_explain_returns_row_shares(fitted: MixKDDetector) -> None:
    shares = fitted.explain(sensors(20, 10))
    assert shares.shape == (20, 8)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    assert (shares >= 0).all()


def test_every_weight_shares_the_clean_data_threshold(fitted: MixKDDetector) -> None:
    """Scores at any weight are shifted so that the clean training rows cross the common
    threshold at the contamination rate: a batch moved to the noisy student is judged at that
    student's own clean-data false-alarm rate, not the clean student's."""
    n = fitted.train_scores_.shape[1]
    assert len(set(fitted.weight_thresholds_)) == 1
    assert fitted.threshold_ == fitted.weight_thresholds_[-1]
    for scores in fitted.train_scores_:
        assert (scores > fitted.threshold_).mean() == pytest.approx(0.1, abs=2 / n)


def test_a_move_that_makes_the_batch_look_less_typical_is_undone(fitted: MixKDDetector) -> None:
    fb = fitted.fusion_batch
    choice = np.r_[np.zeros(fb, dtype=int), np.zeros(fb, dtype=int)]  # both batches at lambda 0
    base = len(fitted.grid_) - 1

    def z_at(g: int, rows: np.ndarray) -> np.ndarray:
        first = rows[0] < fb  # batch 1: worse at lambda 0; batch 2: better
        return np.full(len(rows), (2.0 if first else -1.0) if g == 0 else 0.0)

    out = fitted._guard(choice, z_at)
    assert (out[:fb] == base).all()
    assert (out[fb:] == 0).all()
