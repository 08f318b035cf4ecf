"""The report's content as plain frozen dataclasses: renderers read these and nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.reports.request import ReportRequest


@dataclass(frozen=True)
class ModelInForce:
    """A model version that scored samples of the line in the period, with its thresholds."""

    version: int
    detector: str
    samples: int
    threshold_min: float
    threshold_max: float


@dataclass(frozen=True)
class LineKpis:
    """Counts over the period; verdict counts are over flagged samples (their current verdict)."""

    scored: int = 0
    flagged: int = 0
    reviewed: int = 0
    confirmed: int = 0
    dismissed: int = 0
    unsure: int = 0

    @property
    def flagged_share(self) -> float | None:
        return self.flagged / self.scored if self.scored else None

    @property
    def reviewed_share(self) -> float | None:
        return self.reviewed / self.flagged if self.flagged else None


@dataclass(frozen=True)
class TimelineBucket:
    """Scores of one time bucket: the max keeps spikes visible after downsampling."""

    start: datetime
    samples: int
    mean_score: float
    max_score: float
    threshold: float
    flagged: int


@dataclass(frozen=True)
class LineReport:
    line_id: int
    name: str
    models: tuple[ModelInForce, ...]
    active_version: int | None  # the line's model today, for lines without scores in range
    current_threshold: float | None
    kpis: LineKpis
    timeline: tuple[TimelineBucket, ...]


@dataclass(frozen=True)
class FlaggedSample:
    sample_id: int
    line: str
    ts: datetime  # sample time, or scoring time for lines without timestamps
    score: float
    threshold: float
    model_version: int
    verdict: str | None  # current (newest) verdict, None when not reviewed
    reviewer: str | None
    reviewed_at: datetime | None
    comment: str | None
    top_features: tuple[tuple[str, float], ...]
    extreme_risk: float | None = None  # None: the model does not forecast extreme events

    @property
    def margin(self) -> float:
        """How far above its threshold the score is; ranks "most anomalous" across lines."""
        return self.score - self.threshold


@dataclass(frozen=True)
class ReportData:
    """Everything the PDF, CSV and XLSX renderers need; ``flagged`` is ordered by line, time."""

    request: ReportRequest
    generated_at: datetime
    lines: tuple[LineReport, ...]
    flagged: tuple[FlaggedSample, ...]
    bucket_seconds: int

    @property
    def flagged_total(self) -> int:
        return sum(line.kpis.flagged for line in self.lines)

    @property
    def scored_total(self) -> int:
        return sum(line.kpis.scored for line in self.lines)
