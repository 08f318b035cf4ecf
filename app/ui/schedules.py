"""Schedules: when each line retrains, recent job runs, and (admins) pause, resume, run now."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.ui import adapters
from app.ui import common as ui
from db.models import Role

actor = ui.page_actor(Role.VIEWER)
st.title("Schedules")

schedules = adapters.load("app.services.schedules", "list_schedules", "pause", "resume", "run_now")
runs = adapters.load("app.services.runs", "list_runs")
if isinstance(schedules, adapters.Unavailable):
    st.info(schedules.message, icon=":material/hourglass_empty:")
else:
    with ui.read() as session:
        rows = schedules.list_schedules(session)
    if not rows:
        st.info("No production lines yet.")
    else:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Line": r.line_name,
                        "Retrain (cron)": r.cron,
                        "Time zone": r.timezone,
                        "Paused": r.paused,
                        "Next retrain": r.next_fire_time,
                        "Last run": r.last_run.status.value if r.last_run else "never",
                        "Last run finished": r.last_run.finished_at if r.last_run else None,
                    }
                    for r in rows
                ]
            ),
            hide_index=True,
            width="stretch",
            key="schedules_table",
        )
        if actor.can(Role.ADMIN):
            by_id = {r.line_id: r for r in rows}
            with st.form("schedules_action", enter_to_submit=False):
                line_id = st.selectbox(
                    "Line",
                    list(by_id),
                    format_func=lambda i: by_id[i].line_name,
                    key="schedules_line",
                )
                action = st.radio(
                    "Action",
                    ["run_now", "pause", "resume"],
                    format_func={
                        "run_now": "Retrain now",
                        "pause": "Pause schedule",
                        "resume": "Resume schedule",
                    }.get,
                    horizontal=True,
                    key="schedules_action_kind",
                )
                submitted = st.form_submit_button("Apply", type="primary")
            if submitted:
                try:
                    with ui.write() as session:
                        if action == "run_now":
                            schedules.run_now(session, actor, "retrain", line_id)
                        else:
                            getattr(schedules, action)(session, actor, line_id)
                except Exception as exc:
                    ui.show_error(exc)
                else:
                    st.success(f"{action.replace('_', ' ')}: done for {by_id[line_id].line_name}.")
        else:
            st.info("Only admins change schedules or start runs.", icon=":material/lock:")

st.subheader("Recent runs")
if isinstance(runs, adapters.Unavailable):
    st.info(runs.message)
else:
    with ui.read() as session:
        page = runs.list_runs(session, limit=50)
    if not page.items:
        st.caption("No job has run yet.")
    else:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Run": r.id,
                        "Job": r.job,
                        "Line": r.line_name or "",
                        "Trigger": r.trigger,
                        "Status": r.status.value,
                        "Queued": r.queued_at,
                        "Finished": r.finished_at,
                        "Seconds": r.seconds,
                        "Error": (r.error or "").splitlines()[0] if r.error else "",
                    }
                    for r in page.items
                ]
            ),
            hide_index=True,
            width="stretch",
            key="runs_table",
        )
        st.caption(f"{page.total} run(s) in total; newest 50 shown.")
