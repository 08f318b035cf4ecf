"""Review queue: flagged samples, sorted and filtered; confirm, dismiss or mark unsure.

Everyone may read the queue; saving needs the reviewer role (checked again by the service).
One sample is saved at once; several go through a confirmation dialog. The form is keyboard
friendly: tab through the fields and press the submit button (or Ctrl+Enter in the comment).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.services import queries
from app.services.review import record_verdicts
from app.ui import common as ui
from db.models import Role, Verdict

VERDICT_LABELS = {
    Verdict.CONFIRMED: "Confirm anomaly",
    Verdict.DISMISSED: "Dismiss (false alarm)",
    Verdict.UNSURE: "Unsure",
}
FILTER_LABELS = {
    "unreviewed": "Not reviewed yet",
    "all": "All flagged",
    "confirmed": "Confirmed",
    "dismissed": "Dismissed",
    "unsure": "Unsure",
}
SORT_LABELS = {
    "score_desc": "Highest score first",
    "score_asc": "Lowest score first",
    "ts_desc": "Newest first",
    "ts_asc": "Oldest first",
}
PENDING_KEY = "review_pending_bulk"
TOAST_KEY = "review_toast"

actor = ui.page_actor(Role.VIEWER)
can_review = actor.can(Role.REVIEWER)

st.title("Review queue")
if message := st.session_state.pop(TOAST_KEY, None):
    st.success(message, icon=":material/check_circle:")
    st.toast(message)

lines = ui.cached(queries.list_line_choices)()
if not lines:
    st.info("No production lines yet.")
    st.stop()
names = {line.line_id: line.name for line in lines}

f1, f2, f3, f4 = st.columns([3, 2, 2, 1])
line_ids = f1.multiselect(
    "Lines", list(names), default=list(names), format_func=names.get, key="rq_lines"
)
verdict_filter = f2.selectbox(
    "Show", list(FILTER_LABELS), format_func=FILTER_LABELS.get, key="rq_filter"
)
sort = f3.selectbox("Sort", list(SORT_LABELS), format_func=SORT_LABELS.get, key="rq_sort")
page_size = f4.selectbox("Per page", [25, 50, 100, 200], index=1, key="rq_size")
page_no = int(st.session_state.get("rq_page", 1))

page = ui.cached(queries.flagged_samples)(
    tuple(line_ids), sort, verdict_filter, page_size, (page_no - 1) * page_size
)
if page_no > page.page_count:  # filters shrank the result: go back to the last page
    st.session_state["rq_page"] = page.page_count
    st.rerun()

st.markdown(f"**{page.total}** flagged sample(s) match · page {page_no} of {page.page_count}")
if not page.items:
    st.info("Nothing to review with these filters.", icon=":material/task_alt:")
    st.stop()

table = pd.DataFrame(
    [
        {
            "Sample": row.sample_id,
            "Line": row.line_name,
            "Time": row.ts,
            "Score": row.score,
            "Threshold": row.threshold,
            "Model": f"v{row.model_version}",
            "Top features": ui.fmt_features(row.top_features),
            "Verdict": row.verdict.value if row.verdict else "",
            "By": row.reviewer or "",
            "Comment": row.comment or "",
        }
        for row in page.items
    ]
)
event = st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="multi-row",
    key="rq_table",
    column_config={
        "Sample": st.column_config.NumberColumn(format="%d"),
        "Score": st.column_config.NumberColumn(format="%.4f"),
        "Threshold": st.column_config.NumberColumn(format="%.4f"),
        "Time": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
    },
)
selected_rows = list(getattr(getattr(event, "selection", None), "rows", []) or [])
selected_ids = [int(table.iloc[i]["Sample"]) for i in selected_rows if i < len(table)]
page_ids = [row.sample_id for row in page.items]

nav1, nav2 = st.columns([1, 4])
nav1.number_input("Page", min_value=1, max_value=page.page_count, step=1, key="rq_page")
with nav2:
    open_id = st.selectbox(
        "Open a sample",
        page_ids,
        index=page_ids.index(selected_ids[0]) if selected_ids else 0,
        key="rq_open",
    )
    if st.button("Open sample detail", icon=":material/open_in_new:", key="rq_open_btn"):
        st.switch_page("app/ui/sample_detail.py", query_params={"sample": str(open_id)})


def _save(ids: list[int], verdict: Verdict, comment: str) -> None:
    try:
        with ui.write() as session:
            record_verdicts(session, actor, ids, verdict, comment)
    except Exception as exc:  # shown to the person, nothing was written
        ui.show_error(exc)
        return
    st.session_state[TOAST_KEY] = f"Saved '{verdict.value}' for {len(ids)} sample(s)."
    st.session_state.pop(PENDING_KEY, None)
    st.rerun()


@st.dialog("Confirm bulk review")
def _confirm_bulk(ids: list[int], verdict: Verdict, comment: str) -> None:
    st.write(
        f"Mark **{len(ids)} samples** as **{verdict.value}**"
        + (f" with the comment *{comment}*?" if comment else "?")
    )
    st.caption(f"Samples: {', '.join(map(str, ids[:30]))}{' …' if len(ids) > 30 else ''}")
    yes, no = st.columns(2)
    if yes.button("Yes, save all", type="primary", key="rq_bulk_yes"):
        _save(ids, verdict, comment)
    if no.button("Cancel", key="rq_bulk_no"):
        st.session_state.pop(PENDING_KEY, None)
        st.rerun()


st.subheader("Record a verdict")
if not can_review:
    st.info(
        "You have read-only access (viewer). Reviewers and admins record verdicts.",
        icon=":material/lock:",
    )
    st.stop()

with st.form("review_form", clear_on_submit=False, enter_to_submit=False):
    chosen = st.multiselect(
        "Samples",
        page_ids,
        default=selected_ids,
        key=f"rq_ids_{'_'.join(map(str, selected_ids))}",
        help="Pick from this page, or select rows in the table above.",
    )
    whole_page = st.checkbox(f"All {len(page_ids)} samples on this page", key="rq_whole_page")
    verdict = st.radio(
        "Verdict",
        list(VERDICT_LABELS),
        format_func=VERDICT_LABELS.get,
        horizontal=True,
        key="rq_verdict",
    )
    comment = st.text_area("Comment (optional)", key="rq_comment", height=68)
    submitted = st.form_submit_button("Save verdict", type="primary")

if submitted:
    ids = page_ids if whole_page else [int(i) for i in chosen]
    if not ids:
        st.warning("Choose at least one sample.")
    elif len(ids) == 1:
        _save(ids, Verdict(verdict), comment)
    else:
        st.session_state[PENDING_KEY] = (ids, Verdict(verdict).value, comment)

if pending := st.session_state.get(PENDING_KEY):
    _confirm_bulk(list(pending[0]), Verdict(pending[1]), pending[2])
