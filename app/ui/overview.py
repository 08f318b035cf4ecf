"""Overview: each line's flags today and this week, review progress, model and job health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from app.services import queries
from app.ui import charts
from app.ui import common as ui
from db.models import Role

actor = ui.page_actor(Role.VIEWER)
now = datetime.now(UTC).replace(second=0, microsecond=0)  # cache key changes once a minute

st.title("Overview")
overview = ui.cached(queries.line_overview)(now)
if not overview:
    st.info("No production lines yet. Ingest a first file (`kdmon ingest`) or run `kdmon demo`.")
    st.stop()

open_total = sum(line.open_flags for line in overview)
st.caption(
    f"{len(overview)} line(s) · {open_total} flagged sample(s) waiting for review · "
    f"as of {ui.fmt_time(now)}"
)

for line in overview:
    with st.container(border=True):
        head, model_col = st.columns([3, 2])
        head.subheader(line.name)
        if line.description:
            head.caption(line.description)
        if line.active_version is None:
            model_col.warning("No active model yet: nothing is being scored.")
        else:
            model_col.markdown(
                f"Model **v{line.active_version}** ({line.detector}) · threshold "
                f"**{line.threshold:.4g}**"
            )
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Flagged today", line.flagged_today)
        c2.metric("Flagged this week", line.flagged_week, help="Since Monday 00:00 line time")
        share = line.reviewed_share_week
        c3.metric("Reviewed this week", "–" if share is None else f"{share:.0%}")
        c4.metric("Open flags", line.open_flags, help="Flagged samples without a verdict")
        st.caption(
            f"Last training: {ui.fmt_ago(line.last_training, now)} · "
            f"last scoring: {ui.fmt_ago(line.last_scoring, now)} · "
            f"last batch: {ui.fmt_ago(line.last_batch, now)}"
        )
        for failed in line.failing:
            st.error(
                f"Latest **{failed.job}** run failed ({ui.fmt_time(failed.finished_at)}): "
                f"{failed.error}",
                icon=":material/error:",
            )

st.subheader("Score timeline")
names = {line.line_id: line for line in overview}
left, right = st.columns([2, 1])
line_id = left.selectbox(
    "Line", list(names), format_func=lambda i: names[i].name, key="overview_line"
)
days = right.segmented_control(
    "Range", [1, 7, 30], default=7, format_func=lambda d: f"{d} d", key="overview_days"
)
chosen = names[line_id]
timeline = ui.cached(queries.score_timeline_for_line)(
    line_id, now - timedelta(days=days or 7), now + timedelta(minutes=1)
)
risk = ui.cached(queries.extreme_risk_info)(line_id)
if not timeline:
    st.info("No scores in this range.")
else:
    st.plotly_chart(
        charts.timeline_figure(timeline, chosen.threshold, risk.label if risk else None),
        key="overview_timeline",
    )

quality = ui.cached(queries.flag_quality)(line_id)
if quality is not None:
    with st.expander("How good were the flags? (known faults, demo lines only)", expanded=False):
        st.caption(
            "Compared with the simulator's fault labels. Evaluation only: "
            "labels are never used for training."
        )
        q1, q2, q3 = st.columns(3)
        q1.metric("Precision", "–" if quality.precision is None else f"{quality.precision:.0%}")
        q2.metric("Recall", "–" if quality.recall is None else f"{quality.recall:.0%}")
        q3.metric("Labelled samples", quality.n_labelled)
        st.caption(
            f"{quality.true_positives} faults flagged, {quality.false_positives} false alarms, "
            f"{quality.false_negatives} faults missed."
        )
