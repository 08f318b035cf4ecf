"""Watched inbox folders: ``<inbox_dir>/<line name>/*.csv|parquet|xlsx``.

A plant historian (or the demo) drops files there; the ``ingest_inbox`` job hands each one to
the ingest service and then moves it to ``done/`` or ``failed/`` next to it, never deletes it
(the raw bytes are also kept by ingest under ``raw/``). A failed file gets a
``<name>.error.txt`` beside it saying why, so an engineer can fix and drop it in again.

Files still being written are left alone: names starting with ``.`` or ending in ``.part`` /
``.tmp``, and files modified in the last :data:`SETTLE_SECONDS`. Writers should write under a
temporary name and rename (``app.demo.write_batch_csv`` does).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.services.runs import describe_error

log = logging.getLogger(__name__)

SUFFIXES = frozenset({".csv", ".parquet", ".xlsx"})
SETTLE_SECONDS = 2.0
DONE = "done"
FAILED = "failed"

IngestFn = Callable[..., Any]
"""``ingest_file(factory, settings, line, path, source="inbox") -> IngestReport``."""


@dataclass
class InboxReport:
    line: str
    ingested: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    rows_accepted: int = 0
    rows_rejected: int = 0
    batch_ids: list[int] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"line {self.line}: {len(self.ingested)} file(s) ingested "
            f"({self.rows_accepted} rows accepted, {self.rows_rejected} rejected), "
            f"{len(self.duplicates)} duplicate(s), {len(self.failed)} failed"
        )
        if self.failed:
            text += ": " + "; ".join(f"{name}: {why}" for name, why in self.failed.items())
        return text

    def as_result(self) -> dict[str, Any]:
        return {
            "ingested": self.ingested,
            "duplicates": self.duplicates,
            "failed": self.failed,
            "rows_accepted": self.rows_accepted,
            "rows_rejected": self.rows_rejected,
            "batch_ids": self.batch_ids,
        }


def line_inbox(settings: Settings, line_name: str) -> Path:
    return settings.inbox_dir / line_name


def pending_files(
    settings: Settings, line_name: str, *, settle_seconds: float = SETTLE_SECONDS
) -> list[Path]:
    """Complete files waiting in the line's inbox, oldest first."""
    folder = line_inbox(settings, line_name)
    if not folder.is_dir():
        return []
    cutoff = time.time() - settle_seconds
    files = []
    for path in folder.iterdir():
        if not path.is_file() or path.name.startswith("."):
            continue
        if path.suffix.lower() not in SUFFIXES:
            continue
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:  # moved away meanwhile
            continue
        if mtime <= cutoff:
            files.append((mtime, path.name, path))
    return [path for _mtime, _name, path in sorted(files)]


def _move(path: Path, subfolder: str) -> Path:
    """Move ``path`` into ``subfolder`` beside it; never overwrite an earlier file."""
    target_dir = path.parent / subfolder
    target_dir.mkdir(exist_ok=True)
    target = target_dir / path.name
    if target.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = target_dir / f"{path.stem}.{stamp}{path.suffix}"
    path.replace(target)
    return target


def _default_ingest() -> IngestFn:
    from app.ingest import ingest_file

    return ingest_file


def process_inbox(
    factory: sessionmaker[Session],
    settings: Settings,
    line_name: str,
    *,
    ingest: IngestFn | None = None,
    settle_seconds: float = SETTLE_SECONDS,
) -> InboxReport:
    """Ingest every complete file in the line's inbox and move it to done/ or failed/."""
    ingest = ingest or _default_ingest()
    report = InboxReport(line_name)
    for path in pending_files(settings, line_name, settle_seconds=settle_seconds):
        try:
            outcome = ingest(factory, settings, line_name, path, source="inbox")
        except Exception as exc:
            reason = describe_error(exc)
            moved = _move(path, FAILED)
            moved.with_name(moved.name + ".error.txt").write_text(reason + "\n", encoding="utf-8")
            report.failed[path.name] = reason
            log.warning("inbox %s: %s failed: %s", line_name, path.name, reason)
            continue
        _move(path, DONE)
        if getattr(outcome, "duplicate", False):
            report.duplicates.append(path.name)
            log.info("inbox %s: %s was already ingested", line_name, path.name)
            continue
        report.ingested.append(path.name)
        report.rows_accepted += int(getattr(outcome, "n_accepted", 0) or 0)
        report.rows_rejected += int(getattr(outcome, "n_rejected", 0) or 0)
        batch_id = getattr(outcome, "batch_id", None)
        if batch_id is not None:
            report.batch_ids.append(int(batch_id))
        log.info("inbox %s: ingested %s", line_name, path.name)
    return report
