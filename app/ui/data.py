"""Data: the files ingested so far and (reviewers, admins) uploading a new one.

Upload goes through ``app.ingest`` (preview_file, then ingest_file), which another engineer
owns; until it is installed the page says so and still lists the batches already in.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from app.services import queries
from app.ui import adapters
from app.ui import common as ui
from db.models import Role

actor = ui.page_actor(Role.REVIEWER)
st.title("Data")

st.subheader("Upload a file")
ingest = adapters.load("app.ingest", "ingest_file", "preview_file")
lines = ui.cached(queries.list_line_choices)()
if isinstance(ingest, adapters.Unavailable):
    st.info(ingest.message, icon=":material/hourglass_empty:")
elif not lines:
    st.info("No production lines yet; create one with `kdmon lines add` or `kdmon demo`.")
else:
    names = [line.name for line in lines]
    line_name = st.selectbox("Line", names, key="data_line")
    upload = st.file_uploader("CSV, Parquet or XLSX", type=["csv", "parquet", "xlsx"])
    if upload is not None:
        folder = Path(tempfile.mkdtemp(prefix="kdmon-upload-"))
        path = folder / Path(upload.name).name
        path.write_bytes(upload.getvalue())
        try:
            # Interface agreed with the ingest owner: (factory, settings, line, path, ...).
            preview = ingest.preview_file(ui.session_factory(), ui.settings(), line_name, path)
            st.write(preview)
            if st.button("Ingest this file", type="primary", key="data_ingest"):
                report = ingest.ingest_file(
                    ui.session_factory(),
                    ui.settings(),
                    line_name,
                    path,
                    filename=upload.name,
                    source="upload",
                )
                st.success(getattr(report, "summary", lambda: str(report))())
                st.cache_data.clear()
        except Exception as exc:
            ui.show_error(exc)

st.subheader("Recent batches")
page = ui.cached(queries.recent_batches)(50, 0)
if not page.items:
    st.caption("Nothing ingested yet.")
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Batch": b.batch_id,
                    "Line": b.line_name,
                    "File": b.filename,
                    "Source": b.source,
                    "Received": b.received_at,
                    "Rows": b.n_received,
                    "Accepted": b.n_accepted,
                    "Repaired": b.n_repaired,
                    "Rejected": b.n_rejected,
                    "Scored": b.scored_at,
                }
                for b in page.items
            ]
        ),
        hide_index=True,
        width="stretch",
        key="data_batches",
    )
    st.caption(f"{page.total} batch(es) in total; newest 50 shown.")
