"""Typed SQLAlchemy 2.0 models for kdmon's domain.

One schema for SQLite and PostgreSQL: no dialect-only types, UTC timestamps, JSON through
``sqlalchemy.JSON``. Every schema change goes through an Alembic migration in
``db/migrations/versions``; a test checks that the models and the migrations agree.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT for the big tables.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC, the convention everywhere in kdmon."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no timezone type and hands back naive values; this stores UTC and always
    returns aware UTC datetimes, so no reader has to guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Role(enum.StrEnum):
    VIEWER = "viewer"
    REVIEWER = "reviewer"
    ADMIN = "admin"


class Verdict(enum.StrEnum):
    CONFIRMED = "confirmed"  # a real anomaly: never trained on again
    DISMISSED = "dismissed"  # a false alarm: pinned as normal in training
    UNSURE = "unsure"


class ModelStatus(enum.StrEnum):
    CANDIDATE = "candidate"  # trained, not (yet) serving; status_reason says why
    ACTIVE = "active"
    RETIRED = "retired"


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class LineView(enum.StrEnum):
    ROWS = "rows"  # each sample is scored on its own
    WINDOWS = "windows"  # time-ordered stream: samples are sliding windows


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(
        cls,
        native_enum=False,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Line(Base):
    """A production line or asset group with its feature schema and training settings."""

    __tablename__ = "line"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    feature_columns: Mapped[list[Any]] = mapped_column(JSON)
    units: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    timestamp_column: Mapped[str | None] = mapped_column(String(120))
    view: Mapped[LineView] = mapped_column(_enum(LineView), default=LineView.ROWS)
    detector: Mapped[str] = mapped_column(String(40), default="stkd")
    detector_params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    contamination: Mapped[float | None] = mapped_column(Float)  # None: estimated ("auto")
    retrain_cron: Mapped[str] = mapped_column(String(120), default="0 2 * * *")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    schedule_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    training_window_days: Mapped[int] = mapped_column(Integer, default=30)
    # A span the engineers vouch for as fault-free (e.g. commissioning): the next retrain learns
    # normal from it (app/services/training.py). Both set or both None.
    reference_start: Mapped[datetime | None]
    reference_end: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Batch(Base):
    """One ingested file (or simulator batch); the raw bytes are kept under ``raw_path``."""

    __tablename__ = "batch"
    __table_args__ = (UniqueConstraint("line_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("line.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(20))  # upload, inbox, cli, demo
    filename: Mapped[str] = mapped_column(String(400))
    sha256: Mapped[str] = mapped_column(String(64))
    raw_path: Mapped[str] = mapped_column(String(1000))
    size_bytes: Mapped[int] = mapped_column(BigId)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    n_received: Mapped[int] = mapped_column(Integer, default=0)
    n_accepted: Mapped[int] = mapped_column(Integer, default=0)
    n_repaired: Mapped[int] = mapped_column(Integer, default=0)
    n_rejected: Mapped[int] = mapped_column(Integer, default=0)
    first_ts: Mapped[datetime | None]
    last_ts: Mapped[datetime | None]
    scored_at: Mapped[datetime | None] = mapped_column(index=True)

    line: Mapped[Line] = relationship()


class Sample(Base):
    """One accepted row: its features as a JSON object keyed by the line's column names."""

    __tablename__ = "sample"
    __table_args__ = (Index("ix_sample_line_ts", "line_id", "ts"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("line.id", ondelete="CASCADE"))
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id", ondelete="CASCADE"), index=True)
    row_number: Mapped[int] = mapped_column(Integer)  # 1-based data row in the source file
    ts: Mapped[datetime | None]
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
    repaired: Mapped[bool] = mapped_column(Boolean, default=False)


class QuarantinedRow(Base):
    """A rejected input row with the reason, so nothing is lost silently."""

    __tablename__ = "quarantined_row"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id", ondelete="CASCADE"), index=True)
    row_number: Mapped[int] = mapped_column(Integer)
    column: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text, default="")


class GroundTruth(Base):
    """Known fault labels (demo plant only): for evaluation panels, never for training."""

    __tablename__ = "ground_truth"

    sample_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("sample.id", ondelete="CASCADE"), primary_key=True
    )
    is_anomaly: Mapped[bool] = mapped_column(Boolean)
    fault_kind: Mapped[str | None] = mapped_column(String(40))


