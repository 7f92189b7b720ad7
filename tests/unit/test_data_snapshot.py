"""Rules of sensor_pipelines.core.data.snapshot on tiny synthetic frames."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sensor_pipelines.core.config.schema import DataSource
from sensor_pipelines.core.data.sample import generate_sample_readings
from sensor_pipelines.core.data.snapshot import (
    QualityReport,
    content_hash,
    count_flatlines,
    count_spikes,
    prepare_snapshot,
    read_source,
)
from sensor_pipelines.core.errors import DataError, UserError

CUTOFF = "2024-01-01"  # the day of the readings


def source(**overrides) -> DataSource:
    fields = dict(path="data/readings.csv", target_column="load_kw", feature_columns=["temp_c"])
    return DataSource(**{**fields, **overrides})


def readings(hours: int = 24, start: str = "2024-01-01", seed: int = 0) -> pd.DataFrame:
    """Hourly readings with noise, timestamps as ISO strings (as read from a CSV)."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=hours, freq="h")
    return pd.DataFrame(
        {
            "timestamp": index.strftime("%Y-%m-%dT%H:%M:%S"),
            "load_kw": 40 + rng.normal(0, 1, hours).round(3),
            "temp_c": 10 + rng.normal(0, 1, hours).round(2),
        }
    )


def prepare(raw: pd.DataFrame, cutoff: str = CUTOFF, **overrides):
    return prepare_snapshot(raw, source(**overrides), cutoff)


# --- the happy path and the output contract ---------------------------------------------


def test_clean_input_passes_unchanged_with_contract_dtypes():
    raw = readings().assign(extra="x")[["temp_c", "extra", "timestamp", "load_kw"]]
    frame, report = prepare(raw)
    assert list(frame.columns) == ["timestamp", "load_kw", "temp_c"]
    assert str(frame["timestamp"].dtype) == "datetime64[ns]"
    assert (frame.dtypes.iloc[1:] == "float64").all()
    assert isinstance(frame.index, pd.RangeIndex)
    assert report.rows_in == report.rows_out == 24
    assert report.missing_steps == report.sorted_fixed == report.duplicates_dropped == 0
    assert report.interpolated_values == {"load_kw": 0, "temp_c": 0}
    assert report.first_timestamp == "2024-01-01T00:00:00"
    assert report.last_timestamp == "2024-01-01T23:00:00"
    np.testing.assert_allclose(frame["load_kw"], raw["load_kw"])


def test_parquet_datetimes_and_integers_are_accepted():
    raw = readings()
    raw["timestamp"] = pd.to_datetime(raw["timestamp"]).astype("datetime64[us]")
    raw["temp_c"] = raw["temp_c"].round().astype("int64")
    frame, _ = prepare(raw)
    assert str(frame["timestamp"].dtype) == "datetime64[ns]"
    assert frame["temp_c"].dtype == "float64"


def test_tz_aware_timestamps_become_naive_utc():
    raw = readings(4)
    raw["timestamp"] = [f"2024-01-01T0{h}:00:00+01:00" for h in range(1, 5)]
    frame, _ = prepare(raw)
    assert frame["timestamp"].dt.tz is None
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2024-01-01 00:00")


# --- columns ----------------------------------------------------------------------------


def test_missing_target_names_the_key_and_the_columns_present():
    raw = readings().rename(columns={"load_kw": "load"})
    with pytest.raises(DataError) as err:
        prepare(raw)
    assert ("target_column 'load_kw' not among the file's 3 columns; the circuit config expects "
            "[timestamp, load_kw, temp_c]") in str(err.value)
    assert "load," not in str(err.value)  # the file's own header is never echoed
    assert str(err.value).startswith("Data error in data/readings.csv: ")
    assert isinstance(err.value, UserError)


def test_every_missing_column_is_listed_at_once():
    raw = readings().rename(columns={"timestamp": "time", "temp_c": "temp"})
    with pytest.raises(DataError) as err:
        prepare(raw)
    message = str(err.value)
    assert "timestamp_column 'timestamp', feature_columns 'temp_c' not among the file's 3 columns" in message
    assert "\n" not in message and "temp," not in message


# --- timestamps and values ----------------------------------------------------------------


def test_unparsable_timestamps_are_counted_with_examples():
    raw = readings()
    raw.loc[[3, 7], "timestamp"] = ["yesterday", "2024-13-45T00:00:00"]
    with pytest.raises(DataError, match=r"timestamp: 2 values are not timestamps, e.g. 'yesterday'"):
        prepare(raw)


def test_numeric_timestamps_are_rejected():
    raw = readings().assign(timestamp=range(24))
    with pytest.raises(DataError, match="timestamp: values are numbers"):
        prepare(raw)


def test_non_numeric_values_name_column_count_and_examples():
    raw = readings()
    raw["temp_c"] = raw["temp_c"].astype(str)
    raw.loc[[2, 5, 6], "temp_c"] = ["n/a", "warm", "ERR"]
    raw.loc[8, "temp_c"] = " "  # a blank cell is a missing value, not an error
    with pytest.raises(DataError, match=r"temp_c: 3 values are not numbers, e.g. 'n/a', 'warm', 'ERR'"):
        prepare(raw)


