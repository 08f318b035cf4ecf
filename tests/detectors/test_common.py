"""Behaviour of the KD trainers' shared scaffolding in ``detectors.common``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from detectors import common
from detectors.common import (
    SCALE_CLIP,
    apply_robust_scale,
    check_contamination,
    check_matrix,
    labels_from_scores,
    loadable_device,
    module_tensors,
    prefixed_state,
    resolve_device,
    robust_center_scale,
    robust_location_scale,
    robust_scale,
    row_shares,
    seed_of,
    to_jsonable,
    torch_threads,
)


# ---------------------------------------------------------------------- check_matrix
def test_check_matrix_returns_an_array_of_the_requested_dtype() -> None:
    out = check_matrix([[1, 2], [3, 4]])
    assert out.dtype == np.float64 and out.shape == (2, 2)
    assert check_matrix(np.ones((3, 2)), 2, dtype=np.float32).dtype == np.float32


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.ones(5), r"X must be a 2-D array \(n_samples, n_features\), got shape \(5,\)"),
        (np.ones((2, 2, 2)), r"got shape \(2, 2, 2\)"),
        (np.ones((0, 3)), r"X must have at least one row and one column, got shape \(0, 3\)"),
        (np.ones((3, 0)), r"at least one row and one column"),
    ],
)
def test_check_matrix_rejects_shapes_that_are_not_a_table(X: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_matrix(X)


def test_check_matrix_names_both_feature_counts_in_the_callers_words() -> None:
    with pytest.raises(ValueError, match="X has 3 features, the detector was fitted on 4"):
        check_matrix(np.ones((2, 3)), 4)
    with pytest.raises(ValueError, match="context has 3 sensors, the detector was fitted on 4"):
        check_matrix(np.ones((2, 3)), 4, name="context", columns="sensors")
    with pytest.raises(ValueError, match=r"\(n_rows, n_sensors\) in time order"):
        check_matrix(np.ones(3), layout="(n_rows, n_sensors) in time order")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_check_matrix_rejects_non_finite_values(bad: float) -> None:
    X = np.zeros((3, 2))
    X[1, 1] = bad
    with pytest.raises(ValueError, match="client 'a' contains NaN or infinite values"):
        check_matrix(X, name="client 'a'")


def test_check_contamination_accepts_the_pyod_range_only() -> None:
    check_contamination(0.5)
    check_contamination(0.01)
    for bad in (0.0, -0.1, 0.51):
        with pytest.raises(ValueError, match=r"contamination must be in \(0, 0.5\]"):
            check_contamination(bad)


# ---------------------------------------------------------------------- device, seed, threads
def test_resolve_device_fails_early_when_cuda_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device='cuda:1' requested but CUDA is not available"):
        resolve_device("cuda:1")


def test_loadable_device_falls_back_to_cpu_only_without_cuda(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert loadable_device("cuda") == "cpu"
    assert loadable_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert loadable_device("cuda:0") == "cuda:0"


def test_seed_of_makes_none_repeatable() -> None:
    assert seed_of(None) == 0
    assert seed_of(7) == 7
    seed = seed_of(np.int64(3))
    assert seed == 3 and type(seed) is int


def test_torch_threads_sets_the_count_inside_and_restores_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(common.os, "cpu_count", lambda: 4)
    before = torch.get_num_threads()
    seen = {}
    for n, default in ((None, 1), (0, 3), (2, 1), (16, 1), (None, 8)):
        with torch_threads(n, default):
            seen[(n, default)] = torch.get_num_threads()
    assert seen == {(None, 1): 1, (0, 3): 3, (2, 1): 2, (16, 1): 4, (None, 8): 4}
    assert torch.get_num_threads() == before


def test_torch_threads_restores_the_count_after_an_error() -> None:
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="boom"), torch_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


# ---------------------------------------------------------------------- robust scaling
def test_robust_center_scale_ignores_outliers_and_never_returns_zero_scale() -> None:
    rng = np.random.default_rng(0)
    X = np.column_stack(
        [rng.normal(5.0, 2.0, 4000), rng.normal(5.0, 2.0, 4000), np.full(4000, 3.0), np.zeros(4000)]
    )
    X[:40, 0] = 1e6  # 1 % wild readings: the median does not move
    X[:200, 1] = 25.0  # 5 % far-off readings: the IQR, not the inflated std, sets the unit
    X[:100, 3] = 10.0  # mostly constant: the IQR collapses, the std does not
    center, scale = robust_center_scale(X)
    assert center[0] == pytest.approx(5.0, abs=0.15)
    assert scale[1] == pytest.approx(2.0, rel=0.1) and X[:, 1].std() > 4.0
    assert scale[2] == 1.0  # constant feature: unit scale, not 0
    assert scale[3] == pytest.approx(X[:, 3].std())
    assert center.dtype == np.float64 and scale.dtype == np.float64


def test_the_mad_spread_keeps_the_majoritys_unit_when_a_fault_fills_a_third_of_the_rows() -> None:
    rng = np.random.default_rng(0)
    flow = rng.normal(10.0, 0.1, 3000)  # a reading that holds its set-point
    flow[:1000] = rng.normal(7.0, 0.1, 1000)  # a third of the rows: a fault holds it lower
    zeros = np.where(rng.random(3000) < 0.6, 0.0, rng.exponential(2.0, 3000))  # MAD is 0
    X = np.column_stack([flow, rng.normal(0.0, 1.0, 3000), zeros])
    _, iqr = robust_center_scale(X, "iqr")
    center, mad = robust_center_scale(X, "mad")
    assert iqr[0] > 1.5  # the lower quartile sits among the faulty rows: 15x the real spread
    assert mad[0] < 0.25 and (center[0] - 7.0) / mad[0] > 10  # the fault stays far out
    assert mad[1] == pytest.approx(1.0, rel=0.1) and iqr[1] == pytest.approx(1.0, rel=0.1)
    assert mad[2] == iqr[2] > 0  # over half the values equal: the IQR rule, as before
    with pytest.raises(ValueError, match="spread must be one of"):
        robust_center_scale(X, "std")


def test_apply_robust_scale_standardizes_clips_and_keeps_the_float_dtype() -> None:
    X = np.array([[1.0, 10.0], [3.0, 1e9], [5.0, -1e9]])
    out = apply_robust_scale(X, [3.0, 10.0], [2.0, 1.0])
    np.testing.assert_array_equal(out[:, 0], [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(out[:, 1], [0.0, SCALE_CLIP, -SCALE_CLIP])
    assert out.dtype == np.float64
    assert apply_robust_scale(X.astype(np.float32), [0, 0], [1, 1], clip=4.0).dtype == np.float32
    assert apply_robust_scale(X.astype(np.float32), [0, 0], [1, 1], clip=4.0).max() == 4.0
    assert apply_robust_scale(np.array([[2, 4]]), [0, 0], [4, 4]).tolist() == [[0.5, 1.0]]


def test_robust_scale_estimates_the_sd_per_column_and_falls_back_in_order() -> None:
    rng = np.random.default_rng(1)
    normal = rng.normal(0.0, 3.0, 20_000)
    spiky = np.zeros(20_000)
    spiky[:50] = 100.0  # MAD 0, std > 0
    flat = np.full(20_000, 2.0)  # MAD 0 and std 0
    out = robust_scale(np.column_stack([normal, spiky, flat]), axis=0, floor=1e-6)
    assert out[0] == pytest.approx(3.0, rel=0.03)
    assert out[1] == pytest.approx(spiky.std())
    assert out[2] == 1e-6
    assert robust_scale(flat[:, None], floor=1e-3, fallback=1.0)[0] == 1.0


def test_robust_location_scale_gives_python_floats_and_a_safe_scale() -> None:
    med, scale = robust_location_scale(np.array([1.0, 2.0, 3.0, 4.0, 1000.0]))
    assert (med, scale) == (3.0, pytest.approx(1.4826))
    assert type(med) is float and type(scale) is float
    assert robust_location_scale(np.full(10, 4.0)) == (4.0, 1.0)
    assert robust_location_scale(np.full(10, 4.0), fallback=1e-12) == (4.0, 1e-12)


def test_row_shares_sum_to_one_and_leave_all_zero_rows_at_zero() -> None:
    shares = row_shares(np.array([[1.0, 3.0], [0.0, 0.0], [2.0, 0.0]]))
    np.testing.assert_array_equal(shares, [[0.25, 0.75], [0.0, 0.0], [1.0, 0.0]])


# ---------------------------------------------------------------------- pickle-free state
def test_to_jsonable_turns_nested_numpy_values_into_json_natives() -> None:
    value = {
        "a": np.arange(3),
        1: (np.float32(0.5), [np.int64(2), {"b": np.array([[1.5]])}]),
        "c": "text",
    }
    out = to_jsonable(value)
    assert out == {"a": [0, 1, 2], "1": [0.5, [2, {"b": [[1.5]]}]], "c": "text"}
    assert json.loads(json.dumps(out)) == out
    assert type(out["1"][1][0]) is int


def test_module_tensors_and_prefixed_state_round_trip_a_module() -> None:
    torch.manual_seed(0)
    net, other = torch.nn.Linear(3, 2), torch.nn.Linear(4, 1)
    tensors = {**module_tensors(net, "student."), **module_tensors(other, "other.")}
    assert set(tensors) == {"student.weight", "student.bias", "other.weight", "other.bias"}
    fresh = torch.nn.Linear(3, 2)
    fresh.load_state_dict(prefixed_state(tensors, "student."))
    torch.testing.assert_close(fresh.weight, net.weight)
    torch.testing.assert_close(fresh.bias, net.bias)
    assert not tensors["student.weight"].requires_grad


def test_labels_from_scores_flags_rows_strictly_above_the_threshold() -> None:
    labels = labels_from_scores(np.array([0.1, 0.5, 0.9]), 0.5)
    assert labels.tolist() == [0, 0, 1]
