"""Services: plain functions taking a session (factory) and returning dataclasses.

The CLI, the scheduled jobs and the dashboard pages all call these; none of them talks SQL
or torch directly.
"""
