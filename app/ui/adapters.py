"""Thin adapters to services other people are still writing.

Each adapter imports its service lazily and reports :class:`Unavailable` (with the module it
waits for) instead of failing, so a page can show a clear "not available yet" state and start
working the moment the module lands, without a change here beyond the call itself.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Unavailable:
    """A service the page needs that is not in this installation yet."""

    module: str
    names: tuple[str, ...]

    @property
    def message(self) -> str:
        return (
            f"Not available yet: this needs `{self.module}` "
            f"({', '.join(self.names)}), which is not installed in this build."
        )


def load(module: str, *names: str) -> ModuleType | Unavailable:
    """The module if it exists and has every name, else :class:`Unavailable`."""
    try:
        loaded = importlib.import_module(module)
    except ImportError:
        return Unavailable(module, names)
    if not all(hasattr(loaded, n) for n in names):
        return Unavailable(module, names)
    return loaded


@dataclass(frozen=True)
class TimelinePoint:
    """One bucket of the score timeline, whatever field names ``db.timeline`` settles on."""

    time: datetime
    min_score: float
    max_score: float
    mean_score: float
    flagged: int


def _pick(obj: Any, *names: str) -> Any:
    for name in names:
        if isinstance(obj, dict) and name in obj:
            return obj[name]
        if hasattr(obj, name):
            return getattr(obj, name)
    return None


def score_timeline(
    session: Session, line_id: int, start: datetime, end: datetime, buckets: int = 500
) -> list[TimelinePoint] | Unavailable:
    """Downsampled score timeline from ``db.timeline.score_timeline`` (owned elsewhere)."""
    module = load("db.timeline", "score_timeline")
    if isinstance(module, Unavailable):
        return module
    points = module.score_timeline(session, line_id, start, end, buckets=buckets)
    out = []
    for p in points:
        when = _pick(p, "time", "t", "bucket", "bucket_start", "start", "ts")
        mean = _pick(p, "mean_score", "score_mean", "mean", "avg_score")
        low = _pick(p, "min_score", "score_min", "min")
        high = _pick(p, "max_score", "score_max", "max")
        flagged = _pick(p, "flagged", "n_flagged", "flagged_count", "flags")
        if when is None or mean is None:
            continue
        out.append(
            TimelinePoint(
                when,
                float(low if low is not None else mean),
                float(high if high is not None else mean),
                float(mean),
                int(flagged or 0),
            )
        )
    return out
