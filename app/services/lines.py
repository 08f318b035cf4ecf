"""Lines: create, look up and edit a production line's schema and training settings."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.services import audit
from app.services.auth import Actor, require
from app.services.errors import NotFoundError, ValidationError
from db.models import Line, LineView, Role, as_utc


@dataclass(frozen=True)
class LineSpec:
    """What a line looks like to kdmon; inferred from a first file or written by hand."""

    name: str
    feature_columns: tuple[str, ...]
    timestamp_column: str | None = "timestamp"
    units: dict[str, str] = field(default_factory=dict)
    description: str = ""
    view: LineView = LineView.ROWS
    detector: str = "stkd"
    detector_params: dict[str, Any] = field(default_factory=dict)
    contamination: float | None = None
    retrain_cron: str = "0 2 * * *"
    timezone: str = "UTC"


def with_default_schedule(spec: LineSpec, settings: Settings) -> LineSpec:
    """A new line retrains on the installation's default schedule (``KDMON_RETRAIN_CRON``)."""
    return replace(
        spec, retrain_cron=settings.default_retrain_cron, timezone=settings.scheduler_timezone
    )


def _validate(spec: LineSpec) -> None:
    if not spec.name.strip():
        raise ValidationError("A line needs a name.")
    if not spec.feature_columns:
        raise ValidationError(f"Line {spec.name!r} needs at least one feature column.")
    duplicates = {c for c in spec.feature_columns if spec.feature_columns.count(c) > 1}
    if duplicates:
        raise ValidationError(f"Line {spec.name!r} lists columns twice: {sorted(duplicates)}")
    if spec.timestamp_column and spec.timestamp_column in spec.feature_columns:
        raise ValidationError(
            f"Line {spec.name!r}: {spec.timestamp_column!r} cannot be both timestamp and feature."
        )
    if spec.contamination is not None:
        _check_contamination(spec.contamination, f"Line {spec.name!r}: contamination")


def _parse_contamination(value: float | str | None) -> float | None:
    """A share in (0, 0.5), or None for "auto" (the trainer estimates it)."""
    if value is None or str(value).strip().lower() == "auto":
        return None
    try:
        share = float(value)
    except ValueError as exc:
        raise ValidationError(
            f"Contamination must be a share in (0, 0.5) or 'auto', got {value!r}."
        ) from exc
    _check_contamination(share, "Contamination")
    return share


def _check_contamination(share: float, subject: str) -> None:
    """One range for a stated fault share, wherever a line gets one."""
    if not 0 < share < 0.5:
        raise ValidationError(f"{subject} must be in (0, 0.5), got {share}.")


def create_line(session: Session, spec: LineSpec) -> Line:
    _validate(spec)
    if find_line(session, spec.name) is not None:
        raise ValidationError(f"Line {spec.name!r} already exists.")
    line = Line(
        name=spec.name,
        description=spec.description,
        feature_columns=list(spec.feature_columns),
        units=dict(spec.units),
        timestamp_column=spec.timestamp_column,
        view=spec.view,
        detector=spec.detector,
        detector_params=dict(spec.detector_params),
        contamination=spec.contamination,
        retrain_cron=spec.retrain_cron,
        timezone=spec.timezone,
    )
    session.add(line)
    session.flush()
    return line


def ensure_line(session: Session, spec: LineSpec) -> Line:
    """Return the existing line of that name, or create it (re-running the demo is safe)."""
    existing = find_line(session, spec.name)
    return existing if existing is not None else create_line(session, spec)


def find_line(session: Session, name: str) -> Line | None:
    return session.scalar(select(Line).where(Line.name == name))


def get_line(session: Session, name_or_id: str | int) -> Line:
    if isinstance(name_or_id, int):
        line = session.get(Line, name_or_id)
    else:
        line = find_line(session, name_or_id)
    if line is None:
        known = ", ".join(list_line_names(session)) or "none yet"
        raise NotFoundError(f"No line {name_or_id!r}. Known lines: {known}.")
    return line


def list_lines(session: Session) -> list[Line]:
    return list(session.scalars(select(Line).order_by(Line.name)))


def list_line_names(session: Session) -> list[str]:
    return list(session.scalars(select(Line.name).order_by(Line.name)))


def set_line_view(session: Session, name: str, view: LineView) -> Line:
    line = get_line(session, name)
    line.view = view
    return line


