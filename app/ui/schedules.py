"""Schedules: when each line retrains, the job history with failures and their reasons, and
(admins) change a schedule, pause or resume it, or queue a job to run now.

The scheduler and worker processes pick changes up from the database; this page only calls
``app.services.schedules`` (role-checked and audited there) and ``app.services.runs``.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session

from app.services import runs as run_service
from app.services import schedules as schedule_service
from app.ui import common as ui
from db.models import Role, RunStatus

JOB_LABELS = {
    run_service.RETRAIN: "Retrain",
    run_service.SCORE: "Score new batches",
    run_service.INGEST_INBOX: "Ingest the inbox",
    run_service.REPORT: "Nightly report (all lines)",
    run_service.PRUNE: "Prune old data (all lines)",
}
STATUS_FILTERS = {"all": "All", **{s.value: s.value.capitalize() for s in RunStatus}}
TOAST_KEY = "schedules_toast"
HISTORY_LIMIT = 50

actor = ui.page_actor(Role.VIEWER)
is_admin = actor.can(Role.ADMIN)
st.title("Schedules")
if message := st.session_state.pop(TOAST_KEY, None):
    st.success(message, icon=":material/check_circle:")

rows = ui.cached(schedule_service.list_schedules)()
if not rows:
    st.info("No production lines yet.")
    st.stop()
by_id = {r.line_id: r for r in rows}

st.dataframe(
    pd.DataFrame(
        [
            {
                "Line": r.line_name,
                "Retrain (cron)": r.cron,
                "Time zone": r.timezone,
                "Paused": r.paused,
                "Next retrain": (
                    r.next_fire_time.strftime("%Y-%m-%d %H:%M %Z") if r.next_fire_time else "paused"
                ),
                "Last retrain": r.last_run.status.value if r.last_run else "never",
                "Last retrain finished": r.last_run.finished_at if r.last_run else None,
            }
            for r in rows
        ]
    ),
    hide_index=True,
    width="stretch",
    key="schedules_table",
)
st.caption(
    "Pausing stops scheduled retraining only; new data is still ingested and scored. "
    "Cron fields: minute hour day-of-month month day-of-week, in the line's time zone."
)


def _apply(what: str, action: Callable[[Session], object]) -> None:
    """Run one admin action in a unit of work; show the error or come back with a toast."""
    try:
        with ui.write() as session:
            action(session)
    except Exception as exc:
        ui.show_error(exc)
    else:
        st.session_state[TOAST_KEY] = what
        st.rerun()


if not is_admin:
    st.info("Only admins change schedules or start runs.", icon=":material/lock:")
else:
    line_id = st.selectbox(
        "Line", list(by_id), format_func=lambda i: by_id[i].line_name, key="schedules_line"
    )
    chosen = by_id[line_id]
    edit, control, now_col = st.columns(3)
    with edit, st.form(f"schedules_edit_{line_id}", enter_to_submit=False):
        st.markdown("**When it retrains**")
        cron = st.text_input("Cron", value=chosen.cron, key=f"schedules_cron_{line_id}")
        zone = st.text_input("Time zone", value=chosen.timezone, key=f"schedules_tz_{line_id}")
        if st.form_submit_button("Save schedule"):
            _apply(
                f"{chosen.line_name} now retrains at '{cron.strip()}' ({zone.strip()}).",
                lambda s: schedule_service.set_schedule(s, actor, line_id, cron, zone),
            )
    with control:
        st.markdown("**Scheduled retraining**")
        if chosen.paused:
            st.caption("Paused: no scheduled retrain until resumed.")
            if st.button("Resume schedule", key="schedules_resume", icon=":material/play_arrow:"):
                _apply(
                    f"Scheduled retraining of {chosen.line_name} resumed.",
                    lambda s: schedule_service.resume(s, actor, line_id),
                )
        else:
            st.caption(f"Next: {ui.fmt_time(chosen.next_fire_time)}")
            if st.button("Pause schedule", key="schedules_pause", icon=":material/pause:"):
                _apply(
                    f"Scheduled retraining of {chosen.line_name} paused.",
                    lambda s: schedule_service.pause(s, actor, line_id),
                )
    with now_col, st.form("schedules_run_now", enter_to_submit=False):
        st.markdown("**Run now**")
        job = st.selectbox("Job", list(JOB_LABELS), format_func=JOB_LABELS.get, key="schedules_job")
        if st.form_submit_button("Queue it", type="primary"):
            target = line_id if job in run_service.LINE_JOBS else None
            where = chosen.line_name if target is not None else "all lines"
            _apply(
                f"{JOB_LABELS[job]} queued for {where}; a worker picks it up shortly.",
                lambda s: schedule_service.run_now(s, actor, job, target),
            )

# --- job history ---------------------------------------------------------------------------

st.subheader("Job history")
h1, h2 = st.columns(2)
line_filter = h1.selectbox(
    "Line",
    [None, *by_id],
    format_func=lambda i: "All lines" if i is None else by_id[i].line_name,
    key="runs_line",
)
status_filter = h2.selectbox(
    "Status", list(STATUS_FILTERS), format_func=STATUS_FILTERS.get, key="runs_status"
)
page = ui.cached(run_service.list_runs)(
    line_filter,
    HISTORY_LIMIT,
    0,
    status=None if status_filter == "all" else status_filter,
)
if not page.items:
    st.caption("No job runs match.")
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Run": r.id,
                    "Job": r.job,
                    "Line": r.line_name or "all lines",
                    "Trigger": r.trigger,
                    "Status": r.status.value,
                    "Queued": r.queued_at,
                    "Started": r.started_at,
                    "Finished": r.finished_at,
                    "Seconds": r.seconds,
                    "Worker": r.worker or "",
                    "Reason": (r.error or "").strip().splitlines()[0] if r.error else "",
                }
                for r in page.items
            ]
        ),
        hide_index=True,
        width="stretch",
        key="runs_table",
    )
    st.caption(f"{page.total} run(s) match; newest {HISTORY_LIMIT} shown.")
    failed = [r for r in page.items if r.status == RunStatus.FAILED]
    if failed:
        st.markdown(f"**Failures** ({len(failed)} shown)")
        for r in failed[:10]:
            with st.expander(
                f"Run {r.id} · {r.job} · {r.line_name or 'all lines'} · "
                f"{ui.fmt_time(r.finished_at)}"
            ):
                st.error(r.error or "no error message recorded", icon=":material/error:")
                if r.log_excerpt:
                    st.code(r.log_excerpt, language="text")