def test_numeric_strings_and_blanks_are_converted():
    raw = readings(6)
    raw["load_kw"] = ["1", "2.5", "", "4", "5", "6"]
    frame, report = prepare(raw)
    assert frame["load_kw"].tolist() == [1.0, 2.5, 3.25, 4.0, 5.0, 6.0]
    assert report.interpolated_values["load_kw"] == 1


# --- cutoff ---------------------------------------------------------------------------------


def test_cutoff_keeps_the_whole_cutoff_day():
    raw = readings(72)  # 2024-01-01 00:00 .. 2024-01-03 23:00
    frame, report = prepare(raw, cutoff="2024-01-02")
    assert frame["timestamp"].iloc[-1] == pd.Timestamp("2024-01-02 23:00")
    assert report.rows_out == 48
    assert report.rows_after_cutoff == 24


def test_no_rows_before_cutoff_is_an_error():
    with pytest.raises(DataError, match="no readings on or before cutoff_date 2023-12-31"):
        prepare(readings(), cutoff="2023-12-31")


# --- order and duplicates -------------------------------------------------------------------


def test_unsorted_rows_are_sorted_and_counted():
    raw = readings()
    shuffled = raw.iloc[[0, 1, 5, 2, 3, 4] + list(range(6, 24))]
    frame, report = prepare(shuffled)
    assert frame["timestamp"].is_monotonic_increasing
    assert report.sorted_fixed == 3
    expected, _ = prepare(raw)
    pd.testing.assert_frame_equal(frame, expected)


def test_exact_duplicates_are_dropped_and_counted():
    raw = readings()
    frame, report = prepare(pd.concat([raw, raw.iloc[[4, 9]]], ignore_index=True))
    assert report.rows_in == 26
    assert report.duplicates_dropped == 2
    assert report.rows_out == 24
    assert frame["timestamp"].is_unique


def test_same_timestamp_with_different_values_is_an_error():
    raw = readings()
    clash = raw.iloc[[4, 9]].assign(load_kw=0.0)
    with pytest.raises(DataError) as err:
        prepare(pd.concat([raw, clash], ignore_index=True))
    assert "2 timestamps have rows with different values" in str(err.value)
    assert "2024-01-01 04:00:00" in str(err.value)


# --- grid, gaps, interpolation ----------------------------------------------------------------


def test_off_grid_timestamps_are_an_error():
    raw = readings()
    raw.loc[10, "timestamp"] = "2024-01-01T10:30:00"
    with pytest.raises(DataError, match=r"1 timestamps are not on the 'h' grid, e.g. 2024-01-01 10:30:00"):
        prepare(raw)


def test_other_frequencies_use_their_own_grid():
    raw = readings(8)
    raw["timestamp"] = pd.date_range("2024-01-01", periods=8, freq="15min").strftime("%Y-%m-%d %H:%M")
    frame, report = prepare(raw, frequency="15min")
    assert report.rows_out == 8
    with pytest.raises(DataError, match="not on the 'h' grid"):
        prepare(raw)


def test_unknown_frequency_is_an_error():
    with pytest.raises(DataError, match="data.frequency: 'fortnightly'"):
        prepare(readings(), frequency="fortnightly")


def test_short_gap_of_missing_rows_is_interpolated_and_counted():
    raw = readings().drop(index=[5, 6])
    frame, report = prepare(raw, max_interpolate_steps=2)
    assert report.missing_steps == 2
    assert report.rows_out == 24
    assert report.interpolated_values == {"load_kw": 2, "temp_c": 2}
    assert report.remaining_missing == {"load_kw": 0, "temp_c": 0}
    before, after = raw.loc[4, "load_kw"], raw.loc[7, "load_kw"]
    step = (after - before) / 3
    np.testing.assert_allclose(frame.loc[5:6, "load_kw"], [before + step, before + 2 * step])


def test_gap_longer_than_the_limit_is_left_missing_and_reported():
    raw = readings().drop(index=[5, 6, 7, 8])
    raw.loc[15, "temp_c"] = np.nan
    frame, report = prepare(raw, max_interpolate_steps=3)
    assert report.missing_steps == 4
    assert report.interpolated_values == {"load_kw": 0, "temp_c": 1}
    assert report.remaining_missing == {"load_kw": 4, "temp_c": 4}
    assert frame.loc[5:8, ["load_kw", "temp_c"]].isna().all().all()
    assert frame.loc[15, "temp_c"] == pytest.approx((raw.loc[14, "temp_c"] + raw.loc[16, "temp_c"]) / 2)


def test_nan_at_the_edges_cannot_be_interpolated():
    raw = readings()
    raw.loc[0, "temp_c"] = np.nan
    frame, report = prepare(raw)
    assert np.isnan(frame.loc[0, "temp_c"])
    assert report.interpolated_values["temp_c"] == 0
    assert report.remaining_missing["temp_c"] == 1


