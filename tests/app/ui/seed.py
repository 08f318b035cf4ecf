"""A small, realistic plant for dashboard tests: users, one line, scored samples, reviews.

Written straight through the models (bulk inserts) so the tests do not depend on the ingest,
training or scoring services, which other people own and change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from app.services.auth import hash_password
from db.engine import unit_of_work
from db.models import (
    Batch,
    GroundTruth,
    JobRun,
    Line,
    ModelStatus,
    ModelVersion,
    Role,
    RunStatus,
    Sample,
    Score,
    User,
)
from db.rollup import add_scores

PASSWORD = "correct-horse-9"
USERS = {"ada": Role.ADMIN, "rita": Role.REVIEWER, "vic": Role.VIEWER}
FEATURES = ["pressure", "temperature", "vibration"]
THRESHOLD = 0.8
RISK_HORIZON = 30
CANDIDATE_REASON = "kept as candidate: 31% of recent samples flagged, above the 10% limit"


def stkd_trace(n_train: int, rounds: int = 3) -> list[dict[str, object]]:
    """A purification trace as training stores it: STKD's rounds, indices replaced by counts."""
    trace: list[dict[str, object]] = []
    for r in [*range(rounds), "final"]:
        excluded = 4 * (r + 1) if isinstance(r, int) else 4 * rounds
        trace.append(
            {
                "round": r,
                "shards": 4 if isinstance(r, int) else 2,
                "trained_on": n_train - (excluded - 4 if isinstance(r, int) else excluded),
                "rho": 0.01 * (r + 1) if isinstance(r, int) else None,
                "kept": n_train - excluded,
                "excluded": excluded,
                "n_excluded": excluded,
                "score_quantiles": {"q50": 0.1, "q95": 0.5 + 0.02 * excluded, "q99": 0.9},
                "seconds": 0.5,
            }
        )
    return trace


def risk_of(i: int, flagged: bool) -> float:
    """The extreme-event risk a ``risk=True`` seed stores for its i-th sample."""
    return 0.9 if flagged else 0.05 + (i % 10) / 100


@cache
def password_hash() -> str:
    """Argon2 costs ~0.5 s a hash on a small CI box: hash the shared test password once."""
    return hash_password(PASSWORD)


@dataclass(frozen=True)
class Seeded:
    line_id: int
    model_version_id: int
    sample_ids: list[int]
    flagged_ids: list[int]  # highest score first
    now: datetime


