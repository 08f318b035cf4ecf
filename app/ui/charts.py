"""Plotly figures shared by pages; the threshold is always drawn in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.services.queries import SeriesPoint
from db.timeline import TimelinePoint

THRESHOLD_COLOR = "#d62728"
FLAG_COLOR = "#ff7f0e"
RISK_COLOR = "#9467bd"
SPARED_COLOR = "#7f7f7f"


def _threshold(
    fig: go.Figure, threshold: float | None, label: str = "threshold", **subplot: int
) -> None:
    """A dashed threshold line; ``subplot`` (row=, col=) places it in one panel of a grid."""
    if threshold is not None:
        fig.add_hline(
            y=threshold,
            line_dash="dash",
            line_color=THRESHOLD_COLOR,
            annotation_text=f"{label} {threshold:.3g}",
            annotation_position="top left",
            **subplot,
        )


def _score_chart_layout(fig: go.Figure, height: int, **extra: str) -> None:
    """The frame every score-over-time chart shares: tight margins, legend on top."""
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend_orientation="h",
        **extra,
    )


def _timeline_traces(points: Sequence[TimelinePoint]) -> list[go.Scatter]:
    times = [p.start + (p.end - p.start) / 2 for p in points]
    flagged = [(t, p) for t, p in zip(times, points, strict=True) if p.n_flagged]
    return [
        go.Scatter(
            x=times,
            y=[p.max_score for p in points],
            mode="lines",
            line_width=0,
            showlegend=False,
            hoverinfo="skip",
        ),
        go.Scatter(
            x=times,
            y=[p.min_score for p in points],
            mode="lines",
            line_width=0,
            fill="tonexty",
            fillcolor="rgba(31,119,180,0.2)",
            name="min-max",
        ),
        go.Scatter(
            x=times,
            y=[p.mean_score for p in points],
            mode="lines",
            name="mean score",
            line_color="#1f77b4",
        ),
        go.Scatter(
            x=[t for t, _ in flagged],
            y=[p.max_score for _, p in flagged],
            mode="markers",
            name="flagged",
            marker={"color": FLAG_COLOR, "size": 7},
            text=[f"{p.n_flagged} of {p.n} flagged" for _, p in flagged],
        ),
    ]


def timeline_figure(
    points: Sequence[TimelinePoint], threshold: float | None, risk_label: str | None = None
) -> go.Figure:
    """Min-max band, mean line and flagged buckets of a downsampled score timeline.

    With ``risk_label`` (the line's model forecasts extreme events) a second panel below
    shows each bucket's highest risk on a 0-1 scale; otherwise the chart is the score alone.
    """
    risky = [p for p in points if p.max_risk is not None]
    if risk_label is None or not risky:
        fig = go.Figure(_timeline_traces(points))
        _threshold(fig, threshold)
        _score_chart_layout(fig, 320, yaxis_title="anomaly score")
        return fig
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.65, 0.35])
    for trace in _timeline_traces(points):
        fig.add_trace(trace, row=1, col=1)
    fig.add_trace(
        go.Scatter(
            x=[p.start + (p.end - p.start) / 2 for p in risky],
            y=[p.max_risk for p in risky],
            mode="lines",
            name=risk_label,
            line_color=RISK_COLOR,
            hovertemplate="%{y:.1%}<extra>highest risk in bucket</extra>",
        ),
        row=2,
        col=1,
    )
    _threshold(fig, threshold, row=1, col=1)
    fig.update_yaxes(title_text="anomaly score", row=1, col=1)
    fig.update_yaxes(title_text="risk", range=[0, 1], tickformat=".0%", row=2, col=1)
    _score_chart_layout(fig, 460)
    return fig


def neighbourhood_figure(
    points: Sequence[SeriesPoint], sample_id: int, threshold: float | None
) -> go.Figure:
    """Scores of the samples around one sample, that sample highlighted."""
    x: list[datetime | int] = [p.ts if p.ts is not None else p.sample_id for p in points]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[p.score for p in points],
            mode="lines+markers",
            name="score",
            marker={"size": 4},
            customdata=[p.sample_id for p in points],
            hovertemplate="sample %{customdata}<br>score %{y:.3f}<extra></extra>",
        )
    )
    here = [(xi, p) for xi, p in zip(x, points, strict=True) if p.sample_id == sample_id]
    if here:
        fig.add_trace(
            go.Scatter(
                x=[here[0][0]],
                y=[here[0][1].score],
                mode="markers",
                name=f"sample {sample_id}",
                marker={"color": FLAG_COLOR, "size": 14, "symbol": "diamond"},
            )
        )
    _threshold(fig, threshold)
    _score_chart_layout(fig, 300, yaxis_title="anomaly score")
    return fig


def contributions_figure(top: Sequence[tuple[str, float]]) -> go.Figure:
    items = list(top)[::-1]
    fig = go.Figure(
        go.Bar(
            x=[v for _, v in items],
            y=[n for n, _ in items],
            orientation="h",
            marker_color=FLAG_COLOR,
        )
    )
    fig.update_layout(
        height=60 + 28 * len(items),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis_title="contribution",
    )
    return fig


def histogram_figure(
    bins: Sequence[tuple[float, float, int]], current: float, candidate: float
) -> go.Figure:
    fig = go.Figure(
        go.Bar(
            x=[(lo + hi) / 2 for lo, hi, _ in bins],
            y=[c for _, _, c in bins],
            width=[hi - lo for lo, hi, _ in bins],
            name="samples",
            marker_color="#1f77b4",
        )
    )
    fig.add_vline(
        x=current,
        line_dash="dash",
        line_color=THRESHOLD_COLOR,
        annotation_text=f"current {current:.3g}",
    )
    if candidate != current:
        fig.add_vline(
            x=candidate,
            line_color=FLAG_COLOR,
            annotation_text=f"candidate {candidate:.3g}",
            annotation_position="bottom right",
        )
    fig.update_layout(
        height=300,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        yaxis_type="log",
        xaxis_title="anomaly score",
        yaxis_title="samples (log)",
    )
    return fig


def trace_figure(trace: Sequence[Mapping[str, Any]]) -> go.Figure | None:
    """Purification rounds of an STKD model: samples excluded as suspected anomalies per round
    (bars; the pool kept is in the label; flagged samples the mode guard kept stacked on top)
    and the score quantiles of that round (lines).
    None for traces without per-round counts (other detectors).
    """
    rounds = [r for r in trace if "kept" in r]
    if not rounds:
        return None
    names = [
        "final" if r.get("round") == "final" else f"round {r.get('round', i)}"
        for i, r in enumerate(rounds)
    ]
    kept = [int(r["kept"]) for r in rounds]
    labels = [f"{name}<br>kept {n:,}" for name, n in zip(names, kept, strict=True)]
    excluded = [int(r.get("n_excluded", r.get("excluded", 0)) or 0) for r in rounds]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=labels,
            y=excluded,
            name="excluded",
            marker_color=FLAG_COLOR,
            text=excluded,
            textposition="auto",
            customdata=kept,
            hovertemplate="%{y} excluded, %{customdata} kept<extra></extra>",
        )
    )
    spared = [int(r.get("spared", 0) or 0) for r in rounds]
    if any(spared):  # STKD's mode guard: flagged, but kept as part of an operating mode
        fig.add_trace(
            go.Bar(
                x=labels,
                y=spared,
                name="spared (operating mode)",
                marker_color=SPARED_COLOR,
                hovertemplate="%{y} flagged but kept: crowded like normal data<extra></extra>",
            )
        )
        fig.update_layout(barmode="stack")
    for key, dash in (("q50", "dot"), ("q95", "dash"), ("q99", "solid")):
        values = [(r.get("score_quantiles") or {}).get(key) for r in rounds]
        if any(v is not None for v in values):
            fig.add_trace(
                go.Scatter(
                    x=labels,
                    y=values,
                    name=f"score {key}",
                    mode="lines+markers",
                    line={"color": "#1f77b4", "dash": dash},
                    yaxis="y2",
                )
            )
    fig.update_layout(
        height=340,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        yaxis={"title": "excluded from training", "rangemode": "tozero"},
        yaxis2={"title": "score quantile", "overlaying": "y", "side": "right"},
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
    )
    return fig
