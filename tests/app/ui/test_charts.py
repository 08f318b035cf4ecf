"""Chart builders: pure functions from service data to plotly figures."""

from __future__ import annotations

from app.ui.charts import trace_figure

ROUNDS = [
    {"round": 0, "kept": 900, "excluded": 100, "score_quantiles": {"q50": 0.1, "q99": 4.0}},
    {"round": 1, "kept": 880, "excluded": 120, "score_quantiles": {"q50": 0.0, "q99": 5.0}},
    {"round": "final", "kept": 880, "excluded": 120, "score_quantiles": {"q50": 0.0}},
]


def test_trace_figure_stacks_what_the_mode_guard_spared():
    trace = [{**ROUNDS[0], "spared": 30}, {**ROUNDS[1], "spared": 45}, ROUNDS[2]]
    fig = trace_figure(trace)
    bars = {t.name: list(t.y) for t in fig.data if t.type == "bar"}
    assert bars == {"excluded": [100, 120, 120], "spared (operating mode)": [30, 45, 0]}
    assert fig.layout.barmode == "stack"
    assert "round 1<br>kept 880" in list(fig.data[0].x)


def test_trace_figure_without_spared_rows_draws_only_the_excluded_bars():
    fig = trace_figure(ROUNDS)
    assert [t.name for t in fig.data if t.type == "bar"] == ["excluded"]
    assert fig.layout.barmode is None


def test_trace_figure_is_none_for_detectors_without_rounds():
    assert trace_figure([{"detector": "iforest"}]) is None
