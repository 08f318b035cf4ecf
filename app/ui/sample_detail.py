"""Sample detail: values against the line's normal range, top features, the scores around it,
the model and threshold that flagged it, and its review history. Linkable as ``?sample=<id>``.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.services import queries
from app.services.errors import NotFoundError
from app.services.review import record_verdicts
from app.ui import charts
from app.ui import common as ui
from db.models import Role, Verdict

VERDICT_LABELS = {
    Verdict.CONFIRMED: "Confirm anomaly",
    Verdict.DISMISSED: "Dismiss (false alarm)",
    Verdict.UNSURE: "Unsure",
}
TOAST_KEY = "detail_toast"

actor = ui.page_actor(Role.VIEWER)
st.title("Sample detail")

raw = st.query_params.get("sample", "")
default_id = int(raw) if raw.isdigit() else 0
sample_id = int(
    st.number_input("Sample id", min_value=0, step=1, value=default_id, key="detail_sample_id")
)
if sample_id != default_id and sample_id > 0:
    st.query_params["sample"] = str(sample_id)
if sample_id <= 0:
    st.info("Enter a sample id, or open one from the review queue.")
    st.stop()

try:
    detail = ui.cached(queries.sample_detail)(sample_id)
except NotFoundError as exc:
    st.warning(str(exc))
    st.stop()

if message := st.session_state.pop(TOAST_KEY, None):
    st.success(message, icon=":material/check_circle:")

st.subheader(f"Sample {detail.sample_id} · {detail.line_name}")
st.caption(
    f"{ui.fmt_time(detail.ts) if detail.ts else 'no timestamp'} · file "
    f"`{detail.batch_filename}` row {detail.row_number}"
    + (" · repaired on ingest" if detail.repaired else "")
)
latest = detail.latest
m1, m2, m3, m4 = st.columns(4)
if latest is None:
    st.info("This sample has not been scored yet.")
else:
    m1.metric("Score", f"{latest.score:.4f}")
    m2.metric("Threshold", f"{latest.threshold:.4f}", help="Threshold in force when it was scored")
    m3.metric("Model", f"v{latest.version}", help=latest.detector)
    m4.metric("Flagged", "yes" if latest.flagged else "no")
    if latest.extreme_risk is not None:
        st.metric(
            latest.risk_label.capitalize(),
            f"{latest.extreme_risk:.1%}",
            help="The model's probability of an extreme value on some sensor within the "
            "horizon, forecast from the samples up to this one",
        )
st.markdown(f"Current verdict: **{detail.verdict.value if detail.verdict else 'not reviewed'}**")

left, right = st.columns([3, 2])
with left:
    st.markdown("**Values vs normal range**")
    st.caption(
        f"Normal range: 1st to 99th percentile of the {detail.normal_range_n} most recent "
        "unflagged samples of this line."
    )
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Feature": f.name,
                    "Value": f.value,
                    "Unit": f.unit,
                    "Normal low (p1)": f.p01,
                    "Normal high (p99)": f.p99,
                    "Outside": "⚠ outside" if f.outside else "",
                    "Contribution": f.contribution,
                }
                for f in detail.features
            ]
        ),
        hide_index=True,
        width="stretch",
        key="detail_features",
    )
with right:
    st.markdown("**Top contributing features**")
    if detail.top_features:
        st.plotly_chart(charts.contributions_figure(detail.top_features), key="detail_top")
    else:
        st.caption("The scorer stored no feature contributions for this sample.")

st.markdown("**Scores around this sample** (same model)")
if detail.neighbours:
    st.plotly_chart(
        charts.neighbourhood_figure(
            detail.neighbours, detail.sample_id, latest.threshold if latest else None
        ),
        key="detail_neighbours",
    )

if len(detail.scores) > 1:
    with st.expander(f"Scored by {len(detail.scores)} model versions"):
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Model": f"v{s.version}",
                        "Detector": s.detector,
                        "Score": s.score,
                        "Threshold": s.threshold,
                        "Flagged": s.flagged,
                        "Scored at": s.scored_at,
                    }
                    for s in detail.scores
                ]
            ),
            hide_index=True,
        )

st.markdown("**Review history**")
if detail.history:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "When": h.created_at,
                    "Verdict": h.verdict.value,
                    "By": h.reviewer,
                    "Comment": h.comment or "",
                }
                for h in detail.history
            ]
        ),
        hide_index=True,
        width="stretch",
        key="detail_history",
    )
else:
    st.caption("No verdicts yet.")

if not actor.can(Role.REVIEWER):
    st.info("You have read-only access (viewer).", icon=":material/lock:")
    st.stop()

with st.form("detail_review", enter_to_submit=False):
    verdict = st.radio(
        "Verdict",
        list(VERDICT_LABELS),
        format_func=VERDICT_LABELS.get,
        horizontal=True,
        key="detail_verdict",
    )
    comment = st.text_area("Comment (optional)", key="detail_comment", height=68)
    if st.form_submit_button("Save verdict", type="primary"):
        try:
            with ui.write() as session:
                record_verdicts(session, actor, [detail.sample_id], Verdict(verdict), comment)
        except Exception as exc:
            ui.show_error(exc)
        else:
            st.session_state[TOAST_KEY] = f"Saved '{Verdict(verdict).value}'."
            st.rerun()
