"""The ``kdmon`` command line: thin wrappers that call services and print what happened."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path

from app.config import Settings
from app.context import AppContext
from app.services.errors import KdmonError

REPO_ROOT = Path(__file__).resolve().parents[1]
Handler = Callable[[argparse.Namespace, AppContext], int]


def _print(message: str) -> None:
    print(message, flush=True)


# --- handlers -----------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace, ctx: AppContext) -> int:
    from db.migrate import upgrade

    upgrade(ctx.settings.database_url)
    _print(f"Database ready at {ctx.settings.database_url} (migrations applied).")
    return 0


def cmd_demo(args: argparse.Namespace, ctx: AppContext) -> int:
    from app.services.demo import DemoOptions, run_demo

    cmd_init(args, ctx)
    options = DemoOptions(
        days=args.days, seed=args.seed, train=not args.no_train, end_date=args.end_date
    )
    summary = run_demo(ctx, options)
    for line in summary.lines:
        _print(f"  {line}")
    _print(summary.headline())
    return 0


def cmd_demo_batch(args: argparse.Namespace, ctx: AppContext) -> int:
    from app.services.demo import emit_next_day

    for path in emit_next_day(ctx, seed=args.seed, into_inbox=not args.ingest):
        _print(f"wrote {path}")
    return 0


def cmd_ingest(args: argparse.Namespace, ctx: AppContext) -> int:
    from app.ingest import infer_line_spec, ingest_file
    from app.services.lines import create_line, find_line, with_default_schedule
    from db.engine import unit_of_work

    failures = 0
    for path in args.files:
        if args.create_line:
            with unit_of_work(ctx.factory) as session:
                if find_line(session, args.line) is None:
                    spec = with_default_schedule(
                        infer_line_spec(Path(path), args.line), ctx.settings
                    )
                    create_line(session, spec)
                    _print(
                        f"created line {args.line!r} with columns {', '.join(spec.feature_columns)}"
                    )
        try:
            report = ingest_file(ctx.factory, ctx.settings, args.line, Path(path), source="cli")
        except KdmonError as exc:
            failures += 1
            _print(f"error: {exc}")
            continue
        _print(report.summary())
    return 1 if failures else 0


def _line_ids(ctx: AppContext, all_lines: bool, name: str | None) -> list[tuple[int, str]]:
    from app.services.lines import get_line, list_lines
    from db.engine import unit_of_work

    with unit_of_work(ctx.factory) as session:
        lines = list_lines(session) if all_lines else [get_line(session, name or "")]
        return [(line.id, line.name) for line in lines]


def cmd_train(args: argparse.Namespace, ctx: AppContext) -> int:
    from app.services.runs import jsonable, record_manual_run
    from app.services.training import train_line

    params = _parse_params(args.param)
    for line_id, name in _line_ids(ctx, args.all, args.line):
        with record_manual_run(ctx.factory, "retrain", line_id) as run:
            outcome = train_line(
                ctx.factory, ctx.settings, name, detector=args.detector, params=params
            )
            run.model_version_id = outcome.model_version_id
            run.result = jsonable(outcome)
        _print(
            f"{outcome.line}: v{outcome.version} ({outcome.detector}) {outcome.status.value} — "
            f"{outcome.status_reason}; {outcome.n_train} rows, threshold {outcome.threshold:.4g}, "
            f"{outcome.seconds:.1f} s"
        )
    return 0


def cmd_score(args: argparse.Namespace, ctx: AppContext) -> int:
    from app.services.runs import jsonable, record_manual_run
    from app.services.scoring import ModelCache, score_line

    cache = ModelCache()
    for line_id, name in _line_ids(ctx, args.all, args.line):
        with record_manual_run(ctx.factory, "score", line_id) as run:
            outcome = score_line(ctx.factory, ctx.settings, name, cache=cache)
            run.result = jsonable(outcome)
        note = f" ({outcome.skipped_reason})" if outcome.skipped_reason else ""
        _print(
            f"{outcome.line}: {outcome.samples_scored} samples in {outcome.batches_scored} "
            f"batches scored, {outcome.samples_flagged} flagged{note}"
        )
    return 0


def cmd_jobs(args: argparse.Namespace, ctx: AppContext) -> int:
    from app.services import runs, schedules
    from app.services.lines import get_line
    from db.engine import unit_of_work

    with unit_of_work(ctx.factory) as session:
        line_id = get_line(session, args.line).id if getattr(args, "line", None) else None
        action = args.jobs_command or "list"
        if action == "schedule":
            schedules.set_schedule(session, cli_actor(), line_id, args.cron, args.timezone)
        elif action == "pause":
            schedules.pause(session, cli_actor(), line_id)
        elif action == "resume":
            schedules.resume(session, cli_actor(), line_id)
        elif action == "run-now":
            run = schedules.run_now(session, cli_actor(), args.job, line_id)
            _print(f"queued run {run.id}: {run.job} ({run.status.value})")
            return 0
        if action == "history":
            page = runs.list_runs(session, line_id=line_id, limit=args.limit)
            for row in page.items:
                when = row.finished_at or row.started_at or row.queued_at
                error = f" — {row.error.splitlines()[0]}" if row.error else ""
                _print(
                    f"#{row.id} {when:%Y-%m-%d %H:%M} {row.job:<12} {row.line_name or '-':<14} "
                    f"{row.trigger:<8} {row.status.value}{error}"
                )
            return 0
        for sched in schedules.list_schedules(session):
            upcoming = (
                "paused" if sched.paused else f"next {sched.next_fire_time:%Y-%m-%d %H:%M %Z}"
            )
            _print(f"{sched.line_name}: '{sched.cron}' {sched.timezone} ({upcoming})")
    return 0


def cmd_lines(args: argparse.Namespace, ctx: AppContext) -> int:
    from app.services import lines as line_service
    from db.engine import unit_of_work
    from db.models import LineView

    with unit_of_work(ctx.factory) as session:
        if args.lines_command == "set-view":
            line_service.change_line_view(session, cli_actor(), args.line, LineView(args.view))
        elif args.lines_command == "set-contamination":
            line_service.change_line_contamination(
                session, cli_actor(), args.line, args.contamination
            )
        elif args.lines_command == "set-detector":
            line_service.change_line_detector(
                session, cli_actor(), args.line, args.detector, _parse_params(args.param)
            )
        elif args.lines_command == "set-clean-window":
            start = None if args.clear else _parse_instant(args.start, "--start")
            end = None if args.clear else _parse_instant(args.end, "--end")
            line_service.change_line_reference_window(session, cli_actor(), args.line, start, end)
        for line in line_service.list_lines(session):
            clean = ""
            if line.reference_start is not None and line.reference_end is not None:
                clean = (
                    f", clean window {line.reference_start:%Y-%m-%dT%H:%M}Z.."
                    f"{line.reference_end:%Y-%m-%dT%H:%M}Z"
                )
            _print(
                f"{line.name}: {len(line.feature_columns)} features, view={line.view.value}, "
                f"detector={line.detector}, contamination="
                f"{'auto' if line.contamination is None else f'{line.contamination:g}'}{clean}, "
                f"retrain '{line.retrain_cron}' {line.timezone}"
                + (" (paused)" if line.schedule_paused else "")
            )
    return 0


def _parse_instant(text: str | None, option: str) -> datetime:
    """An ISO 8601 date or date-time from the command line (the service takes naive as UTC)."""
    from app.services.errors import ValidationError

    if not text:
        raise ValidationError(f"{option} is needed (an ISO date-time such as 2026-11-02T06:00).")
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValidationError(
            f"{option} {text!r} is not an ISO date-time (e.g. 2026-11-02T06:00)."
        ) from exc
    return value


def cmd_users(args: argparse.Namespace, ctx: AppContext) -> int:
    from app.services import users
    from db.engine import unit_of_work
    from db.models import Role

    with unit_of_work(ctx.factory) as session:
        if args.users_command == "add":
            password = args.password or os.environ.get("KDMON_NEW_PASSWORD")
            if not password:
                password = getpass.getpass(f"Password for {args.username}: ")
            users.add_user(session, args.username, password, Role(args.role), actor=None)
            _print(f"user {args.username!r} added with role {args.role}")
        else:
            for user in users.list_users(session):
                state = "active" if user.active else "inactive"
                _print(f"{user.username}: {user.role.value} ({state})")
    return 0


def cmd_report(args: argparse.Namespace, ctx: AppContext) -> int:
    from app.services.reports import ReportRequest, build_report, report_filename

    request = ReportRequest.parse(args.line, args.start, args.end)
    for fmt in args.format:
        payload = build_report(ctx.factory, ctx.settings, request, fmt)
        out = Path(args.out) / report_filename(request, fmt)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(payload)
        _print(f"wrote {out} ({len(payload):,} bytes)")
    return 0


def _streamlit_command(args: argparse.Namespace) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(REPO_ROOT / "streamlit_app.py"),
        "--server.headless=true",
        f"--server.port={args.port}",
        f"--server.address={args.address}",
        "--browser.gatherUsageStats=false",
        "--client.toolbarMode=minimal",
    ]


def cmd_serve(args: argparse.Namespace, ctx: AppContext) -> int:
    _print(f"Dashboard: http://localhost:{args.port}")
    env = _child_env(ctx.settings)
    ctx.close()
    # Become the Streamlit server, so signals (Ctrl-C, docker stop) reach it directly.
    os.execve(sys.executable, _streamlit_command(args), env)
    return 0  # pragma: no cover - execve does not return


def cmd_scheduler(args: argparse.Namespace, ctx: AppContext) -> int:
    from jobs.scheduler import run_scheduler

    run_scheduler(ctx.settings, worker=not args.no_worker)
    return 0


def cmd_worker(args: argparse.Namespace, ctx: AppContext) -> int:
    from jobs.worker import run_worker

    run_worker(ctx.settings)
    return 0


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops ``kdmon run`` like Ctrl-C: both children are shut down cleanly."""
    raise KeyboardInterrupt


