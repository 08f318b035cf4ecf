"""Sample detail page: values vs normal range, scores around it, history, and a verdict."""

from __future__ import annotations

from tests.app.ui.seed import Seeded

PAGE = "app/ui/sample_detail.py"


def test_detail_shows_out_of_range_values_model_and_threshold(seeded: Seeded, app_as) -> None:  # type: ignore[no-untyped-def]
    at = app_as("vic", PAGE, sample=str(seeded.flagged_ids[0]))
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Threshold"] == "0.8000" and metrics["Model"] == "v1"
    features = at.dataframe[0].value.set_index("Feature")
    assert features.loc["pressure", "Outside"] == "⚠ outside"
    assert features.loc["temperature", "Outside"] == ""
    assert any("read-only" in i.value for i in at.info)


def test_a_reviewer_records_a_verdict_and_sees_it_in_the_history(seeded: Seeded, app_as) -> None:  # type: ignore[no-untyped-def]
    at = app_as("rita", PAGE, sample=str(seeded.flagged_ids[1]))
    at.radio(key="detail_verdict").set_value("unsure")
    at.text_area(key="detail_comment").input("ask maintenance")
    at.button(key="FormSubmitter:detail_review-Save verdict").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Saved 'unsure'."]
    history = at.dataframe[-1].value
    assert list(history["Verdict"]) == ["unsure"] and history["Comment"][0] == "ask maintenance"
    assert any("Current verdict: **unsure**" in m.value for m in at.markdown)


def test_unknown_or_missing_sample_ids_are_explained(seeded: Seeded, app_as) -> None:  # type: ignore[no-untyped-def]
    at = app_as("vic", PAGE)
    assert any("Enter a sample id" in i.value for i in at.info)
    at.number_input(key="detail_sample_id").set_value(10**8).run()
    assert any("No sample" in w.value for w in at.warning)


def test_the_samples_extreme_event_risk_shows_only_when_its_model_stored_one(
    seeded: Seeded,
    risk_line: Seeded,
    app_as,  # type: ignore[no-untyped-def]
) -> None:
    from tests.app.ui.seed import RISK_HORIZON, risk_of

    label = f"Extreme-event risk (next {RISK_HORIZON} steps)"
    at = app_as("vic", PAGE, sample=str(risk_line.flagged_ids[0]))
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[label] == f"{risk_of(119, True):.1%}"
    plain = app_as("vic", PAGE, sample=str(seeded.flagged_ids[0]))
    assert not any("risk" in m.label for m in plain.metric)
