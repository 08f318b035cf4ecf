"""The detector registry, persistence and explanations as the app uses them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detectors import (
    available_detectors,
    create_detector,
    detector_checksum,
    explain,
    load_detector,
    save_detector,
)

BASELINES = [
    "iforest", "ecod", "copod", "hbos", "knn", "lof", "pca", "ocsvm", "inne", "dif",
    "autoencoder", "deepsvdd",
]  # fmt: skip
CHEAP = {
    "dif": {"n_ensemble": 5},
    "autoencoder": {"epoch_num": 2},
    "deepsvdd": {"epochs": 2},
    "stkd": {"steps": (40, 60, 40), "shards": 1, "rounds": 1},
}


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    X[:15] += 6.0
    return X


def test_available_detectors_lists_stkd_and_every_baseline():
    names = available_detectors()
    assert names[0] == "stkd"
    assert set(BASELINES) <= set(names)
    assert len(names) == len(set(names))


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="iforest") as err:
        create_detector("nope")
    assert "stkd" in str(err.value)


def test_unknown_parameter_is_rejected():
    with pytest.raises(ValueError, match="n_trees"):
        create_detector("iforest", n_trees=3)


def test_defaults_are_seeded_where_supported():
    for name in ["stkd", "iforest", "pca", "inne", "dif", "autoencoder", "deepsvdd"]:
        assert create_detector(name).get_params()["random_state"] == 0


@pytest.mark.parametrize("name", ["stkd", *BASELINES])
def test_every_detector_honours_the_pyod_contract(name, X):
    det = create_detector(name, contamination=0.05, **CHEAP.get(name, {}))
    assert det.fit(X) is det
    assert det.decision_scores_.shape == (len(X),)
    assert set(np.unique(det.labels_)) <= {0, 1}
    scores = det.decision_function(X[:20])
    assert scores.shape == (20,)
    assert det.predict(X[:20]).shape == (20,)
    # the planted anomalies (first 15 rows) must outrank the bulk
    assert np.mean(det.decision_scores_[:15]) > np.median(det.decision_scores_[15:])
    contrib = explain(det, X[:10])
    assert contrib.shape == (10, X.shape[1])
    assert np.all(contrib >= 0)


@pytest.mark.parametrize("name", ["iforest", "ecod"])
def test_baseline_fit_ignores_y(name, X):
    y = np.zeros(len(X), dtype=int)
    y[:15] = 1
    a = create_detector(name).fit(X).decision_scores_
    b = create_detector(name).fit(X, y).decision_scores_
    np.testing.assert_array_equal(a, b)


def test_fallback_explanation_finds_the_deviating_feature(X):
    det = create_detector("iforest").fit(X)
    probe = np.zeros((3, X.shape[1]))
    probe[:, 2] = 9.0
    contrib = explain(det, probe)
    assert (contrib.argmax(axis=1) == 2).all()
    np.testing.assert_allclose(contrib.sum(axis=1), 1.0)


@pytest.mark.parametrize("name", ["stkd", "iforest", "knn"])
def test_save_load_gives_identical_scores(name, X, tmp_path: Path):
    det = create_detector(name, **CHEAP.get(name, {})).fit(X)
    save_detector(det, tmp_path / name)
    digest = detector_checksum(tmp_path / name)
    loaded = load_detector(tmp_path / name, expected_sha256=digest)
    np.testing.assert_array_equal(loaded.decision_function(X), det.decision_function(X))
    assert loaded.threshold_ == det.threshold_


def test_load_refuses_an_unexpected_checksum(X, tmp_path: Path):
    det = create_detector("iforest").fit(X)
    save_detector(det, tmp_path / "m")
    with pytest.raises(ValueError, match="checksum"):
        load_detector(tmp_path / "m", expected_sha256="0" * 64)


def test_unfitted_detector_cannot_be_saved(tmp_path: Path):
    with pytest.raises(ValueError, match="fitted"):
        save_detector(create_detector("ecod"), tmp_path / "m")


def test_baselines_leave_confirmed_anomalies_out_of_training(X):
    confirmed = np.zeros(len(X), dtype=bool)
    confirmed[:15] = True
    det = create_detector("ecod").fit(X, known_anomaly=confirmed)
    clean = create_detector("ecod").fit(X[~confirmed])
    assert det.decision_scores_.shape == (len(X),)
    np.testing.assert_allclose(det.decision_function(X), clean.decision_function(X))


def test_pca_survives_a_column_that_is_constant_in_training():
    """A constant training column used to give PyOD's PCA infinite scores (a constant ranking)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6))
    X[:, 3] = 1.0  # e.g. a sensor stuck at one value throughout the training window
    det = create_detector("pca").fit(X)
    assert det.n_components is None  # the fit-time rank does not overwrite the setting
    assert det.n_components_ == 5
    probe = np.vstack([rng.normal(size=(50, 6)), rng.normal(size=(10, 6)) + 4.0])
    probe[:, 3] = 1.0
    scores = det.decision_function(probe)
    assert np.isfinite(scores).all()
    assert scores[50:].min() > np.median(scores[:50])
