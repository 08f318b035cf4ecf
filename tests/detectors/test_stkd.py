"""Behaviour of STKDDetector on small synthetic data (fast; no shared data needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from detectors import STKDDetector, explain, load_detector, save_detector
from tests.seeding import (
    a_line_that_resumes_after_a_pause,
    a_steady_reading_held_off_in_a_third_of_the_rows,
    plant_with_a_minor_mode,
    rows_with_a_fault_state_for_a_third_of_them,
    sensor_series,
    sensor_series_with_a_minor_mode,
)

# A small budget keeps each fit around a second on two cores; behaviours, not accuracy records.
FAST = {"steps": (120, 200, 150), "shards": 2, "rounds": 3, "random_state": 0}


def contaminated(n: int = 1200, d: int = 8, share: float = 0.1, seed: int = 0):
    """Correlated normal rows plus a shifted anomaly cluster; returns X, y (y for asserts only)."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 3))
    X = latent @ rng.normal(size=(3, d)) + 0.3 * rng.normal(size=(n, d))
    y = np.zeros(n, dtype=int)
    k = int(share * n)
    idx = rng.choice(n, size=k, replace=False)
    X[idx] = rng.normal(size=(k, d)) * 1.5 + 2.5
    y[idx] = 1
    return X.astype(np.float64), y


@pytest.fixture(scope="module")
def data():
    return contaminated()


@pytest.fixture(scope="module")
def fitted(data):
    X, _ = data
    return STKDDetector(**FAST).fit(X)


def test_fit_returns_self_and_sets_pyod_attributes(data):
    X, _ = data
    det = STKDDetector(**FAST)
    assert det.fit(X) is det
    assert det.decision_scores_.shape == (len(X),)
    assert det.labels_.shape == (len(X),)
    assert 0.05 <= det.labels_.mean() <= 0.15  # contamination=0.1 drives the threshold
    assert det.predict(X[:5]).shape == (5,)


def test_init_only_stores_arguments():
    det = STKDDetector(contamination="bogus", view="nope")
    assert det.contamination == "bogus"
    with pytest.raises(ValueError, match="contamination"):
        det.fit(np.zeros((20, 3)))


def test_scores_separate_injected_anomalies(fitted, data):
    X, y = data
    assert roc_auc_score(y, fitted.decision_function(X)) > 0.95


def test_purification_removes_most_injected_anomalies(fitted, data):
    _, y = data
    trained_on = fitted.training_mask_
    anomalies_kept = int((trained_on & (y == 1)).sum())
    assert anomalies_kept <= 0.2 * (y == 1).sum()
    assert trained_on[y == 0].mean() > 0.8  # and keeps most normals


def test_purification_trace_is_json_serializable(fitted):
    trace = fitted.purification_trace_
    assert trace[0]["round"] == 0 and trace[-1]["round"] == "final"
    for entry in trace:
        assert {"round", "kept", "excluded_indices", "score_quantiles", "seconds"} <= set(entry)
    assert json.loads(json.dumps(trace)) == trace


def test_pinned_normals_are_never_excluded(data):
    X, y = data
    pinned = y == 1  # pin the most anomalous-looking rows: the hardest case for the rule
    pinned[np.flatnonzero(y == 1)[20:]] = False
    det = STKDDetector(**FAST).fit(X, known_normal=pinned)
    assert det.training_mask_[pinned].all()
    for entry in det.purification_trace_:
        assert not set(entry["excluded_indices"]) & set(np.flatnonzero(pinned).tolist())


def test_confirmed_anomalies_are_never_trained_on(data, monkeypatch):
    X, y = data
    confirmed = np.zeros(len(X), dtype=bool)
    confirmed[np.flatnonzero(y == 1)[:30]] = True
    confirmed[np.flatnonzero(y == 0)[:5]] = True  # also a few that look normal
    import detectors.stkd.detector as det_mod
    import detectors.stkd.teacher as teacher_mod

    pools: list[np.ndarray] = []
    real_train = det_mod.train_steps
    real_side_by_side = det_mod.train_ensemble_steps

    def spy(model, batch_fn, pool, *args, **kwargs):
        pools.append(np.asarray(pool))
        return real_train(model, batch_fn, pool, *args, **kwargs)

    def spy_side_by_side(models, batch_fn, model_pools, *args, **kwargs):
        pools.extend(np.asarray(pool) for pool in model_pools)
        return real_side_by_side(models, batch_fn, model_pools, *args, **kwargs)

    monkeypatch.setattr(det_mod, "train_steps", spy)
    monkeypatch.setattr(det_mod, "train_ensemble_steps", spy_side_by_side)
    monkeypatch.setattr(teacher_mod, "train_steps", spy)
    det = STKDDetector(**FAST).fit(X, known_anomaly=confirmed)
    # the teacher, then every student of every round the trace records, and the final ones
    assert len(pools) == 1 + sum(entry["shards"] for entry in det.purification_trace_)
    for pool in pools:
        assert not confirmed[pool].any()
    assert not det.training_mask_[confirmed].any()


def _students_and_teacher(seeds: list[int], d: int = 8):
    import torch

    from detectors.stkd.torch_model import MLPAutoEncoder, STKDStudent, TeacherEncoder

    torch.manual_seed(99)
    teacher = TeacherEncoder(MLPAutoEncoder(d, (16, 8), 3).encoder, 3)
    students = []
    for seed in seeds:
        torch.manual_seed(seed)
        students.append(STKDStudent(MLPAutoEncoder(d, (16, 8), 3), 3))
    return students, teacher


def test_students_trained_side_by_side_match_students_trained_one_by_one():
    """The stacked trainer is a speed-up only: each student gets its own pool, batches, Adam
    state, schedule and clipping, so its weights end where training it alone leaves them."""
    import torch

    from detectors.stkd.training import train_ensemble_steps, train_steps
    from detectors.stkd.windows import RowView

    X, _ = contaminated(n=600)
    # readings in the tens give gradients far beyond the clipping norm, so clipping acts
    view = RowView(torch.from_numpy(10 * X.astype(np.float32)))
    pools = [np.arange(0, 200), np.arange(200, 400), np.arange(400, 600)]
    seeds = [5, 6, 7]
    alone, teacher = _students_and_teacher(seeds)
    start = [[p.detach().clone() for p in s.parameters()] for s in alone]
    for student, pool, seed in zip(alone, pools, seeds, strict=True):
        train_steps(student, view.batch, pool, 60, 32, 1e-2, 1e-5, seed, torch.device("cpu"),
                    teacher, 0.5)  # fmt: skip
    stacked, _ = _students_and_teacher(seeds)
    losses = train_ensemble_steps(
        stacked, view.batch, pools, 60, 32, 1e-2, 1e-5, seeds, torch.device("cpu"), teacher, 0.5
    )
    assert len(losses) == 3 and all(np.isfinite(losses))
    for j in range(3):
        for p_alone, p_stacked in zip(alone[j].parameters(), stacked[j].parameters(), strict=True):
            assert torch.allclose(p_stacked, p_alone, atol=1e-4), j
    moved = [
        float((a.detach() - b).abs().max())
        for a, b in zip(alone[0].parameters(), start[0], strict=True)
    ]
    assert max(moved) > 1e-2  # the comparison is between trained students, not two inits


