"""Score new batches with the line's active model and store scores, flags and top features.

Each batch is scored in its own unit of work, with the model that is active when that batch
is scored; score rows name the model version that made them. Time-ordered lines scored as
windows get the samples just before the batch as context, so windows straddling a batch
boundary are scored like any other, and each stretch between pauses is scored on its own
(``stretches``): no window joins rows from either side of a stop. Detectors that forecast
extreme events (``extreme_risk``) also store each row's risk; the hourly score rollup is
updated in the batch's transaction.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.services.artifacts import load_artifact
from app.services.dataset import LineMatrix, load_context_before, load_samples
from app.services.lines import get_line
from app.services.stretches import pause_breaks, score_by_stretch
from app.services.thresholds import active_model, current_threshold
from db.bulk import bulk_insert
from db.engine import unit_of_work
from db.models import Batch, Line, ModelVersion, Score
from db.rollup import add_scores

log = logging.getLogger(__name__)

TOP_FEATURES = 3
_MODEL_CACHE_SIZE = 8


@dataclass(frozen=True)
class ScoreOutcome:
    line: str
    model_version: int | None
    batches_scored: int
    samples_scored: int
    samples_flagged: int
    skipped_reason: str = ""
    batch_ids: list[int] = field(default_factory=list)


class ModelCache:
    """Loaded detectors keyed by model version id, so a worker loads each version once."""

    def __init__(self, size: int = _MODEL_CACHE_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[int, Any] = OrderedDict()

    def get(self, model: ModelVersion) -> Any:
        if model.id in self._items:
            self._items.move_to_end(model.id)
            return self._items[model.id]
        detector = load_artifact(Path(model.artifact_path), model.artifact_sha256)
        self._items[model.id] = detector
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return detector


def context_length(detector: Any) -> int:
    """How many earlier samples a windowed detector needs to score a batch's first rows."""
    windowed = getattr(detector, "view", "rows") == "windows"
    if not (windowed or getattr(detector, "time_ordered", False)):
        return 0
    return max(0, int(getattr(detector, "window", 1)) - 1)


def top_features(
    contributions: np.ndarray, columns: tuple[str, ...], k: int = TOP_FEATURES
) -> list[list[dict]]:
    order = np.argsort(-contributions, axis=1)[:, :k]
    return [
        [
            {"feature": columns[j], "contribution": round(float(contributions[i, j]), 6)}
            for j in order[i]
        ]
        for i in range(len(contributions))
    ]


