"""AppTest fixtures: a seeded SQLite database the app finds through KDMON_* env vars."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import DownloadButton

from app.config import Settings
from app.ui.common import AUTH_KEY
from db.engine import make_engine, make_session_factory
from tests.app.ui.seed import Seeded, seed_plant

REPO = Path(__file__).resolve().parents[3]
ENTRYPOINT = str(REPO / "streamlit_app.py")


@pytest.fixture
def app_factory(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> sessionmaker[Session]:
    monkeypatch.setenv("KDMON_DATA_DIR", str(sqlite_settings.data_dir))
    monkeypatch.setenv("KDMON_DATABASE_URL", sqlite_settings.database_url)
    monkeypatch.chdir(REPO)
    engine = make_engine(sqlite_settings.database_url)
    yield make_session_factory(engine)  # type: ignore[misc]
    engine.dispose()


@pytest.fixture
def seeded(app_factory: sessionmaker[Session]) -> Seeded:
    return seed_plant(app_factory)


@pytest.fixture
def risk_line(seeded: Seeded, app_factory: sessionmaker[Session]) -> Seeded:
    """A second line beside ``seeded`` whose model stores extreme-event risk (xTime-like)."""
    return seed_plant(
        app_factory, line_name="kiln-x", with_users=False, ground_truth=False, risk=True
    )


@pytest.fixture
def app_as() -> Callable[..., AppTest]:
    """An AppTest of the whole app, logged in as ``username`` and opened on ``page``."""

    def make(username: str | None, page: str | None = None, **query: str) -> AppTest:
        at = AppTest.from_file(ENTRYPOINT, default_timeout=60)
        if username is not None:
            at.session_state[AUTH_KEY] = {"username": username, "logged_in_at": datetime.now(UTC)}
        for key, value in query.items():
            at.query_params[key] = value
        at.run()
        if page is not None:
            at.switch_page(page)
            at.run()
        return at

    return make


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> Callable[[DownloadButton], bytes]:
    """The bytes behind a download button.

    AppTest keeps media files in a store that lives for one run only; this records every file
    put there so a test can read what a person clicking the button would get.
    """
    files: dict[str, bytes] = {}

    class RecordingStorage(MemoryMediaFileStorage):
        def load_and_get_id(self, path_or_data, mimetype, kind, filename=None):  # type: ignore[no-untyped-def]
            file_id = super().load_and_get_id(path_or_data, mimetype, kind, filename)
            files[file_id] = self.get_file(file_id).content
            return file_id

    monkeypatch.setattr("streamlit.testing.v1.app_test.MemoryMediaFileStorage", RecordingStorage)

    def content(button: DownloadButton) -> bytes:
        return files[Path(button.proto.url).stem]

    return content
