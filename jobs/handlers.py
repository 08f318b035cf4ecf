"""What a worker does for each job kind: call the service, say what happened.

Each handler takes the worker's context and the claimed run and returns a
:class:`HandlerResult`; an exception fails the run with its message. Handlers hold no business
rules of their own beyond choosing arguments: training, scoring, ingest, reports and artifact
deletion are the services' business.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.services import runs
from app.services.lines import get_line
from app.services.scoring import ModelCache
from db.engine import unit_of_work
from db.models import JobRun, ModelStatus


@dataclass
class WorkerContext:
    """What a handler may use: settings, sessions, and the lane's model cache."""

    settings: Settings
    factory: sessionmaker[Session]
    worker: str
    cache: ModelCache = field(default_factory=ModelCache)


@dataclass(frozen=True)
class ClaimedRun:
    """A plain copy of the claimed row, safe to pass between threads and sessions."""

    id: int
    job: str
    line_id: int | None
    trigger: str

    @classmethod
    def of(cls, run: JobRun) -> ClaimedRun:
        return cls(run.id, run.job, run.line_id, run.trigger)


@dataclass
class HandlerResult:
    summary: str
    result: dict[str, Any] = field(default_factory=dict)
    model_version_id: int | None = None
    failure: str | None = None
    """Set when the job did part of its work but must be reported failed (e.g. a bad file)."""


Handler = Callable[[WorkerContext, ClaimedRun], HandlerResult]


def _line_name(ctx: WorkerContext, run: ClaimedRun) -> str:
    if run.line_id is None:
        raise ValueError(f"run {run.id}: the {run.job} job needs a line")
    with unit_of_work(ctx.factory) as session:
        return get_line(session, run.line_id).name


def retrain(ctx: WorkerContext, run: ClaimedRun) -> HandlerResult:
    from app.services.training import train_line

    outcome = train_line(ctx.factory, ctx.settings, _line_name(ctx, run))
    activated = outcome.status == ModelStatus.ACTIVE
    summary = (
        f"line {outcome.line}: model v{outcome.version} ({outcome.detector}) trained on "
        f"{outcome.n_train} rows in {outcome.seconds:.1f} s; "
        + ("activated" if activated else outcome.status_reason)
    )
    return HandlerResult(
        summary, {**runs.jsonable(outcome), "activated": activated}, outcome.model_version_id
    )


def score(ctx: WorkerContext, run: ClaimedRun) -> HandlerResult:
    from app.services.scoring import score_line

    outcome = score_line(ctx.factory, ctx.settings, _line_name(ctx, run), cache=ctx.cache)
    if outcome.skipped_reason:
        summary = f"line {outcome.line}: nothing scored ({outcome.skipped_reason})"
    else:
        summary = (
            f"line {outcome.line}: {outcome.batches_scored} batch(es), {outcome.samples_scored} "
            f"samples scored with v{outcome.model_version}, {outcome.samples_flagged} flagged"
        )
    return HandlerResult(summary, runs.jsonable(outcome))


def ingest_inbox(ctx: WorkerContext, run: ClaimedRun) -> HandlerResult:
    """Ingest the line's inbox; new batches get a scoring run queued right away."""
    from app.ingest.inbox import process_inbox

    name = _line_name(ctx, run)
    report = process_inbox(ctx.factory, ctx.settings, name)
    result = report.as_result()
    if report.ingested:
        with unit_of_work(ctx.factory) as session:
            queued = runs.enqueue(session, runs.SCORE, run.line_id, "ingest")
            result["score_run_id"] = queued.id if queued else None
    failure = None
    if report.failed:
        failure = (
            f"{len(report.failed)} inbox file(s) failed and were moved to failed/: "
            + "; ".join(f"{n}: {why}" for n, why in report.failed.items())
        )
    return HandlerResult(report.summary(), result, failure=failure)


def report(ctx: WorkerContext, run: ClaimedRun) -> HandlerResult:
    from app.services.reports import build_nightly_report

    paths = build_nightly_report(ctx.factory, ctx.settings)
    return HandlerResult(
        f"nightly report: {len(paths)} file(s) written", {"files": runs.jsonable(list(paths))}
    )


def prune(ctx: WorkerContext, run: ClaimedRun) -> HandlerResult:
    from app.services.models import prune_model_artifacts

    removed = prune_model_artifacts(ctx.factory, ctx.settings)
    return HandlerResult(
        f"pruned {len(removed)} model artifact folder(s); keeping the active and "
        f"{ctx.settings.artifact_retention} newest versions per line",
        {"removed": [str(p) for p in removed]},
    )


HANDLERS: dict[str, Handler] = {
    runs.RETRAIN: retrain,
    runs.SCORE: score,
    runs.INGEST_INBOX: ingest_inbox,
    runs.REPORT: report,
    runs.PRUNE: prune,
}
"""Job kind -> handler. Tests may register extra kinds (e.g. a slow one) here."""