def cmd_run(args: argparse.Namespace, ctx: AppContext) -> int:
    """The whole product on one machine: demo data, models, scheduler and dashboard."""
    from app.services.demo import DEMO_PASSWORD

    cmd_demo(args, ctx)
    env = _child_env(ctx.settings)
    log_path = ctx.settings.log_dir / "scheduler.log"
    with log_path.open("ab") as log:
        scheduler = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "scheduler"], env=env, stdout=log, stderr=log
        )
        dashboard = subprocess.Popen(_streamlit_command(args), env=env, stdout=log, stderr=log)
    _print(f"Scheduler running (pid {scheduler.pid}); logs: {log_path}")
    _print(
        f"Dashboard: http://localhost:{args.port} — log in as demo-admin, demo-reviewer or "
        f"demo-viewer with password {DEMO_PASSWORD!r}. Ctrl-C stops both."
    )
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while dashboard.poll() is None and scheduler.poll() is None:
            time.sleep(1)
        return dashboard.returncode or scheduler.returncode or 0
    except KeyboardInterrupt:
        return 0
    finally:
        for process in (dashboard, scheduler):
            if process.poll() is None:
                process.terminate()
        for process in (dashboard, scheduler):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def cli_actor():  # type: ignore[no-untyped-def]
    """Whoever runs the CLI on the server acts as an admin; the audit log names them."""
    from app.services.auth import Actor
    from db.models import Role

    return Actor(f"cli:{getpass.getuser()}", Role.ADMIN)