def test_side_by_side_training_refuses_pools_of_different_batch_sizes():
    import torch

    from detectors.stkd.training import train_ensemble_steps
    from detectors.stkd.windows import RowView

    view = RowView(torch.zeros((100, 8)))
    students, _ = _students_and_teacher([1, 2])
    with pytest.raises(ValueError, match="same batch size"):
        train_ensemble_steps(
            students, view.batch, [np.arange(10), np.arange(10, 100)], 5, 32, 1e-3, 0.0,
            [1, 2], torch.device("cpu"),
        )  # fmt: skip


@pytest.mark.parametrize(
    "col",
    [
        np.array([3.0, -1.0, 3.0, 0.0, -0.0, 2.5, 3.0, -1.0]),  # ties, and -0.0 equal to 0.0
        np.full(5, 7.0),  # one value
        np.array([42.0]),
        np.round(np.random.default_rng(3).normal(size=400) * 2) / 2,  # many ties
    ],
)
def test_tail_counts_count_the_values_at_most_and_at_least_each_value(col):
    from detectors.stkd.teacher import tail_counts

    at_most, at_least = tail_counts(col)
    np.testing.assert_array_equal(at_most, (col[None, :] <= col[:, None]).sum(axis=1))
    np.testing.assert_array_equal(at_least, (col[None, :] >= col[:, None]).sum(axis=1))


def test_fit_never_receives_labels(data, monkeypatch):
    X, y = data
    seen: list[object] = []
    real_fit = STKDDetector.fit

    def wrapped(self, X, y=None, **kwargs):
        seen.append(y)
        return real_fit(self, X, y, **kwargs)

    monkeypatch.setattr(STKDDetector, "fit", wrapped)
    from detectors import create_detector

    create_detector("stkd", **FAST).fit(X)
    assert seen == [None]
    # and passing y anyway changes nothing: labels are ignored entirely
    monkeypatch.setattr(STKDDetector, "fit", real_fit)
    a = STKDDetector(**FAST).fit(X).decision_scores_
    b = STKDDetector(**FAST).fit(X, y).decision_scores_
    np.testing.assert_array_equal(a, b)


def test_same_seed_gives_same_scores(fitted, data):
    X, _ = data
    again = STKDDetector(**FAST).fit(X)
    np.testing.assert_array_equal(again.decision_function(X), fitted.decision_function(X))
    other = STKDDetector(**{**FAST, "random_state": 1}).fit(X)
    assert not np.array_equal(other.decision_function(X), fitted.decision_function(X))


def test_fused_scoring_matches_training_scores_and_batches(fitted, data):
    """decision_function's fused pass gives the fit-time scores, whatever the batch split."""
    X, _ = data
    np.testing.assert_array_equal(fitted.decision_function(X), fitted.decision_scores_)
    parts = np.concatenate([fitted.decision_function(X[:7]), fitted.decision_function(X[7:])])
    # A different batch shape may pick another float kernel: agree to float32 precision of the
    # score's scale (up to ~100 here), far below what a batching bug would move.
    np.testing.assert_allclose(parts, fitted.decision_scores_, rtol=1e-6, atol=1e-5)


def test_knn_term_skips_the_query_itself():
    import torch

    from detectors.stkd.anomaly_map import knn_distance

    refs = torch.tensor([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    d = knn_distance(np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]]), refs, k=1)
    np.testing.assert_allclose(d, [5.0, 5.0, 1.0], rtol=1e-6)
    d2 = knn_distance(np.array([[0.0, 0.0]]), refs, k=2)
    np.testing.assert_allclose(d2, [7.5], rtol=1e-6)


def test_the_k_nearest_agree_with_a_full_sort():
    """k > 1 takes a partial sort instead of topk; ties, duplicates of the query and fewer
    references than k must come out as a full sort would give them."""
    import torch

    from detectors.stkd.anomaly_map import knn_distance

    rng = np.random.default_rng(5)
    refs_np = rng.integers(0, 4, size=(40, 3)).astype(np.float32)  # many exact ties
    queries = np.vstack([refs_np[:6], rng.normal(1.5, 1.0, size=(30, 3))])
    d_all = np.sqrt(((queries[:, None, :] - refs_np[None, :, :]) ** 2).sum(axis=2))
    refs = torch.from_numpy(refs_np)
    for k in (1, 2, 5, 8, 32):
        want = []
        for row in d_all:
            kept = np.sort(row[row > 1e-3])  # the query itself (and its duplicates) skipped
            want.append(kept[:k].mean())
        np.testing.assert_allclose(knn_distance(queries, refs, k), want, rtol=1e-5, atol=1e-5)
    few = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(knn_distance(np.array([[0.0, 1.0]]), few, k=5), [(1 + 18**0.5) / 2])


def test_the_explained_knn_gaps_are_those_of_the_k_nearest():
    """explain() reads the kNN term's per-feature gaps from a mask of the k nearest, not from
    their indices; they must equal a brute-force mean over those references, and the distance
    must be the score's own."""
    import torch

    from detectors.stkd.anomaly_map import knn_distance, knn_distance_and_gaps

    rng = np.random.default_rng(8)
    refs_np = rng.normal(size=(50, 4)).astype(np.float32)
    queries = np.vstack([refs_np[:3], rng.normal(size=(20, 4))]).astype(np.float32)
    refs = torch.from_numpy(refs_np)
    dist, gaps = knn_distance_and_gaps(queries, refs, 5, batch_size=7)
    np.testing.assert_allclose(dist, knn_distance(queries, refs, 5), rtol=1e-6)
    for q, row in zip(queries, gaps, strict=True):
        sq = ((refs_np - q) ** 2).sum(axis=1)
        nearest = np.argsort(np.where(sq < 1e-6, np.inf, sq))[:5]  # the query itself skipped
        np.testing.assert_allclose(row, ((refs_np[nearest] - q) ** 2).mean(axis=0), atol=1e-4)
    lone = torch.tensor([[1.0, 2.0, 0.0, 0.0]])  # the only reference is the query itself
    dist, gaps = knn_distance_and_gaps(lone.numpy(), lone, 5)
    np.testing.assert_array_equal(dist, [0.0])
    np.testing.assert_array_equal(gaps, [[0.0, 0.0, 0.0, 0.0]])


