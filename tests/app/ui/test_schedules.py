"""Schedules page: the real schedules and runs services behind it."""

from __future__ import annotations

from sqlalchemy import select

from db.models import AuditEvent, JobRun, Line, RunStatus
from tests.app.ui.helpers import table_with
from tests.app.ui.seed import Seeded


def test_admin_pauses_a_line_and_queues_a_retrain_now(
    seeded: Seeded,
    app_as,
    app_factory,  # type: ignore[no-untyped-def]
) -> None:
    at = app_as("ada", "app/ui/schedules.py")
    assert not at.exception
    table = table_with(at, "Retrain (cron)")
    assert list(table["Line"]) == ["press-1"] and not table["Paused"][0]

    at.button(key="schedules_pause").click().run()
    assert not at.exception
    assert any("paused" in s.value for s in at.success)
    assert bool(table_with(at, "Retrain (cron)")["Paused"][0])
    assert at.button(key="schedules_resume")

    at.selectbox(key="schedules_job").set_value("retrain")
    at.button(key="FormSubmitter:schedules_run_now-Queue it").click().run()
    assert not at.exception
    assert any("Retrain queued for press-1" in s.value for s in at.success)
    history = table_with(at, "Trigger")
    assert (history["Trigger"][0], history["Status"][0], history["Job"][0]) == (
        "manual",
        "queued",
        "retrain",
    )
    with app_factory() as session:
        line = session.get(Line, seeded.line_id)
        assert line is not None and line.schedule_paused
        manual = list(session.scalars(select(JobRun).where(JobRun.trigger == "manual")))
        actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert [(r.job, r.line_id, RunStatus(r.status)) for r in manual] == [
        ("retrain", seeded.line_id, RunStatus.QUEUED)
    ]
    assert actions == ["schedule.pause", "job.run_now"]


def test_admin_edits_the_cron_and_a_bad_one_is_explained(
    seeded: Seeded,
    app_as,
    app_factory,  # type: ignore[no-untyped-def]
) -> None:
    at = app_as("ada", "app/ui/schedules.py")
    line = seeded.line_id
    submit = f"FormSubmitter:schedules_edit_{line}-Save schedule"
    at.text_input(key=f"schedules_cron_{line}").input("0 2 * *")
    at.button(key=submit).click().run()
    assert any("expected 5 fields" in e.value for e in at.error)
    at.text_input(key=f"schedules_cron_{line}").input("30 3 * * 1-5")
    at.text_input(key=f"schedules_tz_{line}").input("Europe/Berlin")
    at.button(key=submit).click().run()
    assert not at.exception and not [e for e in at.error if "cron" in e.value]
    assert any("now retrains at '30 3 * * 1-5'" in m.value for m in at.success)
    table = table_with(at, "Retrain (cron)")
    assert (table["Retrain (cron)"][0], table["Time zone"][0]) == ("30 3 * * 1-5", "Europe/Berlin")
    with app_factory() as session:
        stored = session.get(Line, line)
        assert stored is not None and stored.retrain_cron == "30 3 * * 1-5"


def test_a_viewer_sees_schedules_and_failures_but_changes_nothing(
    seeded: Seeded,
    app_as,  # type: ignore[no-untyped-def]
) -> None:
    at = app_as("vic", "app/ui/schedules.py")
    assert not at.exception
    assert table_with(at, "Retrain (cron)")["Line"][0] == "press-1"
    assert not [b for b in at.button if b.key.startswith(("schedules_", "FormSubmitter:sched"))]
    assert any("Only admins" in i.value for i in at.info)
    history = table_with(at, "Trigger")
    failed = history[history["Status"] == "failed"]
    assert list(failed["Reason"]) == ["ValueError: column 'pressure' missing"]
    assert any("column 'pressure' missing" in e.value for e in at.error)
    at.selectbox(key="runs_status").set_value("succeeded").run()
    assert list(table_with(at, "Trigger")["Status"]) == ["succeeded"]
