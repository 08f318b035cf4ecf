"""Threshold what-if: try a threshold on a line's past scores before putting it in force.

Reviewers explore; only admins save (checked again in ``whatif.save_threshold``).
"""

from __future__ import annotations

import streamlit as st

from app.services import queries, whatif
from app.services.errors import NotFoundError
from app.ui import charts
from app.ui import common as ui
from db.models import Role

actor = ui.page_actor(Role.REVIEWER)
st.title("Threshold what-if")

lines = ui.cached(queries.list_line_choices)()
if not lines:
    st.info("No production lines yet.")
    st.stop()
names = {line.line_id: line.name for line in lines}
line_id = st.selectbox("Line", list(names), format_func=names.get, key="wi_line")

try:
    baseline = ui.cached(whatif.threshold_whatif)(line_id, 0.0)
except NotFoundError as exc:
    st.info(str(exc))
    st.stop()
bins = ui.cached(whatif.score_histogram)(line_id, 60)
current = baseline.current_threshold
low = min([b.low for b in bins] + [current])
high = max([b.high for b in bins] + [current])

candidate = st.number_input(
    f"Candidate threshold (in force: {current:.4g}, model v{baseline.model_version})",
    value=float(current),
    min_value=float(low - abs(low) - 1),
    max_value=float(high + abs(high) + 1),
    step=max((high - low) / 200, 1e-6),
    format="%.4f",
    key=f"wi_candidate_{line_id}",
)
result = ui.cached(whatif.threshold_whatif)(line_id, float(candidate))

c1, c2, c3, c4 = st.columns(4)
c1.metric("Flagged", result.flagged_at_candidate, delta=result.delta, delta_color="off")
c2.metric("Newly flagged", result.newly_flagged)
c3.metric("No longer flagged", result.no_longer_flagged)
c4.metric("Samples scored", result.n_scored)
d1, d2, d3 = st.columns(3)
d1.metric(
    "Confirmed anomalies missed",
    f"{result.confirmed_missed} of {result.confirmed_total}",
    help="Reviewed as real anomalies, but scored below the candidate",
)
d2.metric(
    "False alarms cleared",
    f"{result.dismissed_cleared} of {result.dismissed_total}",
    help="Dismissed by reviewers and no longer flagged at the candidate",
)
d3.metric("False alarms still flagged", result.dismissed_still_flagged)
if result.confirmed_newly_missed:
    st.warning(
        f"{result.confirmed_newly_missed} confirmed anomaly(ies) flagged today would be missed."
    )
st.plotly_chart(
    charts.histogram_figure([(b.low, b.high, b.count) for b in bins], current, float(candidate)),
    key="wi_hist",
)

if not actor.can(Role.ADMIN):
    st.info("Only admins put a new threshold in force.", icon=":material/lock:")
    st.stop()

with st.form("wi_save", enter_to_submit=False):
    reason = st.text_input("Reason (kept in the threshold history)", key="wi_reason")
    if st.form_submit_button(f"Put {float(candidate):.4f} in force", type="primary"):
        try:
            with ui.write() as session:
                whatif.save_threshold(session, actor, line_id, float(candidate), reason)
        except Exception as exc:
            ui.show_error(exc)
        else:
            st.session_state["wi_saved"] = f"Threshold {float(candidate):.4f} is now in force."
            st.rerun()
if saved := st.session_state.pop("wi_saved", None):
    st.success(saved)