def test_the_angular_view_weighs_the_mix_of_readings_over_their_level():
    import torch

    from detectors.stkd.anomaly_map import ANGLE_SOFTENING, angle_frame, to_angle_t

    fitted_rows = np.array([[0.0, 0.0, 5.0], [1.0, 1.0, 5.0], [0.5, 0.5, 5.0], [0.2, 0.8, 5.0]])
    lo, span, soft = angle_frame(fitted_rows)
    np.testing.assert_array_equal(lo, [0.0, 0.0, 5.0])
    np.testing.assert_array_equal(span, [1.0, 1.0, 1.0])  # the constant feature gets range 1
    median_length = np.median([0.0, 2**0.5, 0.5**0.5, 0.68**0.5])
    assert soft == pytest.approx(ANGLE_SOFTENING * median_length)
    step = 0.2 / 2**0.5
    queries = torch.tensor(
        [
            [0.5, 0.5, 5.0],  # a normal mix
            [0.5 + step, 0.5 + step, 5.0],  # the same mix at a higher level
            [0.5 + step, 0.5 - step, 5.0],  # as far away, but a different mix
            [1.0, 1.0, 5.0],  # the same mix at twice the level
            [-3.0, 1.0, 5.0],  # below the fitted minimum: clipped to it
            [0.0, 0.0, 5.0],  # the corner itself
        ]
    )
    v = to_angle_t(queries, torch.from_numpy(lo), torch.from_numpy(span), soft).numpy()
    assert np.isfinite(v).all()
    # Equally far in the fitted scale, a change of mix moves a row further than a change of
    # level (a third further at this level); a level change keeps the direction.
    assert np.linalg.norm(v[2] - v[0]) > 1.25 * np.linalg.norm(v[1] - v[0])
    assert v[0] @ v[3] / np.linalg.norm(v[0]) / np.linalg.norm(v[3]) == pytest.approx(1.0)
    assert np.linalg.norm(v[0]) < np.linalg.norm(v[3]) < 1.0
    assert v[4][0] == 0.0 and v[4][1] > 0
    np.testing.assert_array_equal(v[5], 0.0)


def test_the_knn_term_measures_in_the_space_asked_for(data):
    X, _ = data
    angular = STKDDetector(**FAST).fit(X)
    euclid = STKDDetector(**{**FAST, "knn_space": "euclid"}).fit(X)
    assert angular.knn_frame_ is not None and euclid.knn_frame_ is None
    # Same purification and students: only the kNN term differs.
    np.testing.assert_array_equal(angular.training_mask_, euclid.training_mask_)
    assert not np.allclose(angular.decision_scores_, euclid.decision_scores_)
    with pytest.raises(ValueError, match="knn_space"):
        STKDDetector(knn_space="cosine").fit(X)


def test_save_load_round_trip_gives_identical_scores(fitted, data, tmp_path: Path):
    X, _ = data
    save_detector(fitted, tmp_path / "m")
    assert not list((tmp_path / "m").glob("*.joblib")) and not list((tmp_path / "m").glob("*.pkl"))
    loaded = load_detector(tmp_path / "m")
    np.testing.assert_array_equal(loaded.decision_function(X), fitted.decision_function(X))
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    assert loaded.purification_trace_ == fitted.purification_trace_
    assert loaded.threshold_ == fitted.threshold_


def test_a_model_saved_before_kd_target_mode_guard_angular_knn_mad_and_eta_0_loads_as_it_was(
    data, tmp_path: Path
):
    from detectors.persistence import _sha256

    X, _ = data
    old = STKDDetector(
        **{
            **FAST,
            "kd_target": "teacher",
            "mode_guard_k": 0,
            "knn_space": "euclid",
            "spread": "iqr",
            "eta": 0.5,  # the default until 2026-12-08, always written with the model
        }
    ).fit(X)
    save_detector(old, tmp_path / "m")
    state_file = tmp_path / "m" / "stkd.json"
    state = json.loads(state_file.read_text())
    del state["stkd"]["params"]["kd_target"]  # as written by kdmon before 2026-12-06
    del state["stkd"]["params"]["mode_guard_k"]  # as written before the mode guard (same day)
    del state["stkd"]["params"]["mode_guard_q"]
    del state["stkd"]["params"]["review_memory"]  # as written before reviews capped scores
    del state["stkd"]["fitted"]["review_stats_"]
    del state["stkd"]["params"]["knn_space"]  # as written before the angular kNN term
    del state["stkd"]["params"]["spread"]  # as written before the MAD unit (2026-12-07)
    state_file.write_text(json.dumps(state))
    manifest_file = tmp_path / "m" / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["files"]["stkd.json"] = _sha256(state_file)
    manifest_file.write_text(json.dumps(manifest))
    loaded = load_detector(tmp_path / "m")
    assert loaded.kd_target == "teacher"
    assert loaded.mode_guard_k == 0
    assert loaded.knn_space == "euclid" and loaded.knn_frame_ is None
    assert loaded.spread == "iqr"
    assert loaded.eta == 0.5 and loaded.score_stats_[0][3] != 1.0
    np.testing.assert_array_equal(loaded.decision_function(X), old.decision_function(X))


def test_tampered_weights_refuse_to_load(fitted, tmp_path: Path):
    save_detector(fitted, tmp_path / "m")
    with open(tmp_path / "m" / "weights.safetensors", "ab") as f:
        f.write(b"x")
    with pytest.raises(ValueError, match="sha256"):
        load_detector(tmp_path / "m")


def test_auto_contamination_estimate_is_sane():
    X, _ = contaminated(n=1500, share=0.08, seed=3)
    det = STKDDetector(**{**FAST, "contamination": "auto"}).fit(X)
    assert 0.04 <= det.contamination_estimate_ <= 0.16
    assert det.contamination_method_.startswith("tukey_fence")
    assert 0.03 <= det.labels_.mean() <= 0.17


@pytest.mark.slow
def test_auto_reads_a_lines_fault_share_past_its_low_speed_mode():
    """The demo's conveyor-c runs at low speed a fifth of the time, and the students' z of that
    mode filled the score's upper quartile: the far-out fence of the whole score sat past 98 %
    of the faults and "auto" said 0.5 % for a line with 5.6 % faulty rows, so the threshold
    caught 7 % of its faults. The kNN term reads the mode as normal; estimated on it, the share
    is near the truth and the threshold flags the faults."""
    from datetime import UTC, datetime

    from app.demo.simulator import generate_history
    from app.demo.specs import get_demo_line

    batch = generate_history(get_demo_line("conveyor-c"), datetime(2026, 11, 1, tzinfo=UTC), 14, 0)
    X = batch.frame.drop(columns=["timestamp"]).to_numpy(dtype=np.float64)
    faulty = batch.truth["is_anomaly"].to_numpy()
    det = STKDDetector(contamination="auto", random_state=0).fit(X)
    assert det.contamination_method_.endswith("of the kNN term")
    assert 0.5 * faulty.mean() <= det.contamination_estimate_ <= 2 * faulty.mean()
    assert det.labels_[faulty].mean() > 0.25  # the whole-score estimate caught 0.07


