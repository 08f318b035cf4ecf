"""The demo plant, end to end: simulated lines → ingest → train → score, plus demo logins.

Safe to run twice: a line that already holds data is not loaded again, a line with an active
model is not retrained, and only unscored batches are scored. Ground truth from the simulator
goes to its own table for the "how good were the flags" panel; detectors never see it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import func, insert, select
from tqdm import tqdm

from app.context import AppContext
from app.demo import DEMO_LINES, DemoBatch, generate_day, generate_history, write_batch_csv
from app.ingest import ingest_frame
from app.services.lines import LineSpec, ensure_line, get_line, with_default_schedule
from app.services.runs import jsonable, record_manual_run
from app.services.scoring import ModelCache, score_line
from app.services.thresholds import active_model
from app.services.training import train_line
from db.engine import unit_of_work
from db.models import GroundTruth, Role, Sample, User

log = logging.getLogger(__name__)

DEMO_PASSWORD = "kdmon-demo"
DEMO_USERS = (
    ("demo-admin", Role.ADMIN),
    ("demo-reviewer", Role.REVIEWER),
    ("demo-viewer", Role.VIEWER),
)


@dataclass(frozen=True)
class DemoOptions:
    days: float = 14.0
    seed: int = 7
    train: bool = True
    end_date: date | None = None
    """The history ends at this date's midnight (UTC); None: today. The simulated plant differs
    from day to day, so a pinned date gives the same demo on any day."""


@dataclass
class DemoSummary:
    lines: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)

    def headline(self) -> str:
        logins = ", ".join(self.users)
        return f"Demo plant ready: {len(self.lines)} lines. Demo logins ({DEMO_PASSWORD}): {logins}"


def _line_spec(demo_line) -> LineSpec:  # type: ignore[no-untyped-def]
    return LineSpec(
        name=demo_line.name,
        feature_columns=demo_line.feature_columns,
        timestamp_column="timestamp",
        units=demo_line.units,
        description=demo_line.description,
    )


def _history_start(days: float, end_date: date | None = None) -> datetime:
    """History ends at ``end_date``'s (default today's) midnight (UTC), so a re-run with the same
    end date is byte-identical."""
    end = datetime.combine(end_date or datetime.now(UTC).date(), time(0), tzinfo=UTC)
    return end - timedelta(days=days)


def store_ground_truth(ctx: AppContext, line_name: str, batch_id: int, truth: pd.DataFrame) -> int:
    """Attach the simulator's labels to the batch's samples by timestamp."""
    labels = {
        pd.Timestamp(ts).to_pydatetime(): (bool(a), kind if isinstance(kind, str) else None)
        for ts, a, kind in truth[["timestamp", "is_anomaly", "fault_kind"]].itertuples(index=False)
    }
    with unit_of_work(ctx.factory) as session:
        line = get_line(session, line_name)
        already = session.scalar(
            select(func.count())
            .select_from(GroundTruth)
            .join(Sample, Sample.id == GroundTruth.sample_id)
            .where(Sample.batch_id == batch_id)
        )
        if already:
            return 0
        rows = []
        for sample_id, ts in session.execute(
            select(Sample.id, Sample.ts).where(
                Sample.batch_id == batch_id, Sample.line_id == line.id
            )
        ):
            key = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
            if key in labels:
                is_anomaly, kind = labels[key]
                rows.append({"sample_id": sample_id, "is_anomaly": is_anomaly, "fault_kind": kind})
        if rows:
            session.execute(insert(GroundTruth), rows)
        return len(rows)


def _load(ctx: AppContext, batch: DemoBatch, filename: str) -> str:
    report = ingest_frame(
        ctx.factory, ctx.settings, batch.line, batch.frame, filename=filename, source="demo"
    )
    if report.batch_id is not None:
        store_ground_truth(ctx, batch.line, report.batch_id, batch.truth)
    if report.duplicate:
        return f"{filename} already ingested"
    return f"{report.n_accepted:,} rows ingested, {report.n_rejected:,} rejected"


def ensure_demo_users(ctx: AppContext) -> list[str]:
    from app.services.users import add_user

    with unit_of_work(ctx.factory) as session:
        existing = set(session.scalars(select(User.username)))
        for username, role in DEMO_USERS:
            if username not in existing:
                add_user(session, username, DEMO_PASSWORD, role, actor=None)
    return [f"{name} ({role.value})" for name, role in DEMO_USERS]


def _has_samples(ctx: AppContext, line_name: str) -> bool:
    with unit_of_work(ctx.factory) as session:
        line = get_line(session, line_name)
        return (
            session.scalar(select(Sample.id).where(Sample.line_id == line.id).limit(1)) is not None
        )


def _line_id(ctx: AppContext, line_name: str) -> int:
    with unit_of_work(ctx.factory) as session:
        return get_line(session, line_name).id


def _has_active_model(ctx: AppContext, line_name: str) -> bool:
    with unit_of_work(ctx.factory) as session:
        return active_model(session, get_line(session, line_name).id) is not None


def run_demo(ctx: AppContext, options: DemoOptions) -> DemoSummary:
    summary = DemoSummary()
    with unit_of_work(ctx.factory) as session:
        for demo_line in DEMO_LINES:
            ensure_line(session, with_default_schedule(_line_spec(demo_line), ctx.settings))
    start = _history_start(options.days, options.end_date)
    cache = ModelCache()
    steps = tqdm(DEMO_LINES, desc="demo plant", unit="line")
    for demo_line in steps:
        name = demo_line.name
        if _has_samples(ctx, name):
            status = "data already loaded"
        else:
            steps.set_postfix_str(f"{name}: simulating {options.days:g} days")
            batch = generate_history(demo_line, start, options.days, options.seed)
            steps.set_postfix_str(f"{name}: ingesting {len(batch.frame):,} rows")
            status = _load(ctx, batch, f"{name}-history-{start:%Y%m%d}.csv")
        if options.train:
            line_id = _line_id(ctx, name)
            if not _has_active_model(ctx, name):
                steps.set_postfix_str(f"{name}: training")
                with record_manual_run(ctx.factory, "retrain", line_id) as run:
                    outcome = train_line(ctx.factory, ctx.settings, name)
                    run.model_version_id = outcome.model_version_id
                    run.result = jsonable(outcome)
                status += f"; model v{outcome.version} {outcome.status.value}"
            steps.set_postfix_str(f"{name}: scoring")
            with record_manual_run(ctx.factory, "score", line_id) as run:
                scored = score_line(ctx.factory, ctx.settings, name, cache=cache)
                run.result = jsonable(scored)
            status += f"; {scored.samples_scored:,} scored, {scored.samples_flagged:,} flagged"
        summary.lines.append(f"{name}: {status}")
    summary.users = ensure_demo_users(ctx)
    return summary


def emit_next_day(ctx: AppContext, *, seed: int = 7, into_inbox: bool = True) -> list[Path]:
    """The day after each line's newest sample, as a CSV in the inbox (or ingested now)."""
    written: list[Path] = []
    for demo_line in DEMO_LINES:
        with unit_of_work(ctx.factory) as session:
            line = get_line(session, demo_line.name)
            newest = session.scalar(select(func.max(Sample.ts)).where(Sample.line_id == line.id))
        day = (newest.date() + timedelta(days=1)) if newest else datetime.now(UTC).date()
        batch = generate_day(demo_line, day, seed)
        if into_inbox:
            written.append(write_batch_csv(batch, ctx.settings.inbox_dir / demo_line.name))
        else:
            _load(ctx, batch, f"{demo_line.name}-{day:%Y%m%d}.csv")
    return written
