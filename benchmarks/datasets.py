"""Benchmark datasets read in place from the shared data folder (never copied into the repo).

Groups: ``adbench`` (tabular), ``mvtec`` (ResNet18 image embeddings) and ``skab`` (valve1 sensor
runs). For SKAB the row-level baselines need context, so each row becomes trailing-window
features per sensor: the reading, the mean and the std over the last ``SKAB_TRAIL`` seconds
(causal: only past rows are used).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
SKAB_TRAIL = 16


def data_root() -> Path:
    """``$KDMON_SHARED_DATA`` or ``../shared/data`` relative to the repo root."""
    env = os.environ.get("KDMON_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    group: str
    path: Path


def list_datasets(root: Path | None = None) -> list[DatasetSpec]:
    """All benchmark datasets present under ``root``, in a stable order."""
    root = data_root() if root is None else root
    specs: list[DatasetSpec] = []
    for p in sorted((root / "adbench").glob("*.npz")):
        specs.append(DatasetSpec(p.stem, "adbench", p))
    for p in sorted((root / "mvtec_resnet18").glob("*.npz")):
        specs.append(DatasetSpec(p.stem.replace("MVTec-AD_", "mvtec_"), "mvtec", p))
    for p in sorted((root / "skab" / "valve1").glob("*.csv"), key=lambda q: int(q.stem)):
        specs.append(DatasetSpec(f"skab_valve1_{p.stem}", "skab", p))
    return specs


def read_skab(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Raw SKAB run in time order: sensor matrix (n, 8) and the anomaly label."""
    df = pd.read_csv(path, sep=";", parse_dates=["datetime"]).sort_values("datetime")
    y = df["anomaly"].to_numpy().astype(int)
    X = df.drop(columns=["datetime", "anomaly", "changepoint"]).to_numpy(dtype=np.float64)
    return X, y


def trailing_features(X: np.ndarray, window: int = SKAB_TRAIL) -> np.ndarray:
    """Per sensor: value, trailing mean and trailing std over the last ``window`` rows."""
    df = pd.DataFrame(X)
    roll = df.rolling(window, min_periods=1)
    mean = roll.mean().to_numpy()
    std = roll.std().fillna(0.0).to_numpy()
    return np.hstack([X, mean, std])


def load(spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) for a dataset; SKAB rows carry trailing-window features."""
    if spec.group == "skab":
        X, y = read_skab(spec.path)
        return trailing_features(X), y
    with np.load(spec.path) as f:
        return np.asarray(f["X"], dtype=np.float64), np.asarray(f["y"]).astype(int).ravel()
