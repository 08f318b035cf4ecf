"""Reports page: a real file comes out of the download button."""

from __future__ import annotations

import pytest

from tests.app.ui.seed import Seeded


@pytest.mark.parametrize(("fmt", "magic"), [("pdf", b"%PDF-"), ("csv", b"")])
def test_a_viewer_builds_a_report_and_the_download_button_has_the_file(
    seeded: Seeded,
    app_as,
    downloads,
    fmt: str,
    magic: bytes,  # type: ignore[no-untyped-def]
) -> None:
    at = app_as("vic", "app/ui/reports.py")
    assert not at.exception and not at.download_button
    at.radio(key="report_fmt").set_value(fmt)
    at.button(key="FormSubmitter:report_form-Build report").click().run()
    assert not at.exception, at.exception
    button = at.download_button(key="report_dl")
    assert button.label.startswith("Download kdmon-report_press-1_") and button.label.endswith(fmt)
    content = downloads(button)
    assert content.startswith(magic) and len(content) > 500
    if fmt == "csv":
        assert str(seeded.flagged_ids[0]).encode() in content


def test_an_empty_line_selection_is_explained(seeded: Seeded, app_as) -> None:  # type: ignore[no-untyped-def]
    at = app_as("vic", "app/ui/reports.py")
    at.multiselect(key="report_lines").set_value([])
    at.button(key="FormSubmitter:report_form-Build report").click().run()
    assert [e.value for e in at.error] == ["Choose at least one line for the report."]
    assert not at.download_button
