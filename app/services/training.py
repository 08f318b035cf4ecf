"""Train a line's detector on its recent data, with reviewers' verdicts as feedback.

The heavy part (``fit``) runs outside any database transaction: one short unit of work reads
the training window, another records the result. A run that fails or is killed in between
leaves the previous active model untouched; the artifact folder is renamed into place only
when complete.
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.services.artifacts import write_artifact
from app.services.dataset import LineMatrix, current_verdicts, feedback_masks, load_samples
from app.services.errors import ValidationError
from app.services.lines import get_line
from app.services.models import activate
from app.services.scoring import context_length, line_scores
from app.services.stretches import pause_breaks
from app.services.thresholds import active_model
from db.engine import unit_of_work
from db.models import GroundTruth, Line, LineView, ModelStatus, ModelVersion, Sample, as_utc

log = logging.getLogger(__name__)

MIN_TRAIN_ROWS = 100
DEFAULT_BASELINE_CONTAMINATION = 0.05
# A new model whose flagged share on recent data exceeds this multiple of its contamination
# estimate (plus a small absolute slack) is kept as a candidate, not activated.
FLAG_SHARE_FACTOR = 2.5
FLAG_SHARE_SLACK = 0.05
AUTO_CONTAMINATION_DETECTORS = frozenset({"stkd"})


@dataclass(frozen=True)
class TrainOutcome:
    line: str
    model_version_id: int
    version: int
    detector: str
    status: ModelStatus
    status_reason: str
    n_train: int
    n_known_normal: int
    n_known_anomaly: int
    contamination: float | None
    threshold: float
    seconds: float


@dataclass(frozen=True)
class _CheckResult:
    passed: bool
    reason: str
    metrics: dict[str, Any]
    advisory: bool = False
    """Failed only the recent-flag-share check: the model works but finds recent data unusual
    (often an operating regime the window saw little of), so it may serve a line that has no
    other model; a broken model (too few rows, non-finite scores) never does."""


@dataclass(frozen=True)
class _TrainingData:
    line_id: int
    line_name: str
    detector: str
    params: dict[str, Any]
    view: LineView
    contamination: float | None
    matrix: LineMatrix
    known_normal: np.ndarray
    known_anomaly: np.ndarray
    truth: np.ndarray | None
    reference: np.ndarray | None  # rows inside the line's trusted clean window
    pause_steps: float  # Settings.pause_steps: where a time-ordered series pauses


MIN_REFERENCE_ROWS = 8


def _training_window(
    session: Session, line: Line, now: datetime
) -> tuple[datetime | None, datetime | None]:
    newest = session.scalar(select(func.max(Sample.ts)).where(Sample.line_id == line.id))
    if newest is None:
        return None, None
    end = min(as_utc(newest), now)
    return end - timedelta(days=line.training_window_days), end


def _ground_truth(session: Session, sample_ids: np.ndarray) -> np.ndarray | None:
    """Demo labels for evaluation metrics only; never passed to a detector."""
    if len(sample_ids) == 0:
        return None
    lo, hi = int(sample_ids.min()), int(sample_ids.max())
    rows = session.execute(
        select(GroundTruth.sample_id, GroundTruth.is_anomaly).where(
            GroundTruth.sample_id.between(lo, hi)
        )
    ).all()
    if not rows:
        return None
    lookup = dict(rows)
    if not all(int(i) in lookup for i in sample_ids):
        return None
    return np.fromiter((lookup[int(i)] for i in sample_ids), bool, len(sample_ids))


def _read_training_data(
    session: Session,
    line_name: str,
    detector: str | None,
    params: dict[str, Any] | None,
    now: datetime,
    pause_steps: float,
) -> _TrainingData:
    line = get_line(session, line_name)
    start, end = _training_window(session, line, now)
    matrix = load_samples(session, line, start=start, end=end)
    matrix, reference = _with_reference_window(session, line, matrix, start)
    known_normal, known_anomaly = feedback_masks(
        matrix.sample_ids, current_verdicts(session, line.id)
    )
    return _TrainingData(
        line_id=line.id,
        line_name=line.name,
        detector=detector or line.detector,
        params=dict(line.detector_params if params is None else params),
        view=line.view,
        contamination=line.contamination,
        matrix=matrix,
        known_normal=known_normal,
        known_anomaly=known_anomaly,
        truth=_ground_truth(session, matrix.sample_ids),
        reference=reference,
        pause_steps=pause_steps,
    )


def _with_reference_window(
    session: Session, line: Line, matrix: LineMatrix, start: datetime | None
) -> tuple[LineMatrix, np.ndarray | None]:
    """The training rows with the line's trusted clean window among them, and its row mask.

    A window older than the rolling training window is loaded as well and put first (it is
    bounded by its own span), so naming commissioning week keeps working months later; the gap
    between the two is a pause, so no sliding window of a windows line spans it.
    """
    ref_start, ref_end = line.reference_start, line.reference_end
    if ref_start is None or ref_end is None:
        return matrix, None
    ref_start, ref_end = as_utc(ref_start), as_utc(ref_end)
    if start is not None and ref_start < start:
        older = load_samples(session, line, start=ref_start, end=min(ref_end, start))
        matrix = matrix.after(older.take(~np.isin(older.sample_ids, matrix.sample_ids)))
    inside = np.fromiter(
        (t is not None and ref_start <= t <= ref_end for t in matrix.timestamps),  # aware UTC
        dtype=bool,
        count=len(matrix),
    )
    return matrix, inside


def build_detector(
    name: str,
    params: dict[str, Any],
    view: LineView,
    contamination: float | None,
    reference: bool = False,
) -> Any:
    """Create the detector with the line's settings mapped onto what that detector accepts.

    A line without a stated contamination lets detectors that can estimate it do so
    (``contamination="auto"``); the others get a conservative default. A line with a trusted
    clean window (``reference``) gets a teacher trained on it where the detector has one.
    """
    from detectors import create_detector

    kwargs = dict(params)
    accepted = set(inspect.signature(type(create_detector(name)).__init__).parameters)
    if "contamination" not in kwargs:
        if contamination is not None:
            kwargs["contamination"] = contamination
        elif name in AUTO_CONTAMINATION_DETECTORS:
            kwargs["contamination"] = "auto"
        else:
            kwargs["contamination"] = DEFAULT_BASELINE_CONTAMINATION
    if "view" in accepted:
        kwargs.setdefault("view", view.value)
    if "random_state" in accepted:
        kwargs.setdefault("random_state", 0)
    if reference and "teacher" in accepted:
        kwargs.setdefault("teacher", "reference")
    return create_detector(name, **kwargs)


def _fit(detector: Any, data: _TrainingData) -> np.ndarray:
    """Fit with feedback; returns the boolean mask of rows the detector was given.

    A trusted clean window reaches detectors that take a ``reference_mask`` (STKD: the window
    and the dismissed rows are its pool; the other rows only set its threshold).
    Every other detector trains on the window and the dismissed rows alone: on a line where a
    fault fills much of the data, that is the clean training set the engineer vouched for.
    """
    X = data.matrix.X
    fit_params = inspect.signature(detector.fit).parameters
    takes_feedback = "known_normal" in fit_params and "known_anomaly" in fit_params
    if data.reference is not None and not (takes_feedback and "reference_mask" in fit_params):
        vouched = (data.reference | data.known_normal) & ~data.known_anomaly
        detector.fit(X[vouched])
        return vouched
    if takes_feedback:
        extra: dict[str, Any] = {}
        if "breaks" in fit_params:  # time-ordered: no training window across a pause
            extra["breaks"] = pause_breaks(data.matrix.timestamps, data.pause_steps)
        if data.reference is not None:
            usable = int((data.reference & ~data.known_anomaly).sum())
            if usable < MIN_REFERENCE_ROWS:
                raise ValidationError(
                    f"Line {data.line_name!r}: its trusted clean window holds {usable} usable "
                    f"samples; at least {MIN_REFERENCE_ROWS} are needed. Ingest data for that "
                    "span or clear the window on the Models page."
                )
            extra["reference_mask"] = data.reference
        detector.fit(X, known_normal=data.known_normal, known_anomaly=data.known_anomaly, **extra)
        return ~data.known_anomaly
    # Detectors without feedback support: confirmed anomalies are simply left out.
    keep = ~data.known_anomaly
    detector.fit(X[keep])
    return keep


def _contamination_of(detector: Any) -> float | None:
    for attr in ("contamination_estimate_", "contamination"):
        value = getattr(detector, attr, None)
        if isinstance(value, int | float) and math.isfinite(value):
            return float(value)
    return None


def _checks(
    detector: Any, data: _TrainingData, n_train: int, contamination: float | None
) -> _CheckResult:
    metrics: dict[str, Any] = {}
    if n_train < MIN_TRAIN_ROWS:
        reason = f"trained on {n_train} rows; at least {MIN_TRAIN_ROWS} are needed"
        return _CheckResult(False, reason, metrics)
    train_scores = np.asarray(detector.decision_scores_, dtype=float)
    if not np.all(np.isfinite(train_scores)) or not math.isfinite(float(detector.threshold_)):
        return _CheckResult(False, "the model produced non-finite scores", metrics)
    n_recent = max(MIN_TRAIN_ROWS, len(data.matrix) // 10)
    # Time-ordered detectors get the rows before the recent ones as context, as in scoring.
    recent = data.matrix.tail(n_recent + context_length(detector))
    history = len(recent) - min(n_recent, len(recent))
    recent_scores = line_scores(detector, recent, history, data.pause_steps)
    if not np.all(np.isfinite(recent_scores)):
        return _CheckResult(False, "the model produced non-finite scores on recent data", metrics)
    share = float(np.mean(recent_scores >= float(detector.threshold_)))
    metrics["recent_flag_share"] = share
    expected = contamination if contamination is not None else DEFAULT_BASELINE_CONTAMINATION
    limit = min(0.5, FLAG_SHARE_FACTOR * expected + FLAG_SHARE_SLACK)
    metrics["recent_flag_share_limit"] = limit
    if share > limit:
        reason = (
            f"it flags {share:.1%} of the most recent data, more than the sane limit "
            f"{limit:.1%} for a contamination estimate of {expected:.1%}"
        )
        if data.reference is not None:
            reason += "; the line's trusted clean window may miss an operating mode of that data"
        return _CheckResult(False, reason, metrics, advisory=True)
    return _CheckResult(True, "passed checks", metrics)


def _evaluation(detector: Any, data: _TrainingData) -> dict[str, Any]:
    """Metrics on reviewed samples and, for the demo plant, on its ground truth."""
    metrics: dict[str, Any] = {}
    reviewed = data.known_normal | data.known_anomaly
    everything: np.ndarray | None = None
    if reviewed.any():
        if context_length(detector):  # a time-ordered model scores rows in their series
            everything = line_scores(detector, data.matrix, 0, data.pause_steps)
            scores = everything[reviewed]
        else:
            scores = np.asarray(detector.decision_function(data.matrix.X[reviewed]), dtype=float)
        flagged = scores >= float(detector.threshold_)
        anomaly = data.known_anomaly[reviewed]
        metrics["reviewed"] = int(reviewed.sum())
        metrics["confirmed_flagged"] = int((flagged & anomaly).sum())
        metrics["dismissed_flagged"] = int((flagged & ~anomaly).sum())
    if data.truth is not None and 0 < data.truth.sum() < len(data.truth):
        from sklearn.metrics import average_precision_score, roc_auc_score

        if everything is None:
            everything = line_scores(detector, data.matrix, 0, data.pause_steps)
        scores = everything
        metrics["ground_truth_roc_auc"] = float(roc_auc_score(data.truth, scores))
        metrics["ground_truth_ap"] = float(average_precision_score(data.truth, scores))
    return metrics


def _trace_of(detector: Any) -> list[Any]:
    trace = getattr(detector, "purification_trace_", None) or []
    return [
        {key: value for key, value in round_.items() if key != "excluded_indices"}
        | {"n_excluded": len(round_.get("excluded_indices", []))}
        for round_ in trace
    ]


def train_line(
    factory: sessionmaker[Session],
    settings: Settings,
    line_name: str,
    *,
    detector: str | None = None,
    params: dict[str, Any] | None = None,
    now: datetime | None = None,
    activate_if_ok: bool = True,
) -> TrainOutcome:
    """Train a new model version for the line; activate it only if it passes the checks."""
    import torch

    torch.set_num_threads(settings.torch_threads)
    now = now or datetime.now(UTC)
    started = time.perf_counter()
    with unit_of_work(factory) as session:
        data = _read_training_data(session, line_name, detector, params, now, settings.pause_steps)
    if len(data.matrix) == 0:
        raise ValidationError(f"Line {line_name!r} has no samples to train on; ingest data first.")

    model = build_detector(
        data.detector, data.params, data.view, data.contamination, data.reference is not None
    )
    try:
        trained_on = _fit(model, data)
    except ValueError as err:  # the detector's own input checks; say which line, not a traceback
        raise ValidationError(f"Line {line_name!r} could not be trained: {err}") from err
    n_train = int(trained_on.sum())
    contamination = _contamination_of(model)
    checks = _checks(model, data, n_train, contamination)
    metrics = {**checks.metrics, **_evaluation(model, data)}
    if data.reference is not None:
        metrics["reference_window_rows"] = int(data.reference.sum())
    seconds = time.perf_counter() - started
    metrics["fit_seconds"] = seconds

    with unit_of_work(factory) as session:
        version = 1 + (
            session.scalar(
                select(func.max(ModelVersion.version)).where(ModelVersion.line_id == data.line_id)
            )
            or 0
        )
        stored_params = (
            {k: v for k, v in model.get_params().items() if _is_json_value(v)}
            if hasattr(model, "get_params")
            else {}
        )
        path, checksum = write_artifact(
            settings,
            data.line_name,
            version,
            model,
            {
                "detector": data.detector,
                "params": stored_params,
                "features": data.matrix.feature_columns,
            },
        )
        timestamps = [t for t in data.matrix.timestamps if t is not None]
        row = ModelVersion(
            line_id=data.line_id,
            version=version,
            detector=data.detector,
            params=stored_params,
            status=ModelStatus.CANDIDATE,
            status_reason=checks.reason if not checks.passed else "trained",
            train_start=min(timestamps) if timestamps else None,
            train_end=max(timestamps) if timestamps else None,
            n_train=n_train,
            n_known_normal=int(data.known_normal.sum()),
            n_known_anomaly=int(data.known_anomaly.sum()),
            contamination=contamination,
            threshold=float(model.threshold_),
            feature_columns=list(data.matrix.feature_columns),
            trace=_trace_of(model),
            metrics=metrics,
            artifact_path=str(path),
            artifact_sha256=checksum,
        )
        session.add(row)
        session.flush()
        if checks.passed and activate_if_ok:
            activate(session, row, f"activated after training: {checks.reason}")
        elif checks.advisory and activate_if_ok and active_model(session, data.line_id) is None:
            activate(
                session,
                row,
                f"activated as the line's first model although {checks.reason}: with no other "
                "model the line would not be monitored at all; review its flags",
            )
        elif not checks.passed:
            row.status_reason = f"kept as candidate: {checks.reason}"
        log.info("line %s: trained v%d (%s)", data.line_name, version, row.status_reason)
        return TrainOutcome(
            line=data.line_name,
            model_version_id=row.id,
            version=version,
            detector=data.detector,
            status=row.status,
            status_reason=row.status_reason,
            n_train=n_train,
            n_known_normal=row.n_known_normal,
            n_known_anomaly=row.n_known_anomaly,
            contamination=contamination,
            threshold=row.threshold,
            seconds=seconds,
        )


def _is_json_value(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | list | tuple | dict)
