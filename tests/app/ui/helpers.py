"""Small helpers for AppTest assertions."""

from __future__ import annotations

import pandas as pd
from streamlit.testing.v1 import AppTest


def table_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first ``st.dataframe`` on the page that has ``column`` (AppTest drops their keys)."""
    for frame in at.dataframe:
        if column in frame.value.columns:
            return frame.value
    raise AssertionError(f"no table with a {column!r} column on the page")