def test_auto_falls_back_to_the_whole_score_in_the_windows_view(monkeypatch):
    """The windows view has no kNN term: the estimate reads every window's whole score."""
    import detectors.stkd.detector as mod

    seen: list[np.ndarray] = []
    real = mod.estimate_contamination

    def spy(scores, *args, **kwargs):
        seen.append(np.asarray(scores).copy())
        return real(scores, *args, **kwargs)

    monkeypatch.setattr(mod, "estimate_contamination", spy)
    X, _ = sensor_series(seed=4)
    det = STKDDetector(**{**FAST, "view": "windows", "contamination": "auto"}).fit(X)
    assert det.contamination_method_.endswith("of the score")
    assert len(seen) == 1 and len(seen[0]) == len(det.training_mask_)  # one value per window


def test_each_term_explains_its_share_of_the_score():
    from detectors.stkd.explanation import mix_term_shares

    recon = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    knn = np.array([[0.0, 3.0, 1.0], [0.0, 3.0, 1.0], [0.0, 3.0, 1.0], [0.0, 0.0, 2.0]])
    lift_recon = np.array([3.0, -1.0, 0.0, 1.0])
    lift_knn = np.array([1.0, 2.0, -0.5, -2.0])
    shares = mix_term_shares([(lift_recon, recon), (lift_knn, knn)])
    np.testing.assert_allclose(shares[0], [0.75, 0.1875, 0.0625])  # 3:1 by lift
    np.testing.assert_allclose(shares[1], [0.0, 0.75, 0.25])  # a negative lift counts nothing
    np.testing.assert_allclose(shares[2], [0.5, 0.375, 0.125])  # no lift: the plain mean
    np.testing.assert_allclose(shares[3], [0.0, 0.0, 0.0])  # the lifted term has no values
    # ...and with no term lifting it, a row still takes what the others have
    np.testing.assert_allclose(
        mix_term_shares([(np.array([-1.0]), recon[3:]), (np.array([-1.0]), knn[3:])]), [[0, 0, 1]]
    )


def test_a_row_off_the_pool_in_mix_is_explained_by_the_reading_that_moved():
    """Readings proportional to a load: a row with one reading at 0.8 of its share is far from
    the pool in the angular view, and its explanation names that reading, even when the
    students reconstruct it about as well as a normal row."""
    rng = np.random.default_rng(11)
    gains = np.array([1.0, 2.0, 0.5, 1.5, 3.0, 0.8])
    load = rng.uniform(3, 10, 2000)
    X = load[:, None] * gains + rng.normal(0, 0.05, (2000, 6)) * gains
    det = STKDDetector(**{**FAST, "contamination": 0.02}).fit(X)
    probe = np.outer([5.0, 7.0, 9.0], gains)
    probe[:, 3] *= 0.8
    contrib = det.explain(probe)
    np.testing.assert_allclose(contrib.sum(axis=1), 1.0, atol=1e-9)
    assert (contrib.argmax(axis=1) == 3).all()
    assert (det.decision_function(probe) > det.threshold_).all()


def test_explain_points_at_the_perturbed_feature(fitted, data):
    X, _ = data
    probe = np.repeat(np.median(X, axis=0, keepdims=True), 4, axis=0)
    probe[:, 5] += 8.0
    contrib = explain(fitted, probe)
    assert contrib.shape == probe.shape
    np.testing.assert_allclose(contrib.sum(axis=1), 1.0, atol=1e-6)
    assert (contrib.argmax(axis=1) == 5).all()


def test_teacher_term_regularizes_the_loss_and_enters_the_score_only_when_asked(data):
    """By default (eta 0) the KD term shapes the students in training but stays out of the
    score; eta > 0 adds the students' discrepancy with the teacher, standardized on the pool."""
    X, _ = data
    default = STKDDetector(**FAST).fit(X)
    no_kd_loss = STKDDetector(**{**FAST, "lambda_kd": 0.0}).fit(X)
    kd_in_score = STKDDetector(**{**FAST, "eta": 0.5}).fit(X)
    assert not np.allclose(default.decision_scores_, no_kd_loss.decision_scores_)
    assert default.score_stats_[0][2:] == [0.0, 1.0]
    assert kd_in_score.score_stats_[0][3] != 1.0
    assert not np.allclose(default.decision_scores_, kd_in_score.decision_scores_)


@pytest.mark.parametrize("teacher", ["random", "reference"])
def test_other_teachers_fit(data, teacher):
    X, y = data
    ref = (y == 0) & (np.arange(len(y)) < 400)  # a trusted commissioning window
    det = STKDDetector(**{**FAST, "teacher": teacher}).fit(X, reference_mask=ref)
    assert roc_auc_score(y, det.decision_scores_) > 0.9


def test_a_named_clean_window_finds_a_fault_that_fills_a_third_of_the_rows():
    """Purification cannot drop a fault state as dense as normal running: it stays in the pool
    and is its own nearest reference. With the window the engineer vouches for as the pool, it
    stands out, and normal rows after the window stay quiet."""
    X, y = rows_with_a_fault_state_for_a_third_of_them()
    window = np.arange(len(X)) < 300  # the first 20 %: commissioning, all normal
    rest = ~window
    plain = STKDDetector(**FAST).fit(X)
    named = STKDDetector(**FAST).fit(X, reference_mask=window)
    assert roc_auc_score(y[rest], plain.decision_scores_[rest]) < 0.8
    assert roc_auc_score(y[rest], named.decision_scores_[rest]) > 0.95
    normal_after = rest & (y == 0)
    assert np.mean(named.predict(X)[normal_after]) <= 0.1
    with pytest.raises(ValueError, match="reference_mask names 3 usable rows"):
        STKDDetector(**FAST).fit(X, reference_mask=np.arange(len(X)) < 3)
    windows = {**FAST, "view": "windows", "window": 24, "stride": 4}
    with pytest.raises(ValueError, match="covers 0 whole windows of 24 rows"):
        STKDDetector(**windows).fit(X, reference_mask=np.arange(len(X)) < 20)


def test_a_steady_reading_held_off_by_a_fault_in_a_third_of_the_rows_stands_out():
    """The scaling's unit is the majority's spread (MAD): a fault holding a steady reading off
    in 35 % of the rows stays some 30 units out. With the IQR, a quartile sits among the
    faulty rows, the unit widens to the fault's own offset and the fault reads as ordinary."""
    X, y = a_steady_reading_held_off_in_a_third_of_the_rows()
    mad = STKDDetector(**FAST).fit(X)
    iqr = STKDDetector(**FAST, spread="iqr").fit(X)
    assert mad.scale_[3] < 0.1 and iqr.scale_[3] > 0.5
    assert roc_auc_score(y, mad.decision_scores_) > 0.97
    assert roc_auc_score(y, iqr.decision_scores_) < 0.9
    assert mad.predict(X)[y == 0].mean() < 0.02  # the alarms it raises are the fault's
    with pytest.raises(ValueError, match="spread must be one of"):
        STKDDetector(**FAST, spread="std").fit(X)


