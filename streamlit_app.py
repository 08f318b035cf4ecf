"""kdmon dashboard entrypoint: ``streamlit run streamlit_app.py`` (or ``kdmon serve``).

The menu is built from the logged-in actor's role on every run; an unauthenticated visitor
only gets the login page. Each page re-checks the role itself (see ``app.ui.common``).
"""

from __future__ import annotations

import streamlit as st

from app.ui.common import current_actor, fmt_time, log_out, session_expiry
from app.ui.navigation import DEFAULT_PAGE, LOGIN_PAGE, visible_pages
from db.models import Role

st.set_page_config(page_title="kdmon", page_icon=":material/monitoring:", layout="wide")

actor = current_actor()
if actor is None:
    navigation = st.navigation(
        [st.Page(LOGIN_PAGE, title="Log in", icon=":material/login:", default=True)]
    )
else:
    sections: dict[str, list[st.Page]] = {}
    for page in visible_pages(actor):
        sections.setdefault(page.section, []).append(
            st.Page(page.path, title=page.title, icon=page.icon, default=page.path == DEFAULT_PAGE)
        )
    navigation = st.navigation(sections)
    with st.sidebar:
        st.markdown(f"**{actor.username}** · {Role(actor.role).value}")
        st.caption(f"Session valid until {fmt_time(session_expiry())}")
        if st.button("Log out", key="logout", icon=":material/logout:"):
            log_out()
            st.rerun()
navigation.run()
