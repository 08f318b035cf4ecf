"""Helpers for the job tests: small lines on the real services, a configured task runtime."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from jobs import tasks
from tests.seeding import correlated_rows, seed_line


def detectors_ready() -> bool:
    try:
        from detectors import available_detectors, create_detector, explain, save_detector  # noqa: F401
    except ImportError:
        return False
    return "iforest" in available_detectors()


needs_detectors = pytest.mark.skipif(
    not detectors_ready(), reason="the detectors package (iforest) is not importable yet"
)


def make_line(
    factory: sessionmaker[Session], name: str, rows: int = 400, batches: int = 1, seed: int = 0
) -> tuple[int, list[int]]:
    """A small iforest line with ``rows`` samples in ``batches`` unscored batches."""
    X, _ = correlated_rows(rows, 4, 0.03, seed=seed)
    return seed_line(factory, name, X, batches=batches, detector="iforest")


@pytest.fixture
def task_runtime(
    settings: Settings, session_factory: sessionmaker[Session]
) -> Iterator[sessionmaker[Session]]:
    """Point jobs.tasks at the test database, as the scheduler process does at start-up."""
    tasks.configure(settings, session_factory, "scheduler@test")
    try:
        yield session_factory
    finally:
        tasks.reset()
