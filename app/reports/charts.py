"""Score timeline charts as PNG bytes, drawn with Matplotlib's Agg canvas.

No pyplot: a ``Figure`` with its own canvas keeps no global state, so the dashboard's threads
and the nightly job can draw at the same time; no browser or kaleido is needed.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from app.reports.data import FlaggedSample, LineReport, TimelineBucket

SCORE_COLOR = "#1f5f99"
MEAN_COLOR = "#9bbbd9"
THRESHOLD_COLOR = "#c0392b"


def timeline_png(
    line: LineReport,
    flagged: Sequence[FlaggedSample],
    start: datetime,
    end: datetime,
    bucket_seconds: int,
    *,
    size: tuple[float, float] = (7.2, 2.5),
    dpi: int = 150,
) -> bytes:
    """Max and mean score per bucket, the threshold in force, and flagged samples as marks.

    Consecutive buckets are joined; a silence much longer than the usual spacing (downtime)
    breaks the lines instead of being bridged.
    """
    width = timedelta(seconds=bucket_seconds)
    x: list[datetime] = []
    max_s: list[float] = []
    mean_s: list[float] = []
    thr: list[float] = []
    gap = _break_after(line.timeline, bucket_seconds)
    previous: datetime | None = None
    for bucket in line.timeline:
        if previous is not None and (bucket.start - previous).total_seconds() > gap:
            x.append(previous + width)
            max_s.append(math.nan)
            mean_s.append(math.nan)
            thr.append(math.nan)
        x.append(bucket.start + width / 2)
        max_s.append(bucket.max_score)
        mean_s.append(bucket.mean_score)
        thr.append(bucket.threshold)
        previous = bucket.start
    marker = "." if len(line.timeline) <= 80 else None

    fig = Figure(figsize=size, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(x, mean_s, color=MEAN_COLOR, linewidth=1.0, marker=marker, label="mean score")
    ax.plot(x, max_s, color=SCORE_COLOR, linewidth=1.2, marker=marker, label="max score")
    ax.plot(
        x, thr, color=THRESHOLD_COLOR, linewidth=1.1, linestyle="--",
        drawstyle="steps-mid", label="threshold",
    )  # fmt: skip
    marks = [f for f in flagged if f.line == line.name]
    if marks:
        ax.scatter(
            [f.ts for f in marks], [f.score for f in marks], s=10, color=THRESHOLD_COLOR,
            marker="o", zorder=3, label="flagged",
        )  # fmt: skip
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(
        ConciseDateFormatter(
            locator,
            formats=["%Y", "%Y-%m", "%m-%d", "%H:%M", "%H:%M", "%S.%f"],
            zero_formats=["", "%Y", "%Y-%m", "%m-%d", "%H:%M", "%H:%M"],
            show_offset=False,
        )
    )
    ax.set_xlim(start, end)  # type: ignore[arg-type]
    ax.set_ylabel("score")
    ax.grid(True, linewidth=0.4, alpha=0.5)
    ax.tick_params(labelsize=7)
    ax.legend(loc="upper left", fontsize=7, ncols=4, frameon=False)
    bucket_label = _duration(bucket_seconds)
    ax.set_title(f"per {bucket_label} bucket, times in UTC", fontsize=7, loc="right")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _break_after(buckets: Sequence[TimelineBucket], bucket_seconds: int) -> float:
    """Seconds of silence that count as a gap: 5x the median spacing, at least 3 buckets."""
    steps = sorted(
        (b.start - a.start).total_seconds() for a, b in zip(buckets, buckets[1:], strict=False)
    )
    typical = steps[len(steps) // 2] if steps else bucket_seconds
    return max(3 * bucket_seconds, 5 * typical)


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if unit == 'day' and count > 1 else ''}"
    return f"{seconds} s"
