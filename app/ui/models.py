"""Models: a line's trained versions, which one serves, and (admins) activate or roll back."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.services import queries
from app.ui import adapters
from app.ui import common as ui
from db.models import ModelStatus, Role

actor = ui.page_actor(Role.VIEWER)
st.title("Models")

service = adapters.load(
    "app.services.models", "list_model_versions", "activate_version", "rollback_to"
)
if isinstance(service, adapters.Unavailable):
    st.info(service.message, icon=":material/hourglass_empty:")
    st.stop()

lines = ui.cached(queries.list_line_choices)()
if not lines:
    st.info("No production lines yet.")
    st.stop()
names = {line.line_id: line.name for line in lines}
line_id = st.selectbox("Line", list(names), format_func=names.get, key="models_line")

with ui.read() as session:
    versions = [
        {
            "id": m.id,
            "Version": m.version,
            "Status": ModelStatus(m.status).value,
            "Detector": m.detector,
            "Threshold": m.threshold,
            "Trained on": m.n_train,
            "Known normal": m.n_known_normal,
            "Known anomalies": m.n_known_anomaly,
            "Window": f"{ui.fmt_time(m.train_start)} → {ui.fmt_time(m.train_end)}",
            "Created": m.created_at,
            "Activated": m.activated_at,
            "Why": m.status_reason,
        }
        for m in service.list_model_versions(session, line_id)
    ]
if not versions:
    st.info("No model trained for this line yet.")
    st.stop()

table = pd.DataFrame(versions)
st.dataframe(table.drop(columns=["id"]), hide_index=True, width="stretch", key="models_table")
active = next((v for v in versions if v["Status"] == ModelStatus.ACTIVE.value), None)
st.caption(f"Serving: v{active['Version']}" if active else "No version is serving.")

if not actor.can(Role.ADMIN):
    st.info("Only admins activate or roll back models.", icon=":material/lock:")
    st.stop()

others = [v for v in versions if v is not active]
if not others:
    st.stop()
with st.form("models_switch", enter_to_submit=False):
    chosen = st.selectbox(
        "Version to serve",
        [v["id"] for v in others],
        format_func=lambda i: next(
            f"v{v['Version']} ({v['Status']})" for v in others if v["id"] == i
        ),
        key="models_choice",
    )
    reason = st.text_input("Reason", key="models_reason")
    submitted = st.form_submit_button("Serve this version", type="primary")
if submitted:
    target = next(v for v in others if v["id"] == chosen)
    older = active is not None and target["Version"] < active["Version"]
    try:
        with ui.write() as session:
            if older:
                service.rollback_to(session, actor, chosen, reason)
            else:
                service.activate_version(session, actor, chosen, reason)
    except Exception as exc:
        ui.show_error(exc)
    else:
        st.success(
            f"v{target['Version']} is now serving ({'rolled back' if older else 'activated'})."
        )
        st.rerun()
