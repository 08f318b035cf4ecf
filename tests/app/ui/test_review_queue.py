"""Review queue page: filter, sort, single and bulk verdicts, viewers read only."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.services.auth import Actor
from app.services.errors import PermissionDeniedError
from app.services.review import record_verdicts
from db.models import Review, Role, Verdict
from tests.app.ui.seed import Seeded

PAGE = "app/ui/review_queue.py"
SUBMIT = "FormSubmitter:review_form-Save verdict"


def _count_line(at) -> str:  # type: ignore[no-untyped-def]
    return next(m.value for m in at.markdown if "flagged sample(s) match" in m.value)


def test_queue_lists_unreviewed_flags_highest_score_first(seeded: Seeded, app_as) -> None:  # type: ignore[no-untyped-def]
    at = app_as("rita", PAGE)
    assert not at.exception
    assert _count_line(at).startswith("**12**")
    table = at.dataframe[0].value
    assert list(table["Sample"]) == seeded.flagged_ids
    assert table["Top features"][0].startswith("pressure")


def test_a_reviewer_confirms_one_sample_and_the_count_drops(
    seeded: Seeded,
    app_as,
    app_factory,  # type: ignore[no-untyped-def]
) -> None:
    at = app_as("rita", PAGE)
    at.multiselect(key="rq_ids_").select(seeded.flagged_ids[0])
    at.radio(key="rq_verdict").set_value("confirmed")
    at.text_area(key="rq_comment").input("pressure spike, real")
    at.button(key=SUBMIT).click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Saved 'confirmed' for 1 sample(s)."]
    assert _count_line(at).startswith("**11**")
    at.selectbox(key="rq_filter").set_value("confirmed").run()
    table = at.dataframe[0].value
    assert list(table["Sample"]) == [seeded.flagged_ids[0]]
    assert table["Comment"][0] == "pressure spike, real" and table["By"][0] == "rita"


def test_bulk_review_asks_for_confirmation_and_cancel_writes_nothing(
    seeded: Seeded,
    app_as,
    app_factory,  # type: ignore[no-untyped-def]
) -> None:
    at = app_as("rita", PAGE)
    at.checkbox(key="rq_whole_page").check()
    at.radio(key="rq_verdict").set_value("dismissed")
    at.button(key=SUBMIT).click().run()
    assert any("12 samples" in m.value for m in at.markdown)
    at.button(key="rq_bulk_no").click().run()
    with app_factory() as session:
        assert session.scalar(select(func.count()).select_from(Review)) == 0
    at.button(key=SUBMIT).click().run()
    at.button(key="rq_bulk_yes").click().run()
    assert [s.value for s in at.success] == ["Saved 'dismissed' for 12 sample(s)."]
    assert any("Nothing to review" in i.value for i in at.info)


def test_filters_sort_and_line_choice(seeded: Seeded, app_as) -> None:  # type: ignore[no-untyped-def]
    at = app_as("vic", PAGE)
    at.selectbox(key="rq_sort").set_value("ts_asc").run()
    times = list(at.dataframe[0].value["Time"])
    assert times == sorted(times)
    at.multiselect(key="rq_lines").set_value([]).run()
    assert _count_line(at).startswith("**0**") or any("Nothing" in i.value for i in at.info)


def test_a_viewer_sees_the_queue_but_cannot_save_a_verdict(
    seeded: Seeded,
    app_as,
    app_factory,  # type: ignore[no-untyped-def]
) -> None:
    at = app_as("vic", PAGE)
    assert not at.exception
    assert len(at.dataframe[0].value) == 12
    assert not [b for b in at.button if b.key == SUBMIT]
    assert any("read-only" in i.value for i in at.info)
    with app_factory() as session, pytest.raises(PermissionDeniedError):
        record_verdicts(
            session, Actor("vic", Role.VIEWER), seeded.flagged_ids[:1], Verdict.CONFIRMED
        )


def test_open_sample_detail_from_the_queue(seeded: Seeded, app_as) -> None:  # type: ignore[no-untyped-def]
    at = app_as("rita", PAGE)
    at.selectbox(key="rq_open").set_value(seeded.flagged_ids[2])
    at.button(key="rq_open_btn").click().run()
    assert not at.exception
    assert at.title[0].value == "Sample detail"
    assert at.subheader[0].value.startswith(f"Sample {seeded.flagged_ids[2]}")