def test_bad_input_is_rejected_with_a_clear_message(fitted):
    with pytest.raises(ValueError, match="features"):
        fitted.decision_function(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="NaN"):
        STKDDetector(**FAST).fit(np.full((50, 3), np.nan))
    with pytest.raises(ValueError, match="known_normal"):
        STKDDetector(**FAST).fit(np.zeros((50, 3)), known_normal=np.ones(3, dtype=bool))


def test_windows_view_scores_a_faulty_segment_higher():
    X, y = sensor_series()
    det = STKDDetector(
        view="windows", window=24, stride=4, steps=(100, 200, 120), shards=2, rounds=2,
        random_state=0,
    )  # fmt: skip
    det.fit(X)
    scores = det.decision_function(X)
    assert scores.shape == (len(X),)
    assert np.median(scores[y == 1]) > np.quantile(scores[y == 0], 0.9)
    assert roc_auc_score(y, scores) > 0.9
    # any number of rows >= 1 can be scored (edge-padded)
    assert det.decision_function(X[:1]).shape == (1,)
    assert det.decision_function(X[:7]).shape == (7,)
    contrib = explain(det, X[950:1150])  # rows inside the faulty segment
    assert contrib.shape == (200, 3)
    assert contrib.mean(axis=0).argmax() == 2  # the sensor whose coupling broke
    assert (contrib.argmax(axis=1) == 2).mean() >= 0.6


def test_window_summaries_are_each_windows_mean_and_spread():
    from detectors.stkd.windows import covering_starts, window_summaries

    rng = np.random.default_rng(0)
    series = rng.normal(size=(50, 3)) * np.array([1.0, 10.0, 0.1]) + np.array([0.0, 100.0, -5.0])
    starts = np.array([0, 7, 34])
    got = window_summaries(series, starts, 16)
    expected = [np.hstack([series[s : s + 16].mean(0), series[s : s + 16].std(0)]) for s in starts]
    np.testing.assert_allclose(got, np.array(expected), rtol=1e-5, atol=1e-5)
    assert window_summaries(np.ones((20, 2)), np.array([0, 4]), 16)[:, 2:].max() == 0.0
    # every window that holds row 3 or row 40 of 50 rows, windows of 16 rows
    np.testing.assert_array_equal(covering_starts(np.array([40, 3]), 16, 50), np.r_[0:4, 25:35])


def test_window_helpers_keep_every_window_inside_one_stretch():
    from detectors.stkd.windows import (
        check_breaks,
        rows_from_windows,
        window_starts,
        window_starts_within,
        windows_crossing,
    )

    breaks = check_breaks(np.array([70, 30, 30]), 100)
    assert breaks.tolist() == [30, 70]
    starts = window_starts_within(100, breaks, 16, 4)
    stretch = np.searchsorted(breaks, starts, side="right")
    assert (stretch == np.searchsorted(breaks, starts + 15, side="right")).all()
    covered = np.zeros(100, dtype=bool)
    for s in starts:
        covered[s : s + 16] = True
    assert covered.all()
    assert not windows_crossing(starts, 16, breaks).any()
    assert windows_crossing(np.array([20, 14, 60]), 16, breaks).tolist() == [True, False, True]
    # a stretch shorter than a window holds none
    assert window_starts_within(40, check_breaks([10], 40), 16, 4).min() == 10
    with pytest.raises(ValueError, match="breaks must lie in 1..99"):
        check_breaks([0], 100)

    # "last": each row takes the window ending at it; rows before the first end take the first
    starts = window_starts(20, 5, 1)
    rows = rows_from_windows(starts * 10.0, starts, 5, 20, "last")
    np.testing.assert_array_equal(rows, np.r_[[0.0] * 4, np.arange(16) * 10.0])


def test_edge_calibration_maps_a_mean_of_few_windows_onto_the_full_means_distribution():
    from detectors.stkd.windows import calibrate_edges, covering_counts, edge_quantiles

    assert covering_counts(10, 4).tolist() == [1, 2, 3, 4, 4, 4, 4, 3, 2, 1]
    rng = np.random.default_rng(0)
    table = edge_quantiles([rng.normal(size=20_000), rng.normal(size=5_000)], 16)
    one_window = rng.normal(size=20_000)  # a row covered by a single window
    calibrated = calibrate_edges(one_window, np.ones(20_000, dtype=int), table)
    # independent window scores: a mean of 16 has a quarter of one window's spread
    assert 0.22 < calibrated.std() < 0.28
    assert abs(np.median(calibrated)) < 0.02
    # rows with the full count are left alone; an extreme row stays the most extreme
    full = calibrate_edges(np.array([0.3, 9.0]), np.array([16, 1]), table)
    assert full[0] == 0.3 and full[1] > table[-1][-1]


def test_a_windows_lines_batch_ends_are_flagged_no_more_than_its_other_rows():
    """The scoring job scores a batch when it arrives, so its last rows lack the windows that
    reach into the next batch: a mean of fewer windows is a noisier number, and at a threshold
    set on the middle rows about 30 % of them were flagged against 5 % of the rest. Calibrating
    such rows to the middle rows' distribution removes the excess."""
    from tests.seeding import _three_coupled_sensors

    X, _ = _three_coupled_sensors(12_000, np.random.default_rng(0))
    w, size = 24, 317
    det = STKDDetector(
        view="windows", window=w, stride=4, steps=(100, 200, 120), shards=2, rounds=2,
        contamination=0.05, random_state=0,
    ).fit(X[:2000])  # fmt: skip
    new = X[2000:]

    def flagged_by_batch() -> np.ndarray:
        parts = []
        for a in range(0, len(new), size):
            context = min(a, w - 1)
            parts.append(det.decision_function(new[a - context : a + size])[context:])
        return np.concatenate(parts) > det.threshold_

    batch_end = np.arange(len(new)) % size >= size - (w - 1)
    flagged = flagged_by_batch()
    assert flagged[batch_end].mean() < 2 * flagged[~batch_end].mean() + 0.02
    det.edge_quantiles_ = None  # as before the calibration
    flagged = flagged_by_batch()
    assert flagged[batch_end].mean() > 3 * flagged[~batch_end].mean()


