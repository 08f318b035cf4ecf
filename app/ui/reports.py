"""Reports: PDF, CSV or XLSX for some lines over some days, built by app.services.reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from app.services import queries
from app.ui import adapters
from app.ui import common as ui
from db.models import Role

actor = ui.page_actor(Role.VIEWER)
st.title("Reports")

service = adapters.load("app.services.reports", "build_report", "report_filename", "MEDIA_TYPES")
request_module = adapters.load("app.reports.request", "ReportRequest")
if isinstance(service, adapters.Unavailable) or isinstance(request_module, adapters.Unavailable):
    missing = service if isinstance(service, adapters.Unavailable) else request_module
    st.info(missing.message, icon=":material/hourglass_empty:")
    st.stop()

lines = ui.cached(queries.list_line_choices)()
if not lines:
    st.info("No production lines yet.")
    st.stop()
names = [line.name for line in lines]
today = datetime.now(UTC).date()
with st.form("report_form", enter_to_submit=False):
    chosen = st.multiselect("Lines", names, default=names[:1], key="report_lines")
    period = st.date_input(
        "Days (first and last, inclusive)", (today - timedelta(days=6), today), key="report_days"
    )
    fmt = st.radio("Format", ["pdf", "csv", "xlsx"], horizontal=True, key="report_fmt")
    submitted = st.form_submit_button("Build report", type="primary")

if submitted:
    try:
        first, last = period if isinstance(period, tuple) and len(period) == 2 else (period, period)
        request = request_module.ReportRequest.for_days(tuple(chosen), first, last)
        with st.spinner("Building the report…"):
            content = service.build_report(ui.session_factory(), ui.settings(), request, fmt)
        st.session_state["report_file"] = (
            service.report_filename(request, fmt),
            content,
            service.MEDIA_TYPES[fmt],
        )
    except Exception as exc:
        ui.show_error(exc)

if built := st.session_state.get("report_file"):
    name, content, mime = built
    st.download_button(f"Download {name}", content, file_name=name, mime=mime, key="report_dl")
