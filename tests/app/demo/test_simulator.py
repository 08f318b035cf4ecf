"""The demo simulator: determinism, catalogue, fault budget, physics, day continuity, CSV."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.demo import (
    DEMO_LINES,
    FAULT_KINDS,
    DemoBatch,
    DemoLineSpec,
    generate_day,
    generate_history,
    get_demo_line,
    read_batch_csv,
    write_batch_csv,
)

START = datetime(2024, 3, 1, tzinfo=UTC)
SEED = 7
CORE_FAULTS = {
    "bearing_wear",
    "cavitation",
    "sensor_drift",
    "stuck_sensor",
    "spike",
    "valve_closure",
}


@pytest.fixture(scope="module")
def histories() -> dict[str, DemoBatch]:
    return {line.name: generate_history(line, START, 14, SEED) for line in DEMO_LINES}


def _line_ids() -> list[str]:
    return [line.name for line in DEMO_LINES]


def test_catalogue_has_three_lines_with_eight_unit_bearing_sensors() -> None:
    assert len(DEMO_LINES) >= 3
    assert len({line.name for line in DEMO_LINES}) == len(DEMO_LINES)
    for line in DEMO_LINES:
        assert len(line.sensors) >= 8, line.name
        assert all(s.unit.strip() for s in line.sensors), line.name
        assert all(s.high > s.low and s.noise_std > 0 for s in line.sensors), line.name
        assert line.interval == timedelta(minutes=1)
        assert line.units == {s.name: s.unit for s in line.sensors}
        assert get_demo_line(line.name) is line


def test_unknown_line_name_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        get_demo_line("no-such-line")


def test_line_spec_rejects_an_interval_that_does_not_divide_a_day() -> None:
    base = DEMO_LINES[0]
    with pytest.raises(ValueError, match="interval"):
        DemoLineSpec(
            name="odd",
            description="",
            model=base.model,
            sensors=base.sensors,
            interval=timedelta(seconds=7),
            fault_kinds=base.fault_kinds,
            drift_sensors=base.drift_sensors,
        )


def test_same_seed_gives_identical_batches_and_other_seeds_differ() -> None:
    line = DEMO_LINES[0]
    a = generate_history(line, START, 3, 11)
    b = generate_history(line, START, 3, 11)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    c = generate_history(line, START, 3, 12)
    assert not np.allclose(a.frame["flow_m3h"], c.frame["flow_m3h"])
    assert not a.truth["is_anomaly"].equals(c.truth["is_anomaly"])


def test_lines_differ_from_each_other_under_one_seed(histories: dict[str, DemoBatch]) -> None:
    a, b = (histories[name].frame for name in _line_ids()[:2])
    assert not np.allclose(a["motor_current_a"], b["motor_current_a"])


@pytest.mark.parametrize("name", _line_ids())
def test_frame_shape_timestamps_and_values(name: str, histories: dict[str, DemoBatch]) -> None:
    line = get_demo_line(name)
    frame = histories[name].frame
    assert list(frame.columns) == ["timestamp", *line.feature_columns]
    assert len(frame) == 14 * 1440
    ts = frame["timestamp"]
    assert isinstance(ts.dtype, pd.DatetimeTZDtype) and str(ts.dt.tz) == "UTC"
    assert ts.iloc[0] == pd.Timestamp(START)
    assert (ts.diff().iloc[1:] == pd.Timedelta(line.interval)).all()
    values = frame[list(line.feature_columns)]
    assert values.notna().all().all()
    assert all(np.issubdtype(t, np.floating) for t in values.dtypes)


@pytest.mark.parametrize("name", _line_ids())
def test_truth_is_separate_and_aligned(name: str, histories: dict[str, DemoBatch]) -> None:
    batch = histories[name]
    truth = batch.truth
    assert list(truth.columns) == ["timestamp", "is_anomaly", "fault_kind"]
    assert truth["is_anomaly"].dtype == bool
    assert truth["timestamp"].equals(batch.frame["timestamp"])
    assert (truth["is_anomaly"] == truth["fault_kind"].notna()).all()
    assert set(truth["fault_kind"].dropna()) <= set(FAULT_KINDS)
    assert truth["fault_kind"][~truth["is_anomaly"]].map(lambda k: k is None).all()
    assert not {"is_anomaly", "fault_kind"} & set(batch.frame.columns)


@pytest.mark.parametrize("name", _line_ids())
def test_anomaly_share_is_between_3_and_8_percent(
    name: str, histories: dict[str, DemoBatch]
) -> None:
    share = histories[name].truth["is_anomaly"].mean()
    assert 0.03 <= share <= 0.08, share


@pytest.mark.parametrize("name", _line_ids())
def test_every_fault_kind_of_the_line_appears_in_two_weeks(
    name: str, histories: dict[str, DemoBatch]
) -> None:
    kinds = set(histories[name].truth["fault_kind"].dropna())
    assert kinds == set(get_demo_line(name).fault_kinds)


def test_all_core_fault_kinds_appear_across_lines(histories: dict[str, DemoBatch]) -> None:
    seen = set().union(*(set(b.truth["fault_kind"].dropna()) for b in histories.values()))
    assert seen >= CORE_FAULTS


def test_fault_segments_vary_in_length(histories: dict[str, DemoBatch]) -> None:
    lengths = {s.labelled_rows for s in histories["pump-line-a"].faults if s.kind != "spike"}
    assert len(lengths) >= 5 and max(lengths) >= 2 * min(lengths)


def _normal(batch: DemoBatch) -> pd.DataFrame:
    return batch.frame[~batch.truth["is_anomaly"].to_numpy()]


@pytest.mark.parametrize(
    ("name", "x", "y"),
    [
        ("pump-line-a", "motor_current_a", "flow_m3h"),
        ("pump-line-a", "motor_current_a", "motor_power_kw"),
        ("pump-line-a", "vibration_rms_mm_s", "speed_rpm"),
        ("pump-line-a", "discharge_pressure_bar", "speed_rpm"),
        ("compressor-b", "motor_current_a", "airflow_m3_min"),
        ("compressor-b", "vibration_rms_mm_s", "speed_rpm"),
        ("conveyor-c", "motor_current_a", "throughput_t_h"),
        ("conveyor-c", "belt_speed_m_s", "motor_speed_rpm"),
    ],
)
def test_physical_relations_hold_on_normal_rows(
    name: str, x: str, y: str, histories: dict[str, DemoBatch]
) -> None:
    normal = _normal(histories[name])
    assert normal[x].corr(normal[y]) > 0.5


def _load_steps(power: np.ndarray, jump: float) -> list[int]:
    """Row where each large, isolated load step begins (power moves ``jump`` within 12 rows)."""
    moved = np.abs(power[12:] - power[:-12]) > jump
    starts = [int(i) for i in np.flatnonzero(moved) if i == 0 or not moved[i - 1]]
    return [s for s in starts if not moved[s + 13 : s + 84].any()]


@pytest.mark.parametrize(
    ("name", "temperature"),
    [
        ("pump-line-a", "bearing_temp_c"),
        ("compressor-b", "oil_temp_c"),
        ("conveyor-c", "gearbox_oil_temp_c"),
    ],
)
def test_temperatures_keep_moving_after_a_load_step(
    name: str, temperature: str, histories: dict[str, DemoBatch]
) -> None:
    """Thermal inertia: once power has settled, the temperature is still on its way."""
    batch = histories[name]
    power = batch.frame["motor_power_kw"].to_numpy()
    temp = batch.frame[temperature].to_numpy()
    faulty = batch.truth["is_anomaly"].to_numpy()
    span = get_demo_line(name).sensor("motor_power_kw").span
    steps = [
        s
        for s in _load_steps(power, 0.25 * span)
        if s + 85 < len(power) and not faulty[s : s + 85].any()
    ]
    assert len(steps) >= 5
    lagging = 0
    for s in steps:
        direction = np.sign(power[s + 24] - power[s])
        total, after = temp[s + 84] - temp[s], temp[s + 84] - temp[s + 24]
        lagging += direction * after > 0.2 * abs(total)
    assert lagging >= 0.8 * len(steps)


def test_operating_modes_switch_a_few_times_a_day(histories: dict[str, DemoBatch]) -> None:
    speed = histories["pump-line-a"].frame["speed_rpm"].rolling(5, center=True).median()
    level = pd.cut(speed, [0, 1150, 1550, 3000], labels=False)
    switches = (level.diff().fillna(0) != 0).sum()
    assert 14 * 1 <= switches <= 14 * 6


def test_daily_ambient_cycle_peaks_in_the_afternoon(histories: dict[str, DemoBatch]) -> None:
    frame = histories["conveyor-c"].frame
    by_hour = frame.groupby(frame["timestamp"].dt.hour)["ambient_temp_c"].mean()
    assert 12 <= by_hour.idxmax() <= 17
    assert by_hour.max() - by_hour.min() > 5


def _rows_of(batch: DemoBatch, kind: str) -> np.ndarray:
    return (batch.truth["fault_kind"] == kind).to_numpy()


def test_process_faults_leave_their_signatures(histories: dict[str, DemoBatch]) -> None:
    """Each process fault moves the related sensors the physical way, against the 15 minutes
    before it (segments during which the operating mode changed are skipped)."""
    pump = histories["pump-line-a"]
    frame = pump.frame
    checked: dict[str, int] = {}
    for seg in pump.faults:
        ts = frame["timestamp"]
        inside = frame[(ts >= seg.start) & (ts <= seg.end)]
        before = frame[(ts < seg.start) & (ts >= seg.start - pd.Timedelta(minutes=15))]
        speed_before = before["speed_rpm"].median()
        if (inside["speed_rpm"] - speed_before).abs().median() > 0.03 * speed_before:
            continue
        checked[seg.kind] = checked.get(seg.kind, 0) + 1
        if seg.kind == "valve_closure":
            assert inside["flow_m3h"].median() < 0.85 * before["flow_m3h"].median()
            assert (
                inside["discharge_pressure_bar"].median()
                > before["discharge_pressure_bar"].median()
            )
            assert inside["motor_current_a"].median() < before["motor_current_a"].median()
        elif seg.kind == "cavitation":
            assert inside["suction_pressure_bar"].median() < before["suction_pressure_bar"].median()
            assert inside["flow_m3h"].std() > 2 * before["flow_m3h"].std()
            assert inside["vibration_rms_mm_s"].mean() > before["vibration_rms_mm_s"].mean() + 0.5
        elif seg.kind == "bearing_wear":
            tail = inside.tail(10)
            assert tail["vibration_rms_mm_s"].mean() > before["vibration_rms_mm_s"].mean() + 0.8
            assert tail["bearing_temp_c"].mean() > before["bearing_temp_c"].mean() + 2
    assert all(checked.get(k, 0) >= 2 for k in ("valve_closure", "cavitation", "bearing_wear"))


def test_stuck_sensor_repeats_one_value(histories: dict[str, DemoBatch]) -> None:
    batch = histories["compressor-b"]
    stuck = [s for s in batch.faults if s.kind == "stuck_sensor"]
    assert stuck
    for seg in stuck:
        ts = batch.frame["timestamp"]
        values = batch.frame.loc[(ts >= seg.start) & (ts <= seg.end), seg.sensor]
        assert values.nunique() == 1 and len(values) == seg.labelled_rows


def test_generate_day_covers_exactly_that_utc_day() -> None:
    line = DEMO_LINES[1]
    batch = generate_day(line, date(2024, 5, 10), SEED)
    ts = batch.frame["timestamp"]
    assert len(batch.frame) == line.rows_per_day == len(batch.truth)
    assert ts.iloc[0] == pd.Timestamp("2024-05-10T00:00:00Z")
    assert ts.iloc[-1] == pd.Timestamp("2024-05-10T23:59:00Z")
    assert (ts.dt.date == date(2024, 5, 10)).all()


def test_consecutive_days_join_without_overlap_or_seam() -> None:
    line = get_demo_line("pump-line-a")
    days = [generate_day(line, date(2024, 5, 10) + timedelta(days=i), SEED) for i in range(4)]
    for today, tomorrow in zip(days, days[1:], strict=False):
        last, first = today.frame["timestamp"].iloc[-1], tomorrow.frame["timestamp"].iloc[0]
        assert first - last == pd.Timedelta(line.interval)
        assert not set(today.frame["timestamp"]) & set(tomorrow.frame["timestamp"])
        for column in ("bearing_temp_c", "fluid_temp_c", "speed_rpm"):
            within = today.frame[column].diff().abs().quantile(0.999)
            seam = abs(tomorrow.frame[column].iloc[0] - today.frame[column].iloc[-1])
            assert seam <= within, column
    assert not np.allclose(days[0].frame["flow_m3h"], days[1].frame["flow_m3h"])


def test_a_day_alone_equals_its_rows_in_a_history() -> None:
    line = get_demo_line("conveyor-c")
    history = generate_history(line, START, 6, SEED)
    day = generate_day(line, START.date() + timedelta(days=5), SEED)
    tail = history.frame.iloc[-line.rows_per_day :].reset_index(drop=True)
    pd.testing.assert_frame_equal(tail, day.frame)
    pd.testing.assert_frame_equal(
        history.truth.iloc[-line.rows_per_day :].reset_index(drop=True), day.truth
    )


def test_history_starts_on_the_grid_in_utc_and_honours_fractional_days() -> None:
    line = DEMO_LINES[0]
    cet = timezone(timedelta(hours=1))
    batch = generate_history(line, datetime(2024, 3, 1, 10, 30, 20, tzinfo=cet), 0.5, SEED)
    ts = batch.frame["timestamp"]
    assert ts.iloc[0] == pd.Timestamp("2024-03-01T09:31:00Z")
    assert len(batch.frame) == 720
    assert ts.is_monotonic_increasing


@pytest.mark.parametrize(
    ("start", "days", "seed"),
    [
        (datetime(2024, 3, 1), 1, 0),
        (START, 0, 0),
        (START, -1, 0),
        (START, 1, -3),
    ],
)
def test_bad_arguments_are_rejected(start: datetime, days: float, seed: int) -> None:
    with pytest.raises(ValueError):
        generate_history(DEMO_LINES[0], start, days, seed)


def test_generate_day_refuses_a_datetime() -> None:
    with pytest.raises(TypeError):
        generate_day(DEMO_LINES[0], START, SEED)


def test_csv_round_trip(tmp_path: Path) -> None:
    batch = generate_day(DEMO_LINES[2], date(2024, 3, 4), SEED)
    path = write_batch_csv(batch, tmp_path / "inbox")
    assert path.parent == tmp_path / "inbox" and path.suffix == ".csv"
    assert path.name.startswith("conveyor-c_")
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].split(",") == list(batch.frame.columns)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", lines[1].split(",")[0])
    back = read_batch_csv(path)
    assert back["timestamp"].equals(batch.frame["timestamp"].astype(back["timestamp"].dtype))
    np.testing.assert_allclose(
        back.drop(columns="timestamp").to_numpy(),
        batch.frame.drop(columns="timestamp").to_numpy(),
        rtol=0,
        atol=1e-9,
    )
    assert "is_anomaly" not in back.columns


def test_generation_is_fast() -> None:
    started = time.perf_counter()
    for line in DEMO_LINES:
        generate_history(line, START, 14, SEED + 1)
    assert time.perf_counter() - started < 5.0


@pytest.mark.slow
def test_isolation_forest_finds_faults_but_not_trivially(
    histories: dict[str, DemoBatch],
) -> None:
    iforest = pytest.importorskip("pyod.models.iforest")
    metrics = pytest.importorskip("sklearn.metrics")
    batch = histories["pump-line-a"]
    features = batch.frame.drop(columns="timestamp").to_numpy()
    model = iforest.IForest(n_estimators=200, random_state=0).fit(features)
    auc = metrics.roc_auc_score(batch.truth["is_anomaly"], model.decision_scores_)
    assert 0.6 <= auc <= 0.99, auc
