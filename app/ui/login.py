"""Login page: the only page an unauthenticated visitor sees.

Local accounts log in with a password (argon2, lockout after repeated failures). When an
``[auth]`` section is configured in ``.streamlit/secrets.toml``, an SSO button (``st.login``)
is offered too; the identity it proves (``st.user.email``) must match an active kdmon user,
whose role stays in our user table.
"""

from __future__ import annotations

import streamlit as st

from app.services.auth import LOGIN_FAILED_MESSAGE, LoginFailedError, actor_for_identity
from app.services.auth import authenticate as password_login
from app.ui import common as ui

st.title("kdmon")
st.caption("Anomaly monitoring for the plant. Please log in.")

if st.session_state.pop(ui.EXPIRED_KEY, False):
    st.info("Your session expired. Please log in again.")


def _sso_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


if _sso_configured():
    user = getattr(st, "user", None)
    if user is not None and user.get("is_logged_in"):
        with ui.read() as session:
            actor = actor_for_identity(session, str(user.get("email", "")))
        if actor is None:
            st.error("Your SSO identity has no active kdmon account. Ask an admin to add you.")
        else:
            ui.log_in(actor)
            st.rerun()
    elif st.button("Log in with SSO", icon=":material/key:"):
        st.login()

with st.form("login", enter_to_submit=True):
    username = st.text_input("User name", key="login_username", autocomplete="username")
    password = st.text_input(
        "Password", type="password", key="login_password", autocomplete="current-password"
    )
    submitted = st.form_submit_button("Log in", type="primary")

if submitted:
    try:
        with ui.session_factory()() as session:
            actor = password_login(session, ui.settings(), username, password)
    except LoginFailedError:
        st.error(LOGIN_FAILED_MESSAGE)
    else:
        ui.log_in(actor)
        st.rerun()
