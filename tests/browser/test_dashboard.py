"""The dashboard in a real browser: log in, review flagged samples, download the report,
role limits, screenshots.

Run with ``pytest -m browser tests/browser``; screenshots land in ``docs/screenshots/``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.app.ui.seed import PASSWORD
from tests.browser.conftest import REPO, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = REPO / "docs" / "screenshots"
TIMEOUT_MS = 30_000


def _log_in(browser, server: Server, username: str):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server.url)
    page.get_by_label("User name").fill(username)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Overview").wait_for()
    return page


def _open(page, link: str, heading: str | None = None):  # type: ignore[no-untyped-def]
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=link).click()
    page.get_by_role("heading", name=heading or link).first.wait_for()
    _settle(page)


def _settle(page) -> None:  # type: ignore[no-untyped-def]
    """Wait until Streamlit stops running the script, then give charts a moment to draw."""
    page.wait_for_timeout(300)
    page.get_by_test_id("stStatusWidget").wait_for(state="detached", timeout=TIMEOUT_MS)
    page.wait_for_timeout(800)


def _shot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    """The whole page: Streamlit scrolls inside its main container, not the document, so the
    viewport is stretched to the content's height for the shot and put back afterwards."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    page.evaluate("document.querySelectorAll('section, div').forEach(e => { e.scrollTop = 0; })")
    size = page.viewport_size
    height = page.evaluate(
        "Math.max(...[...document.querySelectorAll('[data-testid=stMain], section')]"
        ".map(e => e.scrollHeight), document.body.scrollHeight)"
    )
    page.set_viewport_size({"width": size["width"], "height": min(max(height, 600), 4000)})
    page.wait_for_timeout(500)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path


def _matches(page) -> int:  # type: ignore[no-untyped-def]
    text = page.get_by_text(re.compile(r"flagged sample\(s\) match")).inner_text()
    return int(text.split()[0])


def _review(page, sample_id: int, verdict_label: str, comment: str) -> None:  # type: ignore[no-untyped-def]
    form = page.get_by_test_id("stForm")
    box = form.get_by_test_id("stMultiSelect").get_by_role("combobox")
    box.click()
    box.fill(str(sample_id))
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    form.get_by_text(verdict_label).click()
    form.get_by_label("Comment (optional)").fill(comment)
    form.get_by_role("button", name="Save verdict").click()


def _pdf_text(path: Path) -> str:
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.skip("pdftotext not installed (apt-get install -y poppler-utils)")
    done = subprocess.run(
        [pdftotext, "-layout", str(path), "-"], capture_output=True, text=True, check=True
    )
    return done.stdout


UPLOAD = (
    "timestamp,pressure,temperature,vibration\n"
    "2024-03-01T08:00:00Z,101.0,60.5,2.1\n"
    "2024-03-01T08:01:00Z,102.0,60.7,2.0\n"
    "2024-03-01T08:02:00Z,abc,60.9,2.2\n"
    "2024-03-01T08:03:00Z,103.5,61.0,2.1\n"
)


