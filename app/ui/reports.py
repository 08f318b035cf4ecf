"""Reports: PDF, CSV or XLSX for some lines over some days, built by ``app.services.reports``.

The same service builds ``kdmon report`` and the nightly archive, so a report asked for here
looks the same as the one in the archive.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from app.services import queries
from app.services import reports as report_service
from app.services.reports import ReportRequest
from app.ui import common as ui
from db.models import Role

FILE_KEY = "report_file"
FORMAT_LABELS = {
    "pdf": "PDF (summary, charts, top flagged samples)",
    "csv": "CSV (every flagged sample)",
    "xlsx": "Excel (every flagged sample)",
}

actor = ui.page_actor(Role.VIEWER)
st.title("Reports")

lines = ui.cached(queries.list_line_choices)()
if not lines:
    st.info("No production lines yet.")
    st.stop()
names = [line.name for line in lines]
today = datetime.now(UTC).date()
with st.form("report_form", enter_to_submit=False):
    chosen = st.multiselect("Lines", names, default=names[:1], key="report_lines")
    period = st.date_input(
        "Days (first and last, inclusive, UTC)",
        (today - timedelta(days=6), today),
        key="report_days",
    )
    fmt = st.radio(
        "Format",
        list(report_service.FORMATS),
        format_func=FORMAT_LABELS.get,
        horizontal=True,
        key="report_fmt",
    )
    submitted = st.form_submit_button("Build report", type="primary")

if submitted:
    st.session_state.pop(FILE_KEY, None)
    try:
        if isinstance(period, tuple):
            first, last = (period[0], period[-1]) if period else (today, today)
        else:
            first = last = period
        request = ReportRequest.for_days(tuple(chosen), first, last)
        with st.spinner("Building the report…"):
            content = report_service.build_report(ui.session_factory(), ui.settings(), request, fmt)
    except Exception as exc:
        ui.show_error(exc)
    else:
        st.session_state[FILE_KEY] = (
            report_service.report_filename(request, fmt),
            content,
            report_service.MEDIA_TYPES[fmt],
        )

if built := st.session_state.get(FILE_KEY):
    name, content, mime = built
    st.success(f"{name} is ready ({len(content) / 1024:,.0f} KiB).")
    st.download_button(
        f"Download {name}",
        content,
        file_name=name,
        mime=mime,
        key="report_dl",
        icon=":material/download:",
        type="primary",
    )