def _child_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["KDMON_DATA_DIR"] = str(settings.data_dir.resolve())
    env["KDMON_DATABASE_URL"] = settings.database_url
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def _parse_params(pairs: Sequence[str] | None) -> dict[str, object] | None:
    if not pairs:
        return None
    import json

    params: dict[str, object] = {}
    for pair in pairs:
        if "=" not in pair:
            raise KdmonError(f"--param expects NAME=VALUE, got {pair!r}")
        key, raw = pair.split("=", 1)
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


# --- parser -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kdmon", description="Factory anomaly monitoring with STKD."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("init", help="create or migrate the database").set_defaults(func=cmd_init)

    def add_demo_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--days", type=float, default=14.0, help="days of plant history")
        p.add_argument("--seed", type=int, default=7)
        p.add_argument(
            "--end-date",
            type=date.fromisoformat,
            help="YYYY-MM-DD: history ends at this date's 00:00 UTC (default: today); the "
            "simulated plant differs per day, so a fixed date gives the same demo on any day",
        )
        p.add_argument("--no-train", action="store_true", help="only load the demo data")

    demo = sub.add_parser("demo", help="load the demo plant, train and score every line")
    add_demo_options(demo)
    demo.set_defaults(func=cmd_demo)

    batch = sub.add_parser("demo-batch", help="emit the demo plant's next day as a batch")
    batch.add_argument("--seed", type=int, default=7)
    batch.add_argument("--ingest", action="store_true", help="ingest now instead of the inbox")
    batch.set_defaults(func=cmd_demo_batch)

    ingest = sub.add_parser("ingest", help="ingest CSV, Parquet or XLSX files into a line")
    ingest.add_argument("--line", required=True)
    ingest.add_argument("--create-line", action="store_true", help="infer the line from the file")
    ingest.add_argument("files", nargs="+")
    ingest.set_defaults(func=cmd_ingest)

    train = sub.add_parser("train", help="train a new model version")
    target = train.add_mutually_exclusive_group(required=True)
    target.add_argument("--line")
    target.add_argument("--all", action="store_true")
    train.add_argument("--detector", help="override the line's trainer (see `kdmon detectors`)")
    train.add_argument("--param", action="append", help="detector parameter NAME=VALUE")
    train.set_defaults(func=cmd_train)

    score = sub.add_parser("score", help="score unscored batches with the active model")
    target = score.add_mutually_exclusive_group(required=True)
    target.add_argument("--line")
    target.add_argument("--all", action="store_true")
    score.set_defaults(func=cmd_score)

    lines = sub.add_parser("lines", help="list lines or change their settings")
    lines_sub = lines.add_subparsers(dest="lines_command")
    lines_sub.add_parser("list")
    view = lines_sub.add_parser("set-view", help="score a line as rows or as time windows")
    view.add_argument("line")
    view.add_argument("view", choices=["rows", "windows"])
    cont = lines_sub.add_parser(
        "set-contamination", help="state a line's expected fault share, or 'auto' to estimate it"
    )
    cont.add_argument("line")
    cont.add_argument("contamination", help="a share in (0, 0.5), e.g. 0.05, or 'auto'")
    det = lines_sub.add_parser("set-detector", help="choose a line's trainer")
    det.add_argument("line")
    det.add_argument("detector")
    det.add_argument("--param", action="append")
    clean = lines_sub.add_parser(
        "set-clean-window",
        help="name a span known to be fault-free (the next retrain learns normal from it)",
    )
    clean.add_argument("line")
    clean.add_argument("--start", help="ISO date-time, UTC unless an offset is given")
    clean.add_argument("--end", help="ISO date-time, UTC unless an offset is given")
    clean.add_argument("--clear", action="store_true", help="forget the line's clean window")
    lines.set_defaults(func=cmd_lines)

    detectors = sub.add_parser("detectors", help="list the available trainers")
    detectors.set_defaults(func=lambda a, c: _list_detectors())

    users = sub.add_parser("users", help="manage dashboard accounts")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add")
    add.add_argument("username")
    add.add_argument("--role", choices=["viewer", "reviewer", "admin"], default="viewer")
    add.add_argument("--password", help="or KDMON_NEW_PASSWORD, or asked interactively")
    users_sub.add_parser("list")
    users.set_defaults(func=cmd_users)

    report = sub.add_parser("report", help="write a PDF / CSV / XLSX report")
    report.add_argument("--line", action="append", required=True)
    report.add_argument("--start", required=True, help="ISO date or time (UTC if no zone)")
    report.add_argument("--end", required=True, help="a date-only end includes that whole day")
    report.add_argument("--format", action="append", choices=["pdf", "csv", "xlsx"], default=None)
    report.add_argument("--out", default=".")
    report.set_defaults(func=cmd_report)

    jobs = sub.add_parser("jobs", help="retraining schedules and the job history")
    jobs_sub = jobs.add_subparsers(dest="jobs_command")
    jobs_sub.add_parser("list", help="each line's retraining schedule")
    history = jobs_sub.add_parser("history", help="recent job runs, failures with reasons")
    history.add_argument("--line")
    history.add_argument("--limit", type=int, default=30)
    schedule = jobs_sub.add_parser("schedule", help="change a line's retraining schedule")
    schedule.add_argument("line")
    schedule.add_argument("cron", help="crontab expression, e.g. '0 2 * * *'")
    schedule.add_argument("--timezone", default="UTC")
    for name in ("pause", "resume"):
        jobs_sub.add_parser(name, help=f"{name} a line's scheduled retraining").add_argument("line")
    run_now = jobs_sub.add_parser("run-now", help="queue a job for the scheduler's worker")
    run_now.add_argument("job", choices=["retrain", "score", "ingest_inbox", "report", "prune"])
    run_now.add_argument("--line")
    jobs.set_defaults(func=cmd_jobs)

    serve = sub.add_parser("serve", help="serve the dashboard")
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument("--address", default="0.0.0.0")
    serve.set_defaults(func=cmd_serve)

    run = sub.add_parser("run", help="demo data, training, scheduler and dashboard in one go")
    add_demo_options(run)
    run.add_argument("--port", type=int, default=8501)
    run.add_argument("--address", default="0.0.0.0")
    run.set_defaults(func=cmd_run)

    scheduler = sub.add_parser("scheduler", help="run the scheduler process")
    scheduler.add_argument("--no-worker", action="store_true", help="only enqueue, run no jobs")
    scheduler.set_defaults(func=cmd_scheduler)

    sub.add_parser("worker", help="run a worker that executes queued jobs").set_defaults(
        func=cmd_worker
    )
    return parser


def _list_detectors() -> int:
    from detectors import available_detectors

    for name in available_detectors():
        _print(name)
    return 0


# Commands that create or migrate the database themselves; every other one needs it ready.
MIGRATING_COMMANDS = frozenset({"init", "demo", "run", "detectors"})


def _require_migrated(ctx: AppContext) -> None:
    from db.migrate import is_up_to_date

    if not is_up_to_date(ctx.engine):
        raise KdmonError(
            f"The database at {ctx.engine.url.render_as_string(hide_password=True)} is not "
            "initialised or needs migrating; run `kdmon init` first."
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "format", "unset") is None:
        args.format = ["pdf"]
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        ctx = AppContext.create()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command not in MIGRATING_COMMANDS:
            _require_migrated(ctx)
        return int(args.func(args, ctx) or 0)
    except KdmonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        ctx.close()


if __name__ == "__main__":
    sys.exit(main())
