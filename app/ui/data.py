"""Data: upload a file (preview first, then ingest), the batches so far and their rejected rows.

The preview runs the same validation as the ingest and writes nothing; "Ingest this file" then
commits the batch through ``app.ingest.ingest_file`` (one transaction). Rejected rows stay in
the batch's quarantine and download as CSV to be fixed and ingested again.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import streamlit as st

from app import ingest
from app.ingest import IngestReport, ValidationPolicy
from app.services import queries
from app.ui import common as ui
from db.models import Role

PREVIEW_KEY = "data_preview"
RESULT_KEY = "data_result"
MISSING_LABELS = {
    "reject": "Reject the row",
    "fill_forward": "Fill from the row above (short gaps only; the row is marked repaired)",
}


@contextmanager
def _as_file(name: str, content: bytes) -> Iterator[Path]:
    """The upload as a file under its own name (ingest reports name the file), then gone."""
    with tempfile.TemporaryDirectory(prefix="kdmon-upload-") as folder:
        path = Path(folder) / (Path(name).name or "upload")
        path.write_bytes(content)
        yield path


def _show_report(report: IngestReport, key: str) -> None:
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Rows received", report.n_received)
    c2.metric("Accepted", report.n_accepted)
    c3.metric("Repaired", report.n_repaired, help="Accepted after a repair (e.g. fill-forward)")
    c4.metric("Rejected", report.n_rejected, help="Kept in the batch's quarantine, with reasons")
    if report.repairs:
        st.markdown("**What was done to the file**")
        st.markdown("\n".join(f"- {rule}" for rule in report.repairs))
    if report.problems:
        shown = len(report.problems)
        more = f" (first {shown} of {report.n_rejected})" if report.n_rejected > shown else ""
        st.markdown(f"**Rejected rows{more}**")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Row": p.row_number,
                        "Column": p.column or "",
                        "Reason": p.reason,
                        "Raw": p.raw,
                    }
                    for p in report.problems
                ]
            ),
            hide_index=True,
            width="stretch",
            key=f"{key}_problems",
        )


actor = ui.page_actor(Role.REVIEWER)
st.title("Data")

if result := st.session_state.pop(RESULT_KEY, None):
    st.success(result, icon=":material/check_circle:")

st.subheader("Upload a file")
lines = ui.cached(queries.list_line_choices)()
if not lines:
    st.info("No production lines yet; create one with `kdmon lines add` or `kdmon demo`.")
else:
    names = [line.name for line in lines]
    left, right = st.columns(2)
    line_name = left.selectbox("Line", names, key="data_line")
    missing = right.radio(
        "Missing values", list(MISSING_LABELS), format_func=MISSING_LABELS.get, key="data_missing"
    )
    policy = ValidationPolicy(missing=missing)
    upload = st.file_uploader(
        "CSV, Parquet or XLSX", type=["csv", "parquet", "xlsx"], key="data_upload"
    )
    with st.expander("How rows are checked and repaired"):
        st.markdown("\n".join(f"- {rule}" for rule in policy.describe()))
    if upload is not None:
        content = upload.getvalue()
        wanted = (line_name, missing, upload.name, hashlib.sha256(content).hexdigest())
        cached = st.session_state.get(PREVIEW_KEY)
        preview: IngestReport | None = None
        if cached is not None and cached[0] == wanted:
            preview = cached[1]
        else:
            try:
                with st.spinner("Checking the file…"), _as_file(upload.name, content) as path:
                    preview = ingest.preview_file(
                        ui.session_factory(), ui.settings(), line_name, path, policy=policy
                    )
            except Exception as exc:
                st.session_state.pop(PREVIEW_KEY, None)
                ui.show_error(exc)
            else:
                st.session_state[PREVIEW_KEY] = (wanted, preview)
        if preview is not None and preview.duplicate:
            st.info(preview.summary(), icon=":material/content_copy:")
        elif preview is not None:
            st.markdown(f"**Preview of `{upload.name}` for {line_name}** (nothing written yet)")
            _show_report(preview, "data_preview")
            if st.button("Ingest this file", type="primary", key="data_ingest"):
                try:
                    with st.spinner("Ingesting…"), _as_file(upload.name, content) as path:
                        report = ingest.ingest_file(
                            ui.session_factory(),
                            ui.settings(),
                            line_name,
                            path,
                            source="upload",
                            policy=policy,
                            filename=upload.name,
                            actor=actor,
                        )
                except Exception as exc:
                    ui.show_error(exc)
                else:
                    ui.changed()
                    st.session_state.pop(PREVIEW_KEY, None)
                    st.session_state[RESULT_KEY] = report.summary().splitlines()[0]
                    st.rerun()

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
    with_rejects = {b.batch_id: b for b in page.items if b.n_rejected}
    if with_rejects:
        st.markdown("**Rejected rows of a batch**")
        batch_id = st.selectbox(
            "Batch",
            list(with_rejects),
            format_func=lambda i: (
                f"#{i} · {with_rejects[i].line_name} · {with_rejects[i].filename} "
                f"({with_rejects[i].n_rejected} rejected)"
            ),
            key="data_quarantine_batch",
        )
        csv_bytes = ui.cached(ingest.quarantine_csv)(batch_id)
        st.download_button(
            f"Download the {with_rejects[batch_id].n_rejected} rejected rows (CSV)",
            csv_bytes,
            file_name=f"kdmon-rejected_batch-{batch_id}.csv",
            mime="text/csv",
            key="data_quarantine_dl",
            icon=":material/download:",
        )