def test_score_and_explain_gives_what_scoring_and_explaining_separately_give(data):
    """The scoring job stores both; the windows view computes them in one pass of its networks."""
    from detectors import create_detector, score_and_explain

    X, _ = sensor_series()
    reviewed = np.zeros(len(X), dtype=bool)
    reviewed[100:110] = True  # with the review memory's cap in the score
    windows = STKDDetector(
        view="windows", window=24, stride=4, steps=(100, 200, 120), shards=2, rounds=2,
        random_state=0,
    ).fit(X, known_normal=reviewed)  # fmt: skip
    assert windows.review_refs_ is not None
    scores, shares = score_and_explain(windows, X[850:1250])
    np.testing.assert_array_equal(scores, windows.decision_function(X[850:1250]))
    np.testing.assert_allclose(shares, explain(windows, X[850:1250]), rtol=1e-9, atol=1e-12)
    # detectors without one of their own get the two calls
    Xr, _ = data
    iforest = create_detector("iforest", random_state=0).fit(Xr)
    scores, shares = score_and_explain(iforest, Xr[:50])
    np.testing.assert_array_equal(scores, iforest.decision_function(Xr[:50]))
    np.testing.assert_array_equal(shares, explain(iforest, Xr[:50]))


def test_with_row_agg_last_a_windows_line_scored_batch_by_batch_scores_as_in_one_pass():
    """With ``row_agg="last"`` a row's score is the window ending at it, so it is final when
    the row arrives: a batch scored after the rows before it gives the one-pass scores, its
    last rows included. Under "mean" (the default) those last rows lack the windows that would
    cover them, and their scores are one window's instead of an average of many."""
    X, _ = sensor_series()
    w = 24
    det = STKDDetector(
        view="windows", window=w, stride=4, steps=(100, 200, 120), shards=2, rounds=2,
        row_agg="last", random_state=0,
    ).fit(X)  # fmt: skip

    def batch_by_batch() -> np.ndarray:
        parts = []
        for a in range(0, len(X), 300):
            context = min(a, w - 1)
            parts.append(det.decision_function(X[a - context : a + 300])[context:])
        return np.concatenate(parts)

    np.testing.assert_allclose(batch_by_batch(), det.decision_function(X), rtol=1e-6, atol=1e-9)
    contrib = explain(det, X[950:1150])  # rows inside the faulty segment: the window behind each
    assert contrib.mean(axis=0).argmax() == 2
    det.row_agg = "mean"
    tails = np.r_[[np.arange(a - w + 1, a) for a in range(300, len(X), 300)]].ravel()
    assert not np.allclose(batch_by_batch()[tails], det.decision_function(X)[tails])


def test_no_training_window_spans_a_pause_and_the_rows_at_it_are_not_alarms():
    from detectors.stkd.windows import window_starts_within

    X = a_line_that_resumes_after_a_pause()
    params = {
        "view": "windows", "window": 24, "stride": 4, "steps": (100, 200, 120), "shards": 2,
        "rounds": 2, "contamination": 0.05, "random_state": 0,
    }  # fmt: skip
    joined = STKDDetector(**params).fit(X)
    split = STKDDetector(**params).fit(X, breaks=[700])
    assert len(split.training_mask_) == len(window_starts_within(len(X), np.array([700]), 24, 4))
    # Rows whose window reaches back across the pause: joined, the jump in the cycle is the
    # most anomalous thing on the line; kept apart, they score as ordinary rows of it. (Every
    # row is normal here, so the flagged 5 % are just the top of the cycle's ups and downs.)
    at_the_pause = np.zeros(len(X), dtype=bool)
    at_the_pause[700 : 700 + 23] = True
    assert (
        joined.decision_scores_[at_the_pause].max() > joined.decision_scores_[~at_the_pause].max()
    )
    # (Seed-teacher KD target, 2026-12-07: 0.25 at the pause against 0.28 elsewhere; flagged
    # 22 % of the rows at the pause against 48 % joined.)
    assert split.decision_scores_[at_the_pause].max() < split.decision_scores_[~at_the_pause].max()
    assert split.labels_[at_the_pause].mean() < joined.labels_[at_the_pause].mean() / 2
    # rows dismissed in a stretch too short for a window leave nothing to remember
    reviewed = np.zeros(len(X), dtype=bool)
    reviewed[700:710] = True
    short = STKDDetector(**params).fit(X, known_normal=reviewed, breaks=[700, 710])
    assert short.review_refs_ is None
    assert np.isfinite(short.decision_function(X[:100])).all()
    # the rows view has no windows to keep apart, so breaks change nothing there
    rows = {"steps": (60, 100, 60), "shards": 2, "rounds": 1, "random_state": 0}
    np.testing.assert_array_equal(
        STKDDetector(**rows).fit(X, breaks=[700]).decision_scores_,
        STKDDetector(**rows).fit(X).decision_scores_,
    )


def test_dismissed_rows_stop_a_windows_line_alarming_on_the_same_state(tmp_path: Path):
    """In the windows view a few dismissed rows pinned no window (a window is pinned only when
    all its rows are known normal); the review memory holds the windows covering them."""
    import copy

    X, kind = sensor_series_with_a_minor_mode()
    mode_stretches = [slice(s, s + 40) for s in (400, 900, 1100)]  # not the one reviewed
    dismissed = np.zeros(len(X), dtype=bool)
    dismissed[[150, 160, 170, 180, 189]] = True  # five alarms across the first stretch
    det = STKDDetector(
        view="windows", window=16, stride=4, steps=(60, 120, 80), shards=2, rounds=2,
        random_state=0,
    ).fit(X, known_normal=dismissed)  # fmt: skip
    forgetful = copy.copy(det)
    forgetful.review_refs_ = None
    raw = forgetful.decision_function(X)
    raw_flags = raw > np.percentile(raw, 90)  # what the same model flagged without the memory
    assert min(raw_flags[s].mean() for s in mode_stretches) > 0.15
    assert max(det.labels_[s].mean() for s in mode_stretches) <= 0.1
    assert (det.decision_scores_ <= raw + 1e-9).all()  # the cap never raises a score
    # the threshold is the model's own: the dismissals take alarms away and hand none on, and
    # the fault, unlike anything reviewed, alarms as before
    assert det.threshold_ == pytest.approx(np.percentile(raw, 90))
    assert det.labels_.mean() < raw_flags.mean() - 0.05
    np.testing.assert_array_equal(det.labels_[kind == 2], raw_flags[kind == 2])
    np.testing.assert_array_equal(det.decision_function(X), det.decision_scores_)
    save_detector(det, tmp_path / "m")
    np.testing.assert_array_equal(
        load_detector(tmp_path / "m").decision_function(X), det.decision_scores_
    )


