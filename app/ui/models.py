"""Models: how a line is trained, its trained versions and why, and which one serves.

Everyone sees the line's trainer and view, its trusted clean window, every version (status and
the reason for it, training window, known-normal / known-anomaly counts, metrics, the
purification trace). Admins change the trainer, the view or the clean window and activate or
roll back a version; the services check the role again and write the audit record in the same
transaction.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

import pandas as pd
import streamlit as st

from app.services import lines as line_service
from app.services import models as model_service
from app.services import queries
from app.services.errors import ValidationError
from app.ui import charts
from app.ui import common as ui
from db.models import LineView, ModelStatus, Role
from detectors import available_detectors

VIEW_LABELS = {
    LineView.ROWS.value: "rows: each sample scored on its own",
    LineView.WINDOWS.value: "windows: sliding windows over the time-ordered stream",
}
TOAST_KEY = "models_toast"


def _params(text: str) -> dict[str, object]:
    text = text.strip() or "{}"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"Detector parameters must be JSON: {exc.msg} at {exc.pos}.") from exc
    if not isinstance(value, dict):
        raise ValidationError('Detector parameters must be a JSON object, e.g. {"rounds": 3}.')
    return value


actor = ui.page_actor(Role.VIEWER)
is_admin = actor.can(Role.ADMIN)
st.title("Models")
if message := st.session_state.pop(TOAST_KEY, None):
    st.success(message, icon=":material/check_circle:")

lines = ui.cached(queries.list_line_choices)()
if not lines:
    st.info("No production lines yet.")
    st.stop()
names = {line.line_id: line.name for line in lines}
line_id = st.selectbox("Line", list(names), format_func=names.get, key="models_line")

# --- how this line is trained ----------------------------------------------------------------

config = ui.cached(queries.line_settings)(line_id)
st.subheader("Training settings")
s1, s2, s3 = st.columns(3)
s1.metric("Trainer", config.detector)
s2.metric("View", config.view.value)
s3.metric(
    "Contamination",
    "auto" if config.contamination is None else f"{config.contamination:.3g}",
    help="Expected share of anomalies in the training window; 'auto' estimates it",
)
st.caption(
    f"Trained on the last {config.training_window_days} days · detector parameters "
    f"`{json.dumps(config.detector_params) if config.detector_params else 'defaults'}`. "
    "Changes apply from the next retrain; the serving model is kept until then."
)
if is_admin:
    detectors = available_detectors()
    with st.form(f"models_settings_{line_id}", enter_to_submit=False):
        c1, c2, c3 = st.columns(3)
        detector = c1.selectbox(
            "Trainer",
            detectors,
            index=detectors.index(config.detector) if config.detector in detectors else 0,
            key=f"models_detector_{line_id}",
        )
        view = c2.radio(
            "View",
            list(VIEW_LABELS),
            index=list(VIEW_LABELS).index(config.view.value),
            format_func=VIEW_LABELS.get,
            key=f"models_view_{line_id}",
        )
        contamination_text = c3.text_input(
            "Contamination",
            value="auto" if config.contamination is None else f"{config.contamination:g}",
            help="Expected fault share in the training window, e.g. 0.05; 'auto' estimates it",
            key=f"models_contamination_{line_id}",
        )
        params_text = st.text_input(
            "Detector parameters (JSON; empty for the defaults)",
            value=json.dumps(config.detector_params) if config.detector_params else "",
            key=f"models_params_{line_id}",
        )
        saved = st.form_submit_button("Save training settings", type="primary")
    if saved:
        try:
            params = _params(params_text)
            with ui.write() as session:
                line_service.change_line_detector(session, actor, line_id, detector, params)
                line_service.change_line_view(session, actor, line_id, view)
                line_service.change_line_contamination(
                    session, actor, line_id, contamination_text.strip() or "auto"
                )
        except Exception as exc:
            ui.show_error(exc)
        else:
            st.session_state[TOAST_KEY] = (
                f"{names[line_id]} now trains with {detector} on {view}, contamination "
                f"{contamination_text.strip() or 'auto'}; applies from the next retrain."
            )
            st.rerun()
else:
    st.info("Only admins change a line's trainer, view or contamination.", icon=":material/lock:")

# --- a span the engineers vouch for ----------------------------------------------------------

st.subheader("Trusted clean window")
if config.reference_start and config.reference_end:
    st.caption(
        f"{config.reference_start:%Y-%m-%d %H:%M} to {config.reference_end:%Y-%m-%d %H:%M} UTC. "
        "The next retrain learns normal from this span and the dismissed alarms only, so a "
        "fault that fills much of the training data still stands out, and so does any normal "
        "operating mode the span missed: a model that flags too much recent data stays a "
        "candidate, with the share it flagged as the reason."
    )
else:
    st.caption(
        "None named. If a span is known to be fault-free (commissioning, the week after an "
        "overhaul) and covers every normal operating mode, name it: on lines where faults last "
        "long, a model that learns normal from such a span finds them far better."
    )
if is_admin:
    today = datetime.now(UTC).date()
    first = config.reference_start or datetime.combine(today - timedelta(days=7), time(), UTC)
    last = config.reference_end or datetime.combine(today, time(), UTC)
    with st.form(f"models_reference_{line_id}", enter_to_submit=False):
        r1, r2, r3, r4 = st.columns(4)
        start_day = r1.date_input("From (UTC)", value=first.date(), key=f"models_ref_d0_{line_id}")
        start_time = r2.time_input("at", value=first.time(), key=f"models_ref_t0_{line_id}")
        end_day = r3.date_input("To (UTC)", value=last.date(), key=f"models_ref_d1_{line_id}")
        end_time = r4.time_input("at", value=last.time(), key=f"models_ref_t1_{line_id}")
        b1, b2 = st.columns(2)
        save_window = b1.form_submit_button("Save window", type="primary")
        clear_window = b2.form_submit_button(
            "Clear window", disabled=config.reference_start is None
        )
    if save_window or clear_window:
        start = None if clear_window else datetime.combine(start_day, start_time, UTC)
        end = None if clear_window else datetime.combine(end_day, end_time, UTC)
        try:
            with ui.write() as session:
                line_service.change_line_reference_window(session, actor, line_id, start, end)
        except Exception as exc:
            ui.show_error(exc)
        else:
            st.session_state[TOAST_KEY] = (
                f"{names[line_id]}: trusted clean window cleared; applies from the next retrain."
                if clear_window
                else f"{names[line_id]}: trusted clean window {start:%Y-%m-%d %H:%M} to "
                f"{end:%Y-%m-%d %H:%M} UTC; applies from the next retrain."
            )
            st.rerun()

# --- trained versions ------------------------------------------------------------------------

st.subheader("Versions")
versions = ui.cached(queries.model_version_rows)(line_id)
if not versions:
    st.info("No model trained for this line yet.")
    st.stop()

st.dataframe(
    pd.DataFrame(
        [
            {
                "Version": m.version,
                "Status": m.status.value,
                "Why": m.status_reason,
                "Detector": m.detector,
                "Threshold": m.threshold,
                "Trained on": m.n_train,
                "Known normal": m.n_known_normal,
                "Known anomalies": m.n_known_anomaly,
                "Training window": f"{ui.fmt_time(m.train_start)} → {ui.fmt_time(m.train_end)}",
                "Created": m.created_at,
                "Activated": m.activated_at,
            }
            for m in versions
        ]
    ),
    hide_index=True,
    width="stretch",
    key="models_table",
)
active = next((m for m in versions if m.status == ModelStatus.ACTIVE), None)
st.caption(f"Serving: v{active.version}" if active else "No version is serving.")

by_id = {m.id: m for m in versions}
shown_id = st.selectbox(
    "Details of version",
    list(by_id),
    format_func=lambda i: f"v{by_id[i].version} ({by_id[i].status.value})",
    key=f"models_detail_{line_id}",
)
shown = by_id[shown_id]
with st.container(border=True):
    st.markdown(
        f"**v{shown.version}** · {shown.detector} · {shown.status.value}"
        + (f": {shown.status_reason}" if shown.status_reason else "")
    )
    if shown.status == ModelStatus.CANDIDATE:
        st.warning(
            f"Not activated: {shown.status_reason or 'no reason recorded'}",
            icon=":material/block:",
        )
    k1, k2, k3, k4 = st.columns(4)
    k1.metric("Trained on", f"{shown.n_train:,}")
    k2.metric(
        "Known normal",
        f"{shown.n_known_normal:,}",
        help="Dismissed flags: kept in training; STKD (rows) no longer flags rows just like them",
    )
    k3.metric("Known anomalies", f"{shown.n_known_anomaly:,}", help="Confirmed, kept out")
    k4.metric("Threshold", f"{shown.threshold:.4g}")
    st.caption(
        f"Training window {ui.fmt_time(shown.train_start)} → {ui.fmt_time(shown.train_end)} · "
        f"contamination {'auto' if shown.contamination is None else f'{shown.contamination:.3g}'}"
    )
    left, right = st.columns(2)
    with left:
        st.markdown("**Parameters**")
        st.json(shown.params or {}, expanded=True)
    with right:
        st.markdown("**Metrics**")
        st.json(shown.metrics or {}, expanded=True)
    st.markdown("**Purification trace**")
    figure = charts.trace_figure(shown.trace)
    if figure is not None:
        st.caption(
            "Per round: training samples excluded as suspected anomalies (bars; the pool kept "
            "is under each bar) and the score quantiles of that round (lines, right axis)."
        )
        st.plotly_chart(figure, key=f"models_trace_{shown.id}")
    elif shown.trace:
        st.dataframe(pd.DataFrame(shown.trace), hide_index=True, key=f"models_trace_{shown.id}")
    else:
        st.caption("This detector records no training trace.")

# --- which version serves ----------------------------------------------------------------------

if not is_admin:
    st.info("Only admins activate or roll back models.", icon=":material/lock:")
    st.stop()

others = [m for m in versions if m is not active]
if not others:
    st.stop()
with st.form("models_switch", enter_to_submit=False):
    chosen = st.selectbox(
        "Version to serve",
        [m.id for m in others],
        format_func=lambda i: f"v{by_id[i].version} ({by_id[i].status.value})",
        key="models_choice",
    )
    reason = st.text_input("Reason", key="models_reason")
    submitted = st.form_submit_button("Serve this version", type="primary")
if submitted:
    target = by_id[chosen]
    older = active is not None and target.version < active.version
    try:
        with ui.write() as session:
            if older:
                model_service.rollback_to(session, actor, chosen, reason)
            else:
                model_service.activate_version(session, actor, chosen, reason)
    except Exception as exc:
        ui.show_error(exc)
    else:
        st.session_state[TOAST_KEY] = (
            f"v{target.version} is now serving ({'rolled back' if older else 'activated'})."
        )
        st.rerun()