def seed_plant(
    factory: sessionmaker[Session],
    *,
    n_samples: int = 120,
    flag_every: int = 10,
    now: datetime | None = None,
    line_name: str = "press-1",
    with_users: bool = True,
    ground_truth: bool = True,
    candidate: bool = False,
    risk: bool = False,
) -> Seeded:
    """One line with ``n_samples`` samples a minute apart, every ``flag_every``-th flagged.

    ``candidate`` adds a newer v2 that failed its checks and was kept as a candidate; ``risk``
    makes the model an xtime one whose scores carry an extreme-event risk (``risk_of``).
    """
    now = now or datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(minutes=n_samples)
    with unit_of_work(factory) as session:
        if with_users:
            session.add_all(
                User(
                    username=name,
                    role=role,
                    password_hash=password_hash(),
                    active=True,
                    failed_logins=0,
                )
                for name, role in USERS.items()
            )
        line = Line(
            name=line_name,
            description="Hydraulic press",
            feature_columns=FEATURES,
            units={"pressure": "bar", "temperature": "degC", "vibration": "mm/s"},
            timestamp_column="timestamp",
        )
        session.add(line)
        session.flush()
        batch = Batch(
            line_id=line.id,
            source="cli",
            filename="day1.csv",
            sha256=f"{line.id:064d}",
            raw_path="raw/day1.csv",
            size_bytes=1000,
            n_received=n_samples,
            n_accepted=n_samples,
            first_ts=start,
            last_ts=now,
            scored_at=now,
        )
        model = ModelVersion(
            line_id=line.id,
            version=1,
            detector="xtime" if risk else "stkd",
            status=ModelStatus.ACTIVE,
            threshold=THRESHOLD,
            feature_columns=FEATURES,
            artifact_path="models/v1",
            artifact_sha256="0" * 64,
            params={"random_state": 0, "risk_horizon": RISK_HORIZON}
            if risk
            else {"random_state": 0, "rounds": 3},
            status_reason="trained",
            train_start=start - timedelta(days=30),
            train_end=start,
            n_train=5000,
            n_known_normal=12,
            n_known_anomaly=3,
            trace=stkd_trace(5000),
            metrics={"recent_flag_share": 0.08, "fit_seconds": 42.0},
            activated_at=now - timedelta(days=1),
            created_at=now - timedelta(days=1),
        )
        session.add_all([batch, model])
        if candidate:
            session.add(
                ModelVersion(
                    line_id=line.id,
                    version=2,
                    detector="stkd",
                    status=ModelStatus.CANDIDATE,
                    status_reason=CANDIDATE_REASON,
                    threshold=0.7,
                    feature_columns=FEATURES,
                    artifact_path="models/v2",
                    artifact_sha256="1" * 64,
                    params={"random_state": 0, "rounds": 3},
                    train_start=start - timedelta(days=30),
                    train_end=now,
                    n_train=5120,
                    n_known_normal=14,
                    n_known_anomaly=4,
                    trace=stkd_trace(5120),
                    metrics={"recent_flag_share": 0.31, "recent_flag_share_limit": 0.1},
                    created_at=now - timedelta(hours=2),
                )
            )
        session.flush()
        samples = []
        for i in range(n_samples):
            flagged = i % flag_every == flag_every - 1
            samples.append(
                {
                    "line_id": line.id,
                    "batch_id": batch.id,
                    "row_number": i + 1,
                    "ts": start + timedelta(minutes=i),
                    "values": {
                        "pressure": 100.0 + (i % 7) + (40.0 if flagged else 0.0),
                        "temperature": 60.0 + (i % 5) * 0.5,
                        "vibration": 2.0 + (i % 3) * 0.1,
                    },
                    "repaired": False,
                }
            )
        session.execute(insert(Sample), samples)
        ids = list(
            session.scalars(select(Sample.id).where(Sample.line_id == line.id).order_by(Sample.id))
        )
        scores = []
        flagged_ids = []
        for i, sample_id in enumerate(ids):
            flagged = i % flag_every == flag_every - 1
            score = 0.85 + i / (n_samples * 100) if flagged else 0.1 + (i % 13) / 100
            if flagged:
                flagged_ids.append(sample_id)
            scores.append(
                {
                    "sample_id": sample_id,
                    "line_id": line.id,
                    "model_version_id": model.id,
                    "ts": samples[i]["ts"],
                    "score": score,
                    "threshold": THRESHOLD,
                    "flagged": flagged,
                    "top_features": [
                        {"feature": "pressure", "contribution": 0.7 if flagged else 0.1},
                        {"feature": "vibration", "contribution": 0.2},
                    ],
                    "scored_at": now,
                    "extreme_risk": risk_of(i, flagged) if risk else None,
                }
            )
        session.execute(insert(Score), scores)
        add_scores(session, scores)  # as every score writer does, so long timelines see them
        if ground_truth:
            session.execute(
                insert(GroundTruth),
                [
                    {
                        "sample_id": sid,
                        "is_anomaly": sid in flagged_ids[:-1] or i == 0,
                        "fault_kind": "spike" if sid in flagged_ids else None,
                    }
                    for i, sid in enumerate(ids)
                ],
            )
        session.add_all(
            [
                JobRun(
                    job="retrain",
                    line_id=line.id,
                    trigger="schedule",
                    status=RunStatus.SUCCEEDED,
                    queued_at=now - timedelta(days=1),
                    finished_at=now - timedelta(days=1),
                    model_version_id=model.id,
                ),
                JobRun(
                    job="score",
                    line_id=line.id,
                    trigger="schedule",
                    status=RunStatus.FAILED,
                    queued_at=now - timedelta(minutes=5),
                    finished_at=now - timedelta(minutes=4),
                    error="ValueError: column 'pressure' missing\ntraceback...",
                ),
            ]
        )
        line_id, model_id = line.id, model.id
    flagged_ids.reverse()  # highest score first
    return Seeded(line_id, model_id, ids, flagged_ids, now)
