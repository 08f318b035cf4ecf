"""Streamlit pages (one per file, registered in ``streamlit_app.py``) and their shared helpers.

Pages render and call services; they hold no SQL and no business rules.
"""