def set_line_detector(
    session: Session, name: str, detector: str, params: dict[str, Any] | None = None
) -> Line:
    from detectors import available_detectors

    if detector not in available_detectors():
        raise ValidationError(
            f"Unknown detector {detector!r}; choose one of {', '.join(available_detectors())}."
        )
    line = get_line(session, name)
    line.detector = detector
    line.detector_params = dict(params or {})
    return line


# --- admin changes from the dashboard (role-checked and audited) ------------------------------


def _record_change(
    session: Session, actor: Actor, action: str, line: Line, before: Any, after: Any
) -> None:
    """Audit a setting that changed (an unchanged save leaves no event) and flush it."""
    if after != before:
        audit.record(
            session, actor.username, action, f"line:{line.name}", {"before": before, "after": after}
        )
    session.flush()


def change_line_detector(
    session: Session,
    actor: Actor,
    line: str | int,
    detector: str,
    params: dict[str, Any] | None = None,
) -> Line:
    """Choose the trainer a line's next retrain uses (admin); audited with before and after.

    The active model keeps serving until a retrain with the new detector passes its checks.
    """
    require(actor, Role.ADMIN)
    target = get_line(session, line)
    before = {"detector": target.detector, "params": dict(target.detector_params or {})}
    set_line_detector(session, target.name, detector, params)
    after = {"detector": target.detector, "params": dict(target.detector_params or {})}
    _record_change(session, actor, "line.detector", target, before, after)
    return target


def change_line_view(session: Session, actor: Actor, line: str | int, view: LineView | str) -> Line:
    """Switch a line between scoring single rows and sliding windows (admin); audited."""
    require(actor, Role.ADMIN)
    try:
        wanted = LineView(view)
    except ValueError as exc:
        choices = ", ".join(v.value for v in LineView)
        raise ValidationError(f"Unknown view {view!r}; choose one of {choices}.") from exc
    target = get_line(session, line)
    before = LineView(target.view)
    set_line_view(session, target.name, wanted)
    _record_change(session, actor, "line.view", target, before.value, wanted.value)
    return target


def change_line_contamination(
    session: Session, actor: Actor, line: str | int, contamination: float | str | None
) -> Line:
    """State a line's expected fault share, or "auto" / None to let the trainer estimate it
    (admin); audited. Applies from the next retrain.

    STKD's estimate is poor on heavily contaminated data (detectors/stkd/README.md), so an
    engineer who knows the fault share should be able to say it.
    """
    require(actor, Role.ADMIN)
    wanted = _parse_contamination(contamination)
    target = get_line(session, line)
    before = target.contamination
    target.contamination = wanted
    _record_change(session, actor, "line.contamination", target, before, wanted)
    return target


def change_line_reference_window(
    session: Session,
    actor: Actor,
    line: str | int,
    start: datetime | None,
    end: datetime | None,
) -> Line:
    """Name the span the engineers vouch for as fault-free, or clear it with None, None (admin);
    audited. Applies from the next retrain.

    The next retrain learns normal from that span and the dismissed alarms (STKD as its pool
    and scaling, other trainers as their whole training set): a fault that fills a third of the
    training data stays in any purified pool, and only a trusted span shows it up
    (detectors/stkd/README.md, "A named clean window"). Naive datetimes are UTC.
    """
    require(actor, Role.ADMIN)
    if (start is None) != (end is None):
        raise ValidationError("A trusted clean window needs both a start and an end (or neither).")
    if start is not None and end is not None:
        start, end = as_utc(start), as_utc(end)
        if not start < end:
            raise ValidationError(
                f"The trusted clean window must start before it ends, got {start:%Y-%m-%d %H:%M} "
                f"to {end:%Y-%m-%d %H:%M} UTC."
            )
    target = get_line(session, line)
    before = _window_text(target.reference_start, target.reference_end)
    target.reference_start, target.reference_end = start, end
    after = _window_text(start, end)
    _record_change(session, actor, "line.reference_window", target, before, after)
    return target


def _window_text(start: datetime | None, end: datetime | None) -> str | None:
    """The window as the audit log and the dashboard show it."""
    if start is None or end is None:
        return None
    return f"{as_utc(start).isoformat()} .. {as_utc(end).isoformat()}"