def test_teacher_verdict_is_a_robust_z_on_the_teacher_pool():
    from detectors.stkd.purification import teacher_verdict

    rng = np.random.default_rng(0)
    err = rng.gamma(2.0, size=500)
    pool = np.arange(250)  # the teacher trained on these
    err[400:] += 20.0  # samples the teacher reconstructs badly (never in its pool)
    v = teacher_verdict(err, pool, 1.0)
    assert abs(np.median(v[pool])) < 1e-9
    assert np.median(np.abs(v[pool])) == pytest.approx(1 / 1.4826, rel=1e-6)
    assert v[400:].min() > v[:400].max()
    np.testing.assert_allclose(teacher_verdict(err, pool, 2.0), 2.0 * v)
    assert not teacher_verdict(err, pool, 0.0).any()


def test_teacher_verdict_drives_exclusion(data, monkeypatch):
    """Rows the teacher condemns are left out of training, whatever the students think."""
    import detectors.stkd.detector as stkd_mod

    X, _ = data
    condemned = np.arange(40)  # ordinary rows: the students alone would keep most of them
    calls: list[float] = []

    def verdict(err, pool, weight):
        calls.append(weight)
        out = np.zeros(len(err))
        out[condemned] = 1e3 * weight
        return out

    monkeypatch.setattr(stkd_mod, "teacher_verdict", verdict)
    # The mode guard is off: it would rightly spare these rows, which sit in the crowded bulk.
    judged = STKDDetector(**{**FAST, "mode_guard_k": 0}).fit(X)
    assert calls == [1.0]
    assert not judged.training_mask_[condemned].any()
    guarded = STKDDetector(**FAST).fit(X)
    assert guarded.training_mask_[condemned].mean() > 0.5

    calls.clear()
    alone = STKDDetector(**{**FAST, "judge_weight": 0.0, "mode_guard_k": 0}).fit(X)
    assert calls == []  # no verdict asked for
    assert alone.training_mask_[condemned].mean() > 0.5

    calls.clear()
    STKDDetector(**{**FAST, "teacher": "random"}).fit(X)
    assert calls == []  # a random teacher has no reconstruction to judge with


@pytest.mark.parametrize(("kd_target", "distilled"), [("random", "random"), ("teacher", "seed")])
def test_kd_target_picks_the_encoder_students_distil(data, monkeypatch, kd_target, distilled):
    """The seed teacher always judges; the students distil it or a frozen random encoder."""
    import detectors.stkd.detector as stkd_mod

    X, _ = data
    built: list[tuple[str, object]] = []
    verdicts: list[float] = []
    real_build, real_verdict = stkd_mod.build_teacher, stkd_mod.teacher_verdict

    def build(kind, *args, **kwargs):
        encoder, ae = real_build(kind, *args, **kwargs)
        built.append((kind, encoder))
        return encoder, ae

    def verdict(err, pool, weight):
        verdicts.append(weight)
        return real_verdict(err, pool, weight)

    monkeypatch.setattr(stkd_mod, "build_teacher", build)
    monkeypatch.setattr(stkd_mod, "teacher_verdict", verdict)
    det = STKDDetector(**{**FAST, "kd_target": kd_target}).fit(X)
    expected = ["seed", "random"] if distilled == "random" else ["seed"]
    assert [kind for kind, _ in built] == expected
    assert verdicts == [1.0]
    assert det.teacher_ is dict(built)[distilled]


def test_unknown_kd_target_is_rejected(data):
    X, _ = data
    with pytest.raises(ValueError, match="kd_target"):
        STKDDetector(kd_target="seed").fit(X)


def test_the_mode_guard_keeps_a_minor_operating_mode_in_training():
    X, kind = plant_with_a_minor_mode()
    unguarded = STKDDetector(**{**FAST, "mode_guard_k": 0}).fit(X)
    guarded = STKDDetector(**FAST).fit(X)
    # Without the guard self-training empties the mode round by round and then flags it.
    assert (~unguarded.training_mask_[kind == 1]).mean() > 0.9
    assert unguarded.labels_[kind == 1].mean() > 0.3
    # With it the mode stays in training and mostly unflagged; the faults still go.
    assert (~guarded.training_mask_[kind == 1]).mean() < 0.2
    assert guarded.labels_[kind == 1].mean() < 0.2
    assert (~guarded.training_mask_[kind == 2]).mean() > 0.9
    assert sum(r.get("spared", 0) for r in guarded.purification_trace_) > 0


def test_the_mode_guard_keeps_a_minor_mode_of_a_windows_line_in_training():
    from detectors.stkd.windows import window_starts, windows_touching, windows_within

    X, kind = sensor_series_with_a_minor_mode(stretch=60)  # 20 % of the rows
    starts = window_starts(len(X), 16, 4)
    mode = windows_within(kind == 1, starts, 16)
    fault = windows_touching(kind == 2, starts, 16)
    params = {"view": "windows", "window": 16, "stride": 4, "steps": (60, 120, 80)}
    params |= {"shards": 2, "rounds": 2, "random_state": 0}
    # with the KD term in the rounds' z (eta 0.5, the default until 2026-12-08) self-training
    # drops the mode: the case the guard is for
    kd_scored = {**params, "eta": 0.5}
    unguarded = STKDDetector(**kd_scored, mode_guard_k=0).fit(X)
    guarded = STKDDetector(**kd_scored).fit(X)
    assert (~unguarded.training_mask_[mode]).mean() > 0.25  # self-training drops the mode
    assert (~guarded.training_mask_[mode]).mean() < 0.1
    assert sum(r.get("spared", 0) for r in guarded.purification_trace_) > 0
    assert (~guarded.training_mask_[fault]).mean() >= (~unguarded.training_mask_[fault]).mean()
    # the defaults keep most of the mode too, and take far more fault windows out of training
    default = STKDDetector(**params).fit(X)
    assert (~default.training_mask_[mode]).mean() < 0.2
    assert (~default.training_mask_[fault]).mean() > (~guarded.training_mask_[fault]).mean() + 0.15


def test_dismissed_false_alarms_stop_their_near_duplicates_alarming(tmp_path: Path):
    # A 3 % mode is below what the mode guard protects: every row of it is flagged.
    X, kind = plant_with_a_minor_mode(mode_share=0.03)
    mode = np.flatnonzero(kind == 1)
    assert STKDDetector(**FAST).fit(X).labels_[mode].mean() > 0.9
    dismissed = np.zeros(len(X), dtype=bool)
    dismissed[mode[:5]] = True  # an engineer dismisses five of those alarms
    rest = mode[5:]
    forgetful = STKDDetector(**{**FAST, "review_memory": False}).fit(X, known_normal=dismissed)
    assert forgetful.labels_[rest].mean() > 0.9  # five rows among 1,500 barely move the model
    remembering = STKDDetector(**FAST).fit(X, known_normal=dismissed)
    assert remembering.labels_[rest].mean() < 0.1
    assert remembering.labels_[kind == 2].mean() > 0.9  # faults far from every review still go
    # the memory only scores: the same model, the same threshold, and the dismissed alarms are
    # gone rather than handed to other rows
    assert remembering.threshold_ == forgetful.threshold_
    assert remembering.labels_.sum() <= forgetful.labels_.sum() - len(rest) * 0.8
    save_detector(remembering, tmp_path / "m")
    loaded = load_detector(tmp_path / "m")
    np.testing.assert_array_equal(loaded.decision_function(X), remembering.decision_function(X))