# --- flat-lines and spikes are reported, never changed ---------------------------------------


def test_flatlines_and_spikes_are_reported_not_changed():
    raw = readings(96)
    raw.loc[20:33, "temp_c"] = 7.5  # 14 identical readings
    raw.loc[50, "load_kw"] = 400.0
    frame, report = prepare(raw, cutoff="2024-01-04")
    assert report.flatline_stretches == {"load_kw": 0, "temp_c": 1}
    assert report.spikes == {"load_kw": 1, "temp_c": 0}
    assert frame.loc[50, "load_kw"] == 400.0
    assert (frame.loc[20:33, "temp_c"] == 7.5).all()


def test_flatline_needs_twelve_identical_values():
    values = pd.Series([1.0] * 11 + [2.0] + [3.0] * 12 + [np.nan] * 20)
    assert count_flatlines(values) == 1


def test_a_level_shift_is_not_a_spike():
    rng = np.random.default_rng(1)
    values = pd.Series(np.r_[np.zeros(50), np.full(50, 30.0)] + rng.normal(0, 1, 100))
    assert count_spikes(values) == 0
    values[70] += 40
    values[20] -= 40
    assert count_spikes(values) == 2


# --- report ------------------------------------------------------------------------------------


def test_report_is_json_safe_and_summarised():
    raw = readings(96).drop(index=[40, 41])
    raw.loc[20:33, "temp_c"] = 7.5
    raw.loc[60, "load_kw"] = 400.0
    _, report = prepare(raw, cutoff="2024-01-04")
    data = json.loads(json.dumps(report.to_dict()))
    assert data["missing_steps"] == 2
    assert data["interpolated_values"] == {"load_kw": 2, "temp_c": 2}
    assert QualityReport(**data) == report
    summary = report.summary()
    assert summary.startswith("96 rows 2024-01-01 00:00..2024-01-04 23:00 (h)")
    assert "2 missing steps" in summary
    assert "4 values interpolated (load_kw, temp_c)" in summary
    assert "1 flat-line stretches (temp_c)" in summary
    assert "1 spikes (load_kw)" in summary


# --- the generated sample data ---------------------------------------------------------------


def test_sample_readings_pass_and_show_their_faults():
    raw = generate_sample_readings(11)
    sample_source = DataSource(
        path="data/PLANT1_CIRC1.csv",
        target_column="load_kw",
        feature_columns=["ambient_temp_c", "voltage_v", "humidity_pct"],
    )
    frame, report = prepare_snapshot(raw, sample_source, "2025-12-09")
    assert frame["timestamp"].iloc[-1] == pd.Timestamp("2025-12-09 23:00")
    assert report.missing_steps > 0
    assert sum(report.interpolated_values.values()) > 0
    assert report.spikes["load_kw"] > 0
    assert report.flatline_stretches["voltage_v"] > 0
    assert sum(report.spikes.values()) == report.spikes["load_kw"]  # no false alarms elsewhere


# --- read_source ---------------------------------------------------------------------------------


def test_read_source_csv_and_parquet_relative_to_project_root(tmp_path):
    raw = readings()
    (tmp_path / "data").mkdir()
    raw.to_csv(tmp_path / "data" / "readings.csv", index=False)
    raw.to_parquet(tmp_path / "data" / "readings.parquet", index=False)
    from_csv = read_source(source(), tmp_path)
    from_parquet = read_source(source(path="data/readings.parquet", format="parquet"), tmp_path)
    assert list(from_csv.columns) == list(from_parquet.columns) == ["timestamp", "load_kw", "temp_c"]
    assert len(from_csv) == len(from_parquet) == 24
    outside = source(path=str(tmp_path / "data" / "readings.csv"))
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(DataError, match="is outside the project; copy the file into the project"):
        read_source(outside, tmp_path / "elsewhere")
    assert len(read_source(outside, tmp_path / "elsewhere", data_roots=[str(tmp_path / "data")])) == 24


def test_read_source_missing_file_names_the_path(tmp_path):
    with pytest.raises(DataError, match=r"data file not found: .*data/readings.csv"):
        read_source(source(), tmp_path)


def test_read_source_unreadable_file_is_a_data_error(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "readings.parquet").write_text("not parquet")
    with pytest.raises(DataError, match=r"cannot read .*readings.parquet as parquet \(ArrowInvalid\)"):
        read_source(source(path="data/readings.parquet", format="parquet"), tmp_path)


# --- content hash ----------------------------------------------------------------------------------


def test_content_hash_is_stable_and_sensitive():
    frame, _ = prepare(readings())
    again, _ = prepare(readings())
    digest = content_hash(frame)
    assert len(digest) == 64
    assert content_hash(again) == digest
    changed = frame.copy()
    changed.loc[7, "temp_c"] += 0.01
    assert content_hash(changed) != digest
    assert content_hash(frame.rename(columns={"temp_c": "temp"})) != digest
    assert content_hash(frame.astype({"temp_c": "float32"})) != digest
    assert content_hash(frame.iloc[:-1]) != digest
