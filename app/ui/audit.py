"""Audit log (admins): every review, login, user, model, threshold and schedule change."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.services import audit
from app.ui import common as ui
from db.models import Role

actor = ui.page_actor(Role.ADMIN)
st.title("Audit log")

size = 100
page_no = int(st.session_state.get("audit_page", 1))
action = st.text_input("Only this action (e.g. review.confirmed, login.failed)", key="audit_action")
with ui.read() as session:
    page = audit.list_events(
        session, size, (page_no - 1) * size, actor=actor, action=action.strip() or None
    )
pages = max(1, -(-page.total // size))
st.number_input("Page", min_value=1, max_value=pages, step=1, key="audit_page")
st.caption(f"{page.total} event(s) · page {page_no} of {pages}")
if page.items:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "When": e.at,
                    "Who": e.actor,
                    "Action": e.action,
                    "Target": e.target,
                    "Details": ", ".join(f"{k}={v}" for k, v in e.details.items()),
                }
                for e in page.items
            ]
        ),
        hide_index=True,
        width="stretch",
        key="audit_table",
    )
