"""Saving and loading fitted detectors.

Layout of a saved directory::

    manifest.json         {"format", "version", "detector", "files": {name: sha256}}
    STKD:      stkd.json            hyperparameters + fitted numpy state (JSON, no pickle)
               weights.safetensors  teacher and student state dicts, training scores
    other KD trainers (beta_kd, mix_kd, xtime, pse), through their ``kdmon_state()`` /
    ``from_kdmon_state()`` protocol:
               kd.json              parameters + fitted numpy state (JSON)
               weights.safetensors  their tensors
    baselines: model.joblib         the fitted PyOD object (joblib = pickle!)

STKD never uses pickle. PyOD baselines do (joblib), and unpickling runs code, so
``load_detector`` always checks every file against the sha256 in the manifest, and the app must
also pass ``expected_sha256`` = the ``detector_checksum`` it recorded in its database when the
model was written: that is what protects against a swapped directory, not the manifest itself.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from detectors.baselines import BASELINES
from detectors.registry import KD_TRAINERS
from detectors.stkd.detector import STKDDetector

FORMAT = "kdmon-detector"
VERSION = 1
_FITTED_ARRAYS = ("center_", "scale_", "feature_median_", "feature_scale_")
_FITTED_VALUES = (
    "n_features_in_",
    "hidden_",
    "latent_dim_",
    "teacher_dim_",
    "score_stats_",
    "knn_stats_",
    "gauss_stats_",
    "threshold_",
    "contamination_estimate_",
    "contamination_method_",
    "purification_trace_",
    "fit_seconds_",
    "_mu",
    "_sigma",
    "_classes",
)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _registry_name(detector: Any) -> str:
    if isinstance(detector, STKDDetector):
        return "stkd"
    for name, (cls, _) in {**KD_TRAINERS, **BASELINES}.items():
        if type(detector) is cls:
            return name
    raise TypeError(f"cannot save {type(detector).__name__}: not a registered kdmon detector")


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def detector_checksum(directory: Path) -> str:
    """sha256 of the manifest, which itself pins the sha256 of every other file."""
    return _sha256(Path(directory) / "manifest.json")


def save_detector(detector: Any, directory: Path) -> None:
    """Write a fitted detector to ``directory`` (created if missing)."""
    if not hasattr(detector, "decision_scores_"):
        raise ValueError("only fitted detectors can be saved; call fit(X) first")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = _registry_name(detector)
    if name == "stkd":
        files = _save_stkd(detector, directory)
    elif name in KD_TRAINERS:
        files = _save_kd_trainer(detector, directory)
    else:
        import joblib

        joblib.dump(detector, directory / "model.joblib")
        files = ["model.joblib"]
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "detector": name,
        "files": {f: _sha256(directory / f) for f in files},
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def load_detector(directory: Path, expected_sha256: str | None = None) -> Any:
    """Load a detector written by ``save_detector``; verifies checksums before reading."""
    directory = Path(directory)
    if expected_sha256 is not None and detector_checksum(directory) != expected_sha256:
        raise ValueError(f"manifest checksum mismatch in {directory}; refusing to load")
    manifest = json.loads((directory / "manifest.json").read_text())
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise ValueError(f"{directory} is not a kdmon detector directory (version {VERSION})")
    for fname, digest in manifest["files"].items():
        if _sha256(directory / fname) != digest:
            raise ValueError(f"{fname} does not match its recorded sha256; refusing to load")
    if manifest["detector"] == "stkd":
        return _load_stkd(directory)
    if manifest["detector"] in KD_TRAINERS:
        return _load_kd_trainer(manifest["detector"], directory)
    import joblib

    return joblib.load(directory / "model.joblib")


def _save_stkd(det: STKDDetector, directory: Path) -> list[str]:
    params = _jsonable(det.get_params(deep=False))
    fitted: dict[str, Any] = {k: _jsonable(getattr(det, k)) for k in _FITTED_VALUES}
    for k in _FITTED_ARRAYS:
        fitted[k] = [float(v) for v in getattr(det, k)]
    fitted["n_students"] = len(det.students_)
    fitted["review_stats_"] = det.review_stats_
    state = {"stkd": {"params": params, "fitted": fitted}}
    (directory / "stkd.json").write_text(json.dumps(state, indent=1))
    tensors: dict[str, torch.Tensor] = {}
    for k, v in det.teacher_.state_dict().items():
        tensors[f"teacher.{k}"] = v.detach().cpu().contiguous()
    for j, student in enumerate(det.students_):
        for k, v in student.state_dict().items():
            tensors[f"student{j}.{k}"] = v.detach().cpu().contiguous()
    tensors["fitted.decision_scores"] = torch.from_numpy(np.asarray(det.decision_scores_))
    tensors["fitted.training_mask"] = torch.from_numpy(det.training_mask_.astype(np.uint8))
    if det.gauss_mu_ is not None:
        tensors["fitted.gauss_mu"] = torch.from_numpy(np.ascontiguousarray(det.gauss_mu_))
        tensors["fitted.gauss_precision"] = torch.from_numpy(
            np.ascontiguousarray(det.gauss_precision_)
        )
    if det.knn_refs_ is not None:
        tensors["fitted.knn_refs"] = det.knn_refs_.contiguous()
    if det.knn_frame_ is not None:
        lo, span, soft = det.knn_frame_
        tensors["fitted.knn_lo"] = torch.from_numpy(np.ascontiguousarray(lo))
        tensors["fitted.knn_span"] = torch.from_numpy(np.ascontiguousarray(span))
        tensors["fitted.knn_soft"] = torch.tensor([soft], dtype=torch.float64)
    if getattr(det, "edge_quantiles_", None) is not None:
        tensors["fitted.edge_quantiles"] = torch.from_numpy(
            np.ascontiguousarray(det.edge_quantiles_)
        )
    for name in ("review_refs", "confirmed_refs"):
        if getattr(det, f"{name}_") is not None:
            tensors[f"fitted.{name}"] = getattr(det, f"{name}_").contiguous()
    save_file(tensors, str(directory / "weights.safetensors"))
    return ["stkd.json", "weights.safetensors"]


def _load_stkd(directory: Path) -> STKDDetector:
    from detectors.stkd.torch_model import TeacherEncoder

    state = json.loads((directory / "stkd.json").read_text())["stkd"]
    params = state["params"]
    # Written before ``kd_target`` existed: those students distilled the seed teacher.
    params.setdefault("kd_target", "teacher")
    # Written before the operating-mode guard existed: those pools were purified without it.
    params.setdefault("mode_guard_k", 0)
    # Written before the angular kNN term: their kNN term measured robust-scaled rows.
    params.setdefault("knn_space", "euclid")
    # Written before the MAD unit: their stored scaling was IQR-based.
    params.setdefault("spread", "iqr")
    params["steps"] = tuple(params["steps"])
    if params.get("hidden") is not None:
        params["hidden"] = tuple(params["hidden"])
    if str(params.get("device", "cpu")).startswith("cuda") and not torch.cuda.is_available():
        params["device"] = "cpu"  # a model trained on a GPU still scores on a CPU-only host
    det = STKDDetector(**params)
    fitted = state["fitted"]
    for k in _FITTED_VALUES:
        setattr(det, k, fitted[k])
    for k in _FITTED_ARRAYS:
        setattr(det, k, np.asarray(fitted[k], dtype=np.float64))
    tensors = load_file(str(directory / "weights.safetensors"))
    ae = det._make_autoencoder()
    teacher = TeacherEncoder(ae.encoder, det.latent_dim_)
    teacher.load_state_dict(_prefixed(tensors, "teacher."))
    det.teacher_ = teacher.eval()
    det.students_ = []
    for j in range(int(fitted["n_students"])):
        student = det._make_student()
        student.load_state_dict(_prefixed(tensors, f"student{j}."))
        det.students_.append(student.eval())
    det.decision_scores_ = tensors["fitted.decision_scores"].numpy().astype(np.float64)
    det.training_mask_ = tensors["fitted.training_mask"].numpy().astype(bool)
    det.knn_refs_ = tensors.get("fitted.knn_refs")
    det.knn_frame_ = None  # written before the angular kNN term: Euclidean (knn_space below)
    if "fitted.knn_lo" in tensors:
        det.knn_frame_ = (
            tensors["fitted.knn_lo"].numpy(),
            tensors["fitted.knn_span"].numpy(),
            float(tensors["fitted.knn_soft"].item()),
        )
    # Written before reviewed normals capped the score: such a model has no review references.
    det.review_refs_ = tensors.get("fitted.review_refs")
    det.confirmed_refs_ = tensors.get("fitted.confirmed_refs")
    det.review_stats_ = fitted.get("review_stats_", [0.0, 1.0, 0.0])
    # Written before a windows model calibrated the rows near a series' ends: none to apply.
    edges = tensors.get("fitted.edge_quantiles")
    det.edge_quantiles_ = None if edges is None else edges.numpy()
    det.gauss_mu_ = det.gauss_precision_ = None
    if "fitted.gauss_mu" in tensors:
        det.gauss_mu_ = tensors["fitted.gauss_mu"].numpy()
        det.gauss_precision_ = tensors["fitted.gauss_precision"].numpy()
    det.labels_ = (det.decision_scores_ > det.threshold_).astype(int).ravel()
    return det


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def _save_kd_trainer(detector: Any, directory: Path) -> list[str]:
    meta, tensors = detector.kdmon_state()
    (directory / "kd.json").write_text(json.dumps(_jsonable(meta), indent=1))
    save_file(
        {k: v.detach().cpu().contiguous() for k, v in tensors.items()},
        str(directory / "weights.safetensors"),
    )
    return ["kd.json", "weights.safetensors"]


def _load_kd_trainer(name: str, directory: Path) -> Any:
    cls, _ = KD_TRAINERS[name]
    meta = json.loads((directory / "kd.json").read_text())
    return cls.from_kdmon_state(meta, load_file(str(directory / "weights.safetensors")))