def test_the_nearest_review_wins_between_a_dismissal_and_a_confirmed_fault():
    import copy

    from detectors.stkd.anomaly_map import knn_distance

    X, kind = plant_with_a_minor_mode(mode_share=0.03)
    mode = np.flatnonzero(kind == 1)
    dismissed, confirmed = np.zeros(len(X), dtype=bool), np.zeros(len(X), dtype=bool)
    dismissed[mode[:5]], confirmed[mode[5:10]] = True, True
    det = STKDDetector(**FAST).fit(X, known_normal=dismissed, known_anomaly=confirmed)
    uncapped = copy.copy(det)
    uncapped.review_refs_ = None
    raw = uncapped.decision_function(X)
    Xs = det._scale(det._check_X(X))
    to_dismissed = knn_distance(Xs, det.review_refs_, 1, skip_self=False)
    nearer_a_fault = knn_distance(Xs, det.confirmed_refs_, 1, skip_self=False) < to_dismissed
    assert nearer_a_fault[mode[10:]].any() and (~nearer_a_fault[mode[10:]]).any()
    loc, sc, reach = det.review_stats_
    beyond = to_dismissed > reach
    assert beyond[kind == 2].all() and (~beyond[mode]).mean() > 0.9  # faults lie past the fence
    capped = np.where(beyond, raw, np.minimum(raw, (to_dismissed - loc) / sc))
    expected = np.where(nearer_a_fault, raw, capped)
    np.testing.assert_allclose(det.decision_function(X), expected, rtol=1e-6, atol=1e-9)


@pytest.mark.slow
def test_dismissed_false_alarms_do_not_silence_faults_unlike_them():
    """Measured on the demo's conveyor-c: an unbounded cap cut next-day recall from 66 % to 28 %."""
    from datetime import UTC, date, datetime

    from app.demo.simulator import generate_day, generate_history
    from app.demo.specs import get_demo_line

    line = get_demo_line("conveyor-c")
    history = generate_history(line, datetime(2026, 11, 22, tzinfo=UTC), 14, 7)
    next_day = generate_day(line, date(2026, 12, 6), 7)
    X = history.frame.drop(columns="timestamp").to_numpy(float)
    X_next = next_day.frame.drop(columns="timestamp").to_numpy(float)
    faulty, faulty_next = history.truth.is_anomaly.to_numpy(), next_day.truth.is_anomaly.to_numpy()
    params = {"contamination": "auto", "random_state": 0}
    first = STKDDetector(**params).fit(X)
    false_alarms = np.flatnonzero(first.labels_.astype(bool) & ~faulty)
    dismissed = np.zeros(len(X), dtype=bool)
    dismissed[false_alarms[:50]] = True  # the first fifty, as an engineer meets them

    def caught(det: STKDDetector) -> float:
        return float((det.decision_function(X_next) > det.threshold_)[faulty_next].mean())

    remembering = STKDDetector(**params).fit(X, known_normal=dismissed)
    forgetful = STKDDetector(**params, review_memory=False).fit(X, known_normal=dismissed)
    assert caught(remembering) >= caught(forgetful) - 0.05
    assert not remembering.labels_[dismissed].any()  # and what was dismissed stays dismissed
    assert forgetful.labels_[dismissed].mean() > 0.5


def test_mode_guard_spares_only_flagged_rows_in_crowded_regions():
    from detectors.stkd.purification import ModeGuard

    crowding = np.array([1.0, 1.0, 1.0, 1.0, 1.1, 9.0, 1.0, 1.0])
    asked: list[int] = []

    def crowding_of(idx):
        asked.extend(int(i) for i in idx)
        return crowding[idx]

    excluded = np.array([False, False, False, False, True, True, True, False])
    forbidden = np.array([False, False, False, False, False, False, True, False])
    guard = ModeGuard(crowding_of, len(crowding), 0.9)
    # Kept rows all have crowding 1.0: row 4 (1.1) and row 5 (9.0) are sparser, so stay out.
    assert guard.spare(excluded, forbidden).tolist() == excluded.tolist()
    assert sorted(asked) == [0, 1, 2, 3, 4, 5, 7]  # never the forbidden row
    asked.clear()
    assert guard.spare(excluded, forbidden).tolist() == excluded.tolist()
    assert asked == []  # cached across rounds

    crowding[4] = 0.9  # now as crowded as the kept rows: spared; row 6 is forbidden
    guard = ModeGuard(lambda idx: crowding[idx], len(crowding), 0.9)
    out = guard.spare(excluded, forbidden)
    assert out.tolist() == [False, False, False, False, False, True, True, False]


def test_mode_guard_takes_the_bound_from_a_sample_of_a_large_kept_pool():
    from detectors.stkd.purification import ModeGuard

    n = 10_000
    crowding = np.linspace(0.0, 1.0, n)
    excluded = np.zeros(n, dtype=bool)
    excluded[[100, 9_990]] = True
    asked: list[int] = []

    def crowding_of(idx):
        asked.extend(int(i) for i in idx)
        return crowding[idx]

    out = ModeGuard(crowding_of, n, 0.9, sample=500, seed=0).spare(excluded, np.zeros(n, bool))
    assert len(asked) <= 502
    assert not out[100] and out[9_990]  # crowded one spared; the sparse one stays out


def test_auto_contamination_sets_the_threshold_and_purifies_as_the_default_prior():
    """The estimate is too rough to steer the exclusions (README.md, "What 'auto' steers")."""
    from detectors.stkd.detector import DEFAULT_CONTAMINATION

    X, _ = contaminated(n=1500, share=0.03, seed=5)
    auto = STKDDetector(**{**FAST, "contamination": "auto"}).fit(X)
    given = STKDDetector(**{**FAST, "contamination": DEFAULT_CONTAMINATION}).fit(X)
    assert [r.get("rho") for r in auto.purification_trace_] == [
        r.get("rho") for r in given.purification_trace_
    ]
    np.testing.assert_array_equal(auto.training_mask_, given.training_mask_)
    np.testing.assert_array_equal(auto.decision_scores_, given.decision_scores_)
    # ... and only the flagged share follows the data
    assert auto.contamination_estimate_ != DEFAULT_CONTAMINATION
    assert auto.labels_.mean() == pytest.approx(auto.contamination_estimate_, abs=0.01)
    assert given.labels_.mean() == pytest.approx(DEFAULT_CONTAMINATION, abs=0.01)
