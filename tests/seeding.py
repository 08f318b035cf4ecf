"""Small, realistic data for service tests, written the way ingest writes it (bulk inserts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from app.services.lines import LineSpec, create_line
from db.engine import unit_of_work
from db.models import Batch, ModelVersion, Sample

START = datetime(2026, 11, 1, tzinfo=UTC)


def plant_with_a_minor_mode(n: int = 1500, d: int = 8, mode_share: float = 0.12, seed: int = 0):
    """Main operating state, a tight minor mode (e.g. low speed) and scattered faults.

    Returns X and the kind of each row (0 main, 1 minor mode, 2 fault), for asserts only.
    """
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(3, d))
    X = rng.normal(size=(n, 3)) @ mix + 0.3 * rng.normal(size=(n, d))
    kind = np.zeros(n, dtype=int)
    order = rng.permutation(n)
    n_mode, n_fault = int(mode_share * n), int(0.05 * n)
    mode, fault = order[:n_mode], order[n_mode : n_mode + n_fault]
    X[mode] = 0.5 * rng.normal(size=(n_mode, 3)) @ mix + 0.3 * rng.normal(size=(n_mode, d)) + 4.0
    X[fault] = rng.uniform(-8, 8, size=(n_fault, d))
    kind[mode], kind[fault] = 1, 2
    return X, kind


def correlated_rows(
    n: int, d: int, anomaly_share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows on a low-dimensional manifold; anomalies break the correlation structure."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 2))
    mixing = rng.normal(size=(2, d))
    X = latent @ mixing + 0.1 * rng.normal(size=(n, d))
    labels = np.zeros(n, dtype=bool)
    idx = rng.choice(n, size=int(round(anomaly_share * n)), replace=False)
    X[idx] += rng.normal(scale=3.0, size=(len(idx), d))
    labels[idx] = True
    return X.astype(np.float32), labels


def _three_coupled_sensors(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Three sinusoidal sensors in time order, and the sinusoid that couples them."""
    t = np.arange(n)
    base = np.sin(2 * np.pi * t / 50)
    X = np.stack([base, 0.5 * base + 0.1 * np.cos(2 * np.pi * t / 25), -base], axis=1)
    X += 0.05 * rng.normal(size=X.shape)
    return X, base