class ModelVersion(Base):
    """A trained detector for a line; artifacts are immutable and checksummed."""

    __tablename__ = "model_version"
    __table_args__ = (UniqueConstraint("line_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("line.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    detector: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[ModelStatus] = mapped_column(_enum(ModelStatus), default=ModelStatus.CANDIDATE)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    train_start: Mapped[datetime | None]
    train_end: Mapped[datetime | None]
    n_train: Mapped[int] = mapped_column(Integer, default=0)
    n_known_normal: Mapped[int] = mapped_column(Integer, default=0)
    n_known_anomaly: Mapped[int] = mapped_column(Integer, default=0)
    contamination: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    feature_columns: Mapped[list[Any]] = mapped_column(JSON)
    trace: Mapped[list[Any]] = mapped_column(JSON, default=list)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    artifact_path: Mapped[str] = mapped_column(String(1000))
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[datetime | None]


class ThresholdVersion(Base):
    """Every threshold a line's active model has used; the newest row is in force."""

    __tablename__ = "threshold_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("line.id", ondelete="CASCADE"), index=True)
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_version.id", ondelete="CASCADE")
    )
    value: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(120), default="system")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Score(Base):
    """A sample's score under one model version; line and time are copied for fast timelines."""

    __tablename__ = "score"
    __table_args__ = (
        UniqueConstraint("sample_id", "model_version_id"),
        Index("ix_score_line_ts", "line_id", "ts"),
        Index("ix_score_line_flagged", "line_id", "flagged", "score"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sample_id: Mapped[int] = mapped_column(BigId, ForeignKey("sample.id", ondelete="CASCADE"))
    line_id: Mapped[int] = mapped_column(ForeignKey("line.id", ondelete="CASCADE"))
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_version.id", ondelete="CASCADE"), index=True
    )
    ts: Mapped[datetime | None]
    score: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    flagged: Mapped[bool] = mapped_column(Boolean)
    top_features: Mapped[list[Any]] = mapped_column(JSON, default=list)
    scored_at: Mapped[datetime] = mapped_column(default=utcnow)
    # P(extreme event within the detector's risk horizon); NULL for detectors without one.
    extreme_risk: Mapped[float | None] = mapped_column(Float)


class ScoreRollup(Base):
    """Hourly aggregates of one model's scores on one line, for long-range timelines.

    A whole-history chart reads a few thousand of these rows instead of millions of scores.
    Kept in step with ``score`` by ``db.rollup`` inside the transaction that writes or
    re-flags the scores; ``bucket_hour`` counts whole hours since 1970-01-01 UTC, an integer
    so that both databases group it the same way.
    """

    __tablename__ = "score_rollup"

    line_id: Mapped[int] = mapped_column(
        ForeignKey("line.id", ondelete="CASCADE"), primary_key=True
    )
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_version.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    bucket_hour: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(Integer)
    n_flagged: Mapped[int] = mapped_column(Integer)
    min_score: Mapped[float] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)
    sum_score: Mapped[float] = mapped_column(Float)
    max_risk: Mapped[float | None] = mapped_column(Float)


class Review(Base):
    """A reviewer's verdict; append-only, the newest row per sample is the current verdict."""

    __tablename__ = "review"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sample_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("sample.id", ondelete="CASCADE"), index=True
    )
    verdict: Mapped[Verdict] = mapped_column(_enum(Verdict))
    comment: Mapped[str | None] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    role: Mapped[Role] = mapped_column(_enum(Role))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class JobRun(Base):
    """A unit of work: queued by the scheduler or a person, claimed and run by a worker."""

    __tablename__ = "job_run"
    __table_args__ = (
        Index("ix_job_run_status_queued", "status", "queued_at"),
        # The same scheduled firing enqueued twice (two schedulers by mistake) is one run.
        UniqueConstraint("dedupe_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job: Mapped[str] = mapped_column(String(40))  # retrain, score, ingest_inbox, report, prune
    line_id: Mapped[int | None] = mapped_column(ForeignKey("line.id", ondelete="SET NULL"))
    trigger: Mapped[str] = mapped_column(String(20))  # schedule or manual
    status: Mapped[RunStatus] = mapped_column(_enum(RunStatus), default=RunStatus.QUEUED)
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    worker: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    log_excerpt: Mapped[str | None] = mapped_column(Text)
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_version.id", ondelete="SET NULL")
    )
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Lease(Base):
    """A named lock with an expiry, held by one process (e.g. the one active scheduler)."""

    __tablename__ = "lease"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime]
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