def test_reviewer_confirms_and_dismisses_and_the_counts_change(  # type: ignore[no-untyped-def]
    server: Server, browser, tmp_path: Path
) -> None:
    page = _log_in(browser, server, "rita")
    _settle(page)
    _shot(page, "overview.png")
    _open(page, "Review queue")
    before = _matches(page)
    assert before == len(server.seeded.flagged_ids)
    first, second = server.seeded.flagged_ids[:2]

    _review(page, first, "Confirm anomaly", "real pressure spike")
    page.get_by_text("Saved 'confirmed' for 1 sample(s).").first.wait_for()
    _settle(page)
    assert _matches(page) == before - 1

    _review(page, second, "Dismiss (false alarm)", "valve test, expected")
    page.get_by_text("Saved 'dismissed' for 1 sample(s).").first.wait_for()
    _settle(page)
    assert _matches(page) == before - 2
    _shot(page, "review_queue.png")

    page.get_by_role("button", name="Open sample detail").click()
    page.get_by_role("heading", name="Sample detail").wait_for()
    _settle(page)
    _shot(page, "sample_detail.png")

    _open(page, "Threshold what-if")
    _shot(page, "threshold_whatif.png")

    _open(page, "Data")
    upload = tmp_path / "shift2.csv"
    upload.write_text(UPLOAD)
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(upload))
    page.get_by_text("Preview of").first.wait_for()
    _settle(page)
    _shot(page, "data.png")

    _open(page, "Reports")
    page.get_by_role("button", name="Build report").click()
    download_button = page.get_by_test_id("stDownloadButton").get_by_role("button")
    download_button.wait_for()
    _settle(page)
    _shot(page, "reports.png")
    with page.expect_download() as info:
        download_button.click()
    pdf = tmp_path / info.value.suggested_filename
    info.value.save_as(pdf)
    page.close()
    assert pdf.suffix == ".pdf" and pdf.read_bytes().startswith(b"%PDF-")
    text = _pdf_text(pdf)
    assert "press-1" in text
    assert re.search(rf"\b{first}\b", text), f"flagged sample {first} not in the PDF"
    assert "real pressure spike" in text  # the reviewer's comment on it


def test_viewer_sees_the_queue_but_cannot_review(server: Server, browser) -> None:  # type: ignore[no-untyped-def]
    page = _log_in(browser, server, "vic")
    nav = page.get_by_test_id("stSidebarNav")
    assert nav.get_by_role("link", name="Users").count() == 0
    assert nav.get_by_role("link", name="Threshold what-if").count() == 0
    _open(page, "Review queue")
    assert _matches(page) > 0
    page.get_by_text("You have read-only access (viewer)").wait_for()
    assert page.get_by_role("button", name="Save verdict").count() == 0
    _shot(page, "review_queue_viewer.png")
    page.close()


def _name_a_clean_window_and_clear_it(page) -> None:  # type: ignore[no-untyped-def]
    """The trusted-clean-window form round trip: typed dates reach the database and come back."""
    form = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Save window"))
    for label, parts in (("From (UTC)", ("2026", "11", "02")), ("To (UTC)", ("2026", "11", "04"))):
        for part, typed in zip(("year", "month", "day"), parts, strict=True):
            form.get_by_role("spinbutton", name=f"{part}, {label}").click()
            page.keyboard.type(typed)
    form.get_by_role("button", name="Save window").click()
    saved = re.compile(r"trusted clean window 2026-11-02 00:00 to 2026-11-04 00:00 UTC")
    page.get_by_text(saved).first.wait_for()
    _settle(page)
    page.get_by_text(re.compile(r"^2026-11-02 00:00 to 2026-11-04 00:00 UTC\.")).wait_for()
    form.get_by_role("button", name="Clear window").click()
    page.get_by_text(re.compile(r"trusted clean window cleared")).first.wait_for()
    _settle(page)
    page.get_by_text(re.compile(r"^None named\.")).wait_for()


def test_admin_pages(server: Server, browser) -> None:  # type: ignore[no-untyped-def]
    page = _log_in(browser, server, "ada")
    _open(page, "Models")
    page.get_by_text("Not activated:").first.wait_for()
    _settle(page)
    _shot(page, "models.png")
    _name_a_clean_window_and_clear_it(page)
    _open(page, "Schedules")
    page.get_by_role("button", name="Pause schedule").wait_for()
    _shot(page, "schedules.png")
    _open(page, "Audit log")
    page.get_by_test_id("stDataFrame").first.wait_for()
    _shot(page, "audit.png")
    _open(page, "Users")
    _shot(page, "users.png")
    page.get_by_test_id("stSidebar").get_by_role("button", name="Log out").click()
    page.get_by_role("button", name="Log in").wait_for()
    _shot(page, "login.png")
    page.close()