def score_matrix(
    detector: Any, matrix: LineMatrix, context: LineMatrix, pause_steps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and per-feature contributions for ``matrix``'s rows (context rows dropped)."""
    from detectors import score_and_explain

    series = matrix.after(context)

    def both(rows: np.ndarray, history: int) -> np.ndarray:
        scores, shares = score_and_explain(detector, rows)
        return np.column_stack([scores, shares])[history:]

    breaks = _breaks(detector, series, pause_steps)
    joined = score_by_stretch(both, series.X, breaks, len(context))
    return joined[:, 0], joined[:, 1:]


def line_scores(
    detector: Any, series: LineMatrix, n_context: int, pause_steps: float
) -> np.ndarray:
    """Scores of ``series``' rows after its first ``n_context`` (their history), as the
    scoring job computes them: each stretch between pauses on its own."""

    def scores(rows: np.ndarray, history: int) -> np.ndarray:
        return np.asarray(detector.decision_function(rows), dtype=float)[history:]

    return score_by_stretch(scores, series.X, _breaks(detector, series, pause_steps), n_context)


def _breaks(detector: Any, series: LineMatrix, pause_steps: float) -> np.ndarray:
    """Pauses matter only to detectors that read rows together with the rows before them."""
    if context_length(detector) == 0:
        return np.zeros(0, dtype=np.int64)
    return pause_breaks(series.timestamps, pause_steps)


def extreme_risk(
    detector: Any, matrix: LineMatrix, context: LineMatrix, pause_steps: float
) -> np.ndarray | None:
    """Each row's risk of an extreme event ahead, or None for detectors that do not forecast.

    The context rows go in as ``context``, so a batch's first rows see the same history as
    when their scores were computed (none after a pause).
    """
    method = getattr(detector, "extreme_risk", None)
    if not callable(method):
        return None
    series = matrix.after(context)

    def risks(rows: np.ndarray, history: int) -> np.ndarray:
        past = rows[:history] if history else None
        return np.asarray(method(rows[history:], context=past), dtype=float).reshape(-1)

    breaks = _breaks(detector, series, pause_steps)
    return score_by_stretch(risks, series.X, breaks, len(context))


def write_scores(session: Session, rows: list[dict[str, Any]]) -> None:
    """Store score rows and fold them into the hourly rollup, in the caller's transaction.

    COPY on PostgreSQL, driver-level executemany on SQLite: a nightly rescoring writes a
    line's whole history, and per-row ORM work would dominate it.
    """
    bulk_insert(session, Score.__table__, rows)  # type: ignore[arg-type]
    add_scores(session, rows)


def _score_batch(
    session: Session,
    line: Line,
    batch: Batch,
    model: ModelVersion,
    threshold: float,
    cache: ModelCache,
    pause_steps: float,
) -> tuple[int, int]:
    detector = cache.get(model)
    matrix = load_samples(session, line, batch_id=batch.id)
    if len(matrix):
        first_ts = next((t for t in matrix.timestamps if t is not None), None)
        context = load_context_before(session, line, first_ts, context_length(detector))
        scores, contributions = score_matrix(detector, matrix, context, pause_steps)
        features = top_features(contributions, matrix.feature_columns)
        risks = extreme_risk(detector, matrix, context, pause_steps)
        risk_values = [None] * len(scores) if risks is None else [float(r) for r in risks]
        now = datetime.now(UTC)
        rows = [
            {
                "sample_id": int(sample_id),
                "line_id": line.id,
                "model_version_id": model.id,
                "ts": ts,
                "score": float(score),
                "threshold": threshold,
                "flagged": bool(score >= threshold),
                "top_features": feats,
                "scored_at": now,
                "extreme_risk": risk,
            }
            for sample_id, ts, score, feats, risk in zip(
                matrix.sample_ids, matrix.timestamps, scores, features, risk_values, strict=True
            )
        ]
        write_scores(session, rows)
    batch.scored_at = datetime.now(UTC)
    flagged = int(np.sum(scores >= threshold)) if len(matrix) else 0
    return len(matrix), flagged


def unscored_batch_ids(session: Session, line_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Batch.id)
            .where(Batch.line_id == line_id, Batch.scored_at.is_(None))
            .order_by(Batch.first_ts, Batch.id)
        )
    )


def score_line(
    factory: sessionmaker[Session],
    settings: Settings,
    line_name: str,
    *,
    batch_ids: list[int] | None = None,
    cache: ModelCache | None = None,
) -> ScoreOutcome:
    """Score the line's unscored batches (or the given ones) with its active model."""
    cache = cache or ModelCache()
    with unit_of_work(factory) as session:
        line = get_line(session, line_name)
        model = active_model(session, line.id)
        if model is None:
            return ScoreOutcome(line.name, None, 0, 0, 0, "the line has no active model yet")
        pending = batch_ids if batch_ids is not None else unscored_batch_ids(session, line.id)
        line_id, version = line.id, model.version
    scored = flagged = 0
    done: list[int] = []
    for batch_id in pending:
        # One unit of work per batch: a failure leaves earlier batches scored, this one not.
        with unit_of_work(factory) as session:
            line = session.get(Line, line_id)
            batch = session.get(Batch, batch_id)
            model = active_model(session, line_id)
            threshold = current_threshold(session, line_id)
            if batch is None or line is None or model is None or threshold is None:
                continue
            n, f = _score_batch(
                session, line, batch, model, threshold.value, cache, settings.pause_steps
            )
            version = model.version
        scored += n
        flagged += f
        done.append(batch_id)
        log.info("line %s: scored batch %d (%d samples, %d flagged)", line_name, batch_id, n, f)
    return ScoreOutcome(line_name, version, len(done), scored, flagged, batch_ids=done)
