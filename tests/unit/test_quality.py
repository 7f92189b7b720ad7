"""Data-quality checks: each fault triggers its check and only it; failures are collected at once."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from sensor_pipelines.core.quality import (
    Finding,
    QualityResult,
    QualitySpec,
    ValueRange,
    build_schema,
    check_quality,
    grid_gaps,
)

N = 240  # ten days, hourly


def spec(**changes) -> QualitySpec:
    fields = dict(timestamp_column="timestamp", value_columns=("temperature", "load"),
                  ranges={"temperature": ValueRange(-20, 50), "load": ValueRange(min=0)},
                  max_missing_rate=0.05, frequency="h", flatline_min_run=12)
    return QualitySpec(**{**fields, **changes})


@pytest.fixture
def clean() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({
        "timestamp": pd.date_range("2024-01-01", periods=N, freq="h"),
        "temperature": 10 + 5 * np.sin(2 * np.pi * np.arange(N) / 24) + rng.normal(0, 1, N),
        "load": rng.integers(100, 200, N),  # int: numeric too
        "note": "free text, not checked",
    })


def outcome(result: QualityResult) -> list[tuple[str, str | None, int]]:
    return [(f.check, f.column, f.count) for f in result.findings]


def test_clean_frame_passes(clean):
    assert check_quality(clean, spec()) == QualityResult(passed=True, findings=[])


def test_schema_is_a_pandera_schema_of_the_spec_columns(clean):
    schema = build_schema(spec())
    assert isinstance(schema, pa.DataFrameSchema)
    assert list(schema.columns) == ["timestamp", "temperature", "load"]
    assert {c.name for c in schema.columns["load"].checks} == {"numeric_dtype", "missing_rate", "flatline", "value_range"}
    schema.validate(clean, lazy=True)
    with pytest.raises(pa.errors.SchemaErrors):
        schema.validate(clean.drop(columns="load"), lazy=True)


def test_stuck_sensor_triggers_flatline_only(clean):
    stuck = clean.copy()
    stuck.loc[100:129, "temperature"] = stuck.loc[100, "temperature"]
    result = check_quality(stuck, spec())
    assert outcome(result) == [("flatline", "temperature", 30)]
    assert result.findings[0].examples == ("2024-01-05T04:00:00",)
    assert result.findings[0].detail == "1 run(s) of >= 12 identical consecutive values, longest 30"
    assert not result.passed


def test_flatline_needs_the_minimum_run_and_a_missing_value_ends_a_run(clean):
    data = clean.copy()
    data.loc[10:20, "load"] = 150  # 11 values
    data.loc[30:45, "load"] = 150  # 16 values, broken by a missing value ...
    data["load"] = data["load"].astype(float)
    data.loc[37, "load"] = np.nan  # ... into 7 + 8
    assert check_quality(data, spec()).passed
    data.loc[21, "load"] = 150.0  # now 12
    assert outcome(check_quality(data, spec())) == [("flatline", "load", 12)]
    assert check_quality(data, spec(flatline_min_run=13)).passed


def test_burst_of_nans_triggers_missing_rate_only(clean):
    holed = clean.copy()
    holed.loc[50:79, "temperature"] = np.nan  # 30 of 240 = 12.5 %
    result = check_quality(holed, spec())
    assert outcome(result) == [("missing_rate", "temperature", 30)]
    assert result.findings[0].detail == "missing-value rate 0.125 above 0.05"
    assert check_quality(holed, spec(max_missing_rate=0.125)).passed


def test_several_failures_are_collected_at_once(clean):
    broken = clean.drop(columns="load")
    broken.loc[10, "temperature"] = 999.0
    broken = pd.concat([broken, broken.iloc[[20]]]).sort_values("timestamp", kind="stable")
    result = check_quality(broken, spec())
    assert sorted(outcome(result)) == [
        ("column_present", "load", 1),
        ("timestamp_unique", "timestamp", 1),
        ("value_range", "temperature", 1),
    ]
    by_check = {f.check: f for f in result.findings}
    assert by_check["value_range"].examples == ("2024-01-01T10:00:00",)
    assert by_check["timestamp_unique"].examples == ("2024-01-01T20:00:00",)


def test_gaps_on_the_frequency_grid(clean):
    result = check_quality(clean.drop(index=[30, 31, 32, 100]), spec())
    assert outcome(result) == [("timestamp_gaps", "timestamp", 4)]
    assert result.findings[0].examples == ("2024-01-02T06:00:00", "2024-01-02T07:00:00", "2024-01-02T08:00:00")
    assert check_quality(clean.iloc[::2], spec(frequency="2h")).passed
    assert check_quality(clean.drop(index=[30]), spec(frequency=None)).passed


def test_grid_gaps_count_all_and_list_a_few():
    ts = pd.Series(pd.to_datetime(["2024-01-01 00:00", "2024-01-01 03:00", "2024-01-01 03:30",
                                   "2024-01-01 04:00", "2024-01-01 07:00"]))
    h = pd.Timedelta("1h")
    assert grid_gaps(ts, h) == (4, tuple(pd.to_datetime(["2024-01-01 01:00", "2024-01-01 02:00", "2024-01-01 05:00"])))
    assert grid_gaps(ts, h, n_examples=1) == (4, (pd.Timestamp("2024-01-01 01:00"),))
    far = pd.Series(pd.to_datetime(["1970-01-01", "2024-01-01"]))
    count, first = grid_gaps(far, pd.Timedelta("1min"))
    assert count == (pd.Timestamp("2024-01-01") - pd.Timestamp("1970-01-01")) // pd.Timedelta("1min") - 1
    assert first[0] == pd.Timestamp("1970-01-01 00:01")


def test_timestamps_out_of_order(clean):
    swapped = clean.iloc[[0, 1, 2, 3, 4, 6, 5] + list(range(7, N))]
    assert outcome(check_quality(swapped, spec())) == [("timestamp_monotonic", "timestamp", 1)]
    moved_early = clean.iloc[[0, 1, 5, 2, 3, 4] + list(range(6, N))]  # one backward step
    result = check_quality(moved_early, spec())
    assert outcome(result) == [("timestamp_monotonic", "timestamp", 1)]
    assert result.findings[0].examples == ("2024-01-01T02:00:00",)


def test_string_timestamps_are_parsed_and_bad_ones_counted(clean):
    data = clean.copy()
    data["timestamp"] = data["timestamp"].astype(str)
    assert check_quality(data, spec()).passed
    data["timestamp"] = data["timestamp"].astype(object)
    data.loc[3, "timestamp"] = "not a time"
    data.loc[4, "timestamp"] = None
    result = check_quality(data, spec())
    assert outcome(result) == [
        ("timestamp_parseable", "timestamp", 1),
        ("timestamp_not_null", "timestamp", 1),
        ("timestamp_gaps", "timestamp", 2),
    ]
    assert "not a time" not in json.dumps(result.to_dict())


def test_non_numeric_column_is_a_type_failure_without_echoing_values(clean):
    data = clean.copy()
    data["load"] = [f"SECRET-{i % 3}" for i in range(N)]
    result = check_quality(data, spec())
    assert outcome(result) == [("numeric_dtype", "load", 1)]
    assert "SECRET" not in json.dumps(result.to_dict())


def test_repeated_column_label_is_reported_and_the_first_checked(clean):
    data = pd.concat([clean, clean[["load"]].astype(str)], axis=1)
    assert outcome(check_quality(data, spec())) == [("column_unique", "load", 2)]


def test_all_nan_column(clean):
    data = clean.assign(temperature=np.nan)
    assert outcome(check_quality(data, spec())) == [("missing_rate", "temperature", N)]


def test_empty_frame(clean):
    assert outcome(check_quality(clean.iloc[:0], spec())) == [("not_empty", None, 0)]


def test_time_zone_aware_timestamps_and_any_index(clean):
    data = clean.assign(timestamp=clean["timestamp"].dt.tz_localize("UTC"))
    data.index = np.arange(N)[::-1] * 10
    assert check_quality(data, spec()).passed
    data.iloc[5, data.columns.get_loc("load")] = -1
    result = check_quality(data, spec())
    assert outcome(result) == [("value_range", "load", 1)]
    assert result.findings[0].examples == ("2024-01-01T05:00:00+00:00",)


def test_to_dict_is_json(clean):
    result = check_quality(clean.drop(columns="load"), spec())
    assert json.loads(json.dumps(result.to_dict())) == {
        "passed": False,
        "findings": [{"check": "column_present", "column": "load", "count": 1,
                      "detail": "required column is missing", "examples": []}],
    }
    assert Finding("x", None, 0, "d").to_dict()["examples"] == []


def test_spec_from_mapping_and_bad_specs():
    parsed = QualitySpec.from_mapping({
        "timestamp_column": "timestamp", "value_columns": ["temperature", "load"],
        "ranges": {"temperature": {"min": -20, "max": 50}}, "frequency": "15min",
    })
    assert parsed.value_columns == ("temperature", "load")
    assert parsed.ranges["temperature"] == ValueRange(-20, 50)
    with pytest.raises(ValueError, match="min 5 is above max 1"):
        ValueRange(5, 1)
    with pytest.raises(ValueError, match="not value columns"):
        spec(ranges={"humidity": ValueRange(0, 100)})
    with pytest.raises(ValueError, match="max_missing_rate"):
        spec(max_missing_rate=1.5)
    with pytest.raises(ValueError, match="fixed pandas frequency"):
        spec(frequency="MS")
    with pytest.raises(ValueError, match="flatline_min_run"):
        spec(flatline_min_run=1)
    with pytest.raises(TypeError):
        spec(value_columns="load")
