"""Users (admins): add accounts, change roles, deactivate, reset passwords. All audited."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.services import users
from app.ui import common as ui
from db.models import Role

actor = ui.page_actor(Role.ADMIN)
st.title("Users")

if message := st.session_state.pop("users_msg", None):
    st.success(message)


def _apply(label: str, call) -> None:  # type: ignore[no-untyped-def]
    try:
        with ui.write() as session:
            call(session)
    except Exception as exc:
        ui.show_error(exc)
    else:
        st.session_state["users_msg"] = label
        st.rerun()


with ui.read() as session:
    accounts = users.list_users(session, actor)
st.dataframe(
    pd.DataFrame(
        [
            {
                "User": u.username,
                "Role": u.role.value,
                "Active": u.active,
                "Locked until": u.locked_until,
                "Failed logins": u.failed_logins,
                "Created": u.created_at,
            }
            for u in accounts
        ]
    ),
    hide_index=True,
    width="stretch",
    key="users_table",
)
roles = [r.value for r in Role]

with st.form("users_add", clear_on_submit=True, enter_to_submit=False):
    st.markdown("**Add a user**")
    a1, a2, a3 = st.columns(3)
    name = a1.text_input("User name", key="users_new_name")
    password = a2.text_input("Initial password", type="password", key="users_new_password")
    role = a3.selectbox("Role", roles, key="users_new_role")
    if st.form_submit_button("Add user", type="primary"):
        _apply(
            f"Added {name}.",
            lambda s: users.add_user(s, name, password, Role(role), actor),
        )

names = [u.username for u in accounts]
with st.form("users_change", enter_to_submit=False):
    st.markdown("**Change an account**")
    c1, c2 = st.columns(2)
    who = c1.selectbox("User", names, key="users_who")
    what = c2.radio(
        "Change",
        ["role", "deactivate", "reactivate", "password"],
        format_func={
            "role": "Set role",
            "deactivate": "Deactivate",
            "reactivate": "Reactivate",
            "password": "Reset password",
        }.get,
        horizontal=True,
        key="users_what",
    )
    new_role = c1.selectbox("New role", roles, key="users_role")
    new_password = c2.text_input("New password", type="password", key="users_password")
    if st.form_submit_button("Apply"):
        calls = {
            "role": lambda s: users.set_role(s, who, Role(new_role), actor),
            "deactivate": lambda s: users.deactivate(s, who, actor),
            "reactivate": lambda s: users.reactivate(s, who, actor),
            "password": lambda s: users.reset_password(s, who, new_password, actor),
        }
        _apply(f"{who}: {what} done.", calls[what])