def sensor_series(n: int = 1500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three sinusoidal sensors in time order; rows 900-1199 are a faulty segment in which the
    third sensor loses its coupling to the others and vibrates. Returns X and the 0/1 labels."""
    rng = np.random.default_rng(seed)
    X, base = _three_coupled_sensors(n, rng)
    y = np.zeros(n, dtype=int)
    seg = slice(900, 1200)
    X[seg, 2] = base[seg] + 0.4 * rng.normal(size=300)
    y[seg] = 1
    return X, y


def a_line_that_resumes_after_a_pause() -> np.ndarray:
    """``sensor_series``' three sensors: 700 rows, a pause, then 800 rows that resume at
    another phase of the cycle (as a line does after a stop)."""
    X, _ = _three_coupled_sensors(5813, np.random.default_rng(0))
    return np.vstack([X[:700], X[5013:]])


def sensor_series_with_a_minor_mode(
    n: int = 1200, stretch: int = 40, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``sensor_series``' three sensors with four ``stretch``-row stretches of a minor mode (the
    line at low speed: smaller swings around other levels; 13 % of the rows at 40) and a faulty
    segment (rows 600-699, the third sensor decoupled). Returns X and the kind of each row
    (0 main, 1 minor mode, 2 fault), for asserts only."""
    rng = np.random.default_rng(seed)
    X, base = _three_coupled_sensors(n, rng)
    kind = np.zeros(n, dtype=int)
    for start in (150, 400, 900, 1100):
        seg = slice(start, start + stretch)
        X[seg] = 0.3 * X[seg] + np.array([2.0, 1.5, -2.0])
        kind[seg] = 1
    seg = slice(600, 700)
    X[seg, 2] = base[seg] + 0.4 * rng.normal(size=100)
    kind[seg] = 2
    return X, kind


def seed_line(
    factory: sessionmaker[Session],
    name: str,
    X: np.ndarray,
    *,
    start: datetime = START,
    step: timedelta = timedelta(minutes=1),
    detector: str = "iforest",
    batches: int = 1,
    contamination: float | None = 0.05,
) -> tuple[int, list[int]]:
    """Create a line holding ``X`` split into ``batches`` batches; returns (line id, batch ids)."""
    columns = tuple(f"s{j}" for j in range(X.shape[1]))
    batch_ids: list[int] = []
    with unit_of_work(factory) as session:
        line = create_line(
            session,
            LineSpec(
                name=name, feature_columns=columns, detector=detector, contamination=contamination
            ),
        )
        for b, chunk in enumerate(np.array_split(np.arange(len(X)), batches)):
            batch = Batch(
                line_id=line.id,
                source="test",
                filename=f"{name}-{b}.csv",
                sha256=f"{name}-{b}".ljust(64, "0")[:64],
                raw_path="",
                size_bytes=0,
                n_received=len(chunk),
                n_accepted=len(chunk),
                first_ts=start + step * int(chunk[0]),
                last_ts=start + step * int(chunk[-1]),
            )
            session.add(batch)
            session.flush()
            batch_ids.append(batch.id)
            session.execute(
                insert(Sample),
                [
                    {
                        "line_id": line.id,
                        "batch_id": batch.id,
                        "row_number": int(i) + 1,
                        "ts": start + step * int(i),
                        "values": {c: float(X[i, j]) for j, c in enumerate(columns)},
                    }
                    for i in chunk
                ],
            )
        return line.id, batch_ids


def add_model(
    session: Session,
    line_id: int,
    version: int = 1,
    *,
    threshold: float = 0.5,
    features: tuple[str, ...] = ("x",),
    detector: str = "stkd",
) -> int:
    """A model version row with a placeholder artifact, for tests that only need scores' owner."""
    model = ModelVersion(
        line_id=line_id,
        version=version,
        detector=detector,
        threshold=threshold,
        feature_columns=list(features),
        artifact_path="a",
        artifact_sha256="0" * 64,
    )
    session.add(model)
    session.flush()
    return model.id


def a_steady_reading_held_off_in_a_third_of_the_rows(
    n: int = 900, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Two load-driven readings, a temperature and a flow that holds its set-point (noise 0.03);
    in a random 35 % of the rows a fault holds the flow 1.0 lower, every other reading as usual
    (SKAB's closed valve in miniature). Returns X and the 0/1 labels, for asserts only."""
    rng = np.random.default_rng(seed)
    load = rng.uniform(3.0, 10.0, n)
    X = np.column_stack([load, 2.0 * load, 40 + rng.normal(0, 2.0, n), np.full(n, 10.0)])
    X[:, :3] += rng.normal(0, 0.15, (n, 3))
    X[:, 3] += rng.normal(0, 0.03, n)
    y = np.zeros(n, dtype=int)
    fault = rng.permutation(n)[: int(0.35 * n)]
    y[fault] = 1
    X[fault, 3] -= 1.0
    return X, y


def rows_with_a_fault_state_for_a_third_of_them(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two load-driven readings and a temperature; the last 35 % of the rows hold one tight
    fault state (the second reading at 60 % of its usual share), as dense as normal running.
    The first 20 % are all normal, a window an engineer could vouch for."""
    rng = np.random.default_rng(seed)
    n, n_fault = 1500, 525
    load = rng.uniform(3.0, 10.0, n)
    X = np.column_stack([load, 2.0 * load, 40 + rng.normal(0, 2.0, n)])
    X += rng.normal(0, 0.15, X.shape)
    y = np.zeros(n, dtype=int)
    y[-n_fault:] = 1
    X[-n_fault:, 1] *= 0.6
    return X, y
