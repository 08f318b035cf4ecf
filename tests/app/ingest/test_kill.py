"""A real process killed with SIGKILL in the middle of a file leaves the database untouched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.ingest import ingest_file
from tests.app.ingest.checks import assert_consistent, count_rows
from tests.conftest import REPO_ROOT

N_ROWS = 120_000

# The child announces every chunk it has written (inside the still-open transaction), so the
# test can kill it when the database has certainly seen uncommitted rows.
CHILD = """
import sys
from pathlib import Path
from app.config import Settings
from app.ingest import ingest_file, repository
from db.engine import make_engine, make_session_factory

real = repository.insert_samples
def announcing(*args, **kwargs):
    real(*args, **kwargs)
    print("chunk written", flush=True)
repository.insert_samples = announcing

data_dir, url, line, path = sys.argv[1:5]
settings = Settings(data_dir=Path(data_dir), database_url=url)
ingest_file(make_session_factory(make_engine(url)), settings, line, Path(path))
print("done", flush=True)
"""


def _big_csv(path: Path) -> None:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        rng.normal(size=(N_ROWS, 4)).round(5), columns=["flow_m3h", "pressure", "temp_1", "temp_2"]
    )
    times = pd.date_range("2024-01-01", periods=N_ROWS, freq="s")
    frame.insert(0, "timestamp", times.strftime("%Y-%m-%d %H:%M:%S"))
    frame.to_csv(path, index=False)


@pytest.mark.slow
def test_sigkill_mid_file_leaves_database_unchanged_and_retry_succeeds(
    session_factory: sessionmaker[Session], settings: Settings, line: str, tmp_path: Path
) -> None:
    path = tmp_path / "big.csv"
    _big_csv(path)
    before = count_rows(session_factory)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            str(settings.data_dir),
            settings.database_url,
            line,
            str(path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO_ROOT,
    )
    try:
        assert child.stdout is not None
        first = child.stdout.readline()
        assert first.strip() == "chunk written", child.stderr.read() if child.stderr else ""
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert count_rows(session_factory) == before

    started = time.monotonic()
    report = ingest_file(session_factory, settings, line, path)
    assert (report.n_received, report.n_accepted, report.n_rejected) == (N_ROWS, N_ROWS, 0)
    assert not report.duplicate
    assert_consistent(session_factory, settings, path, report)
    assert time.monotonic() - started < 60
