"""Windowing: calendar features, chronological split, train-only scaling, windows, NaN skipping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sensor_pipelines.core.config.schema import CircuitConfig, CircuitRunConfig, DataSource, ModelConfig, Thresholds
from sensor_pipelines.core.errors import DataError
from sensor_pipelines.core.forecasting.features import (
    calendar_features,
    complete_origins,
    fit_scaler,
    make_windows,
    regular_frame,
    select_test_origins,
    spec_from_config,
    split_chronologically,
)
from sensor_pipelines.core.forecasting.training import prepare_training_data


def sine_frame(days: int = 60, seed: int = 0, start: str = "2025-01-06") -> pd.DataFrame:
    """Hourly load with daily and weekly cycles, a temperature feature and a little noise."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range(start, periods=24 * days, freq="h")
    hour, weekend = ts.hour.to_numpy(), (ts.day_of_week.to_numpy() >= 5)
    temp = 10 + 5 * np.sin(2 * np.pi * (hour - 9) / 24) + rng.normal(0, 0.3, len(ts))
    load = 40 + 10 * np.sin(2 * np.pi * (hour - 6) / 24) - 12 * weekend + 0.5 * temp + rng.normal(0, 0.5, len(ts))
    return pd.DataFrame({"timestamp": ts, "load": load, "temp": temp})


def run_config(**model: object) -> CircuitRunConfig:
    """PLANT9_CIRC9 with the smoke model sizes and a weekly baseline."""
    settings = dict(lookback=24, horizon=24, lstm_units=[8], dense_units=16, epochs=2, batch_size=256,
                    train_stride=6, patience=2, baseline_season=168)
    settings.update(model)
    circuit = CircuitConfig(
        plant_id="PLANT9", circuit_id="CIRC9", cutoff_date="2025-03-06",
        data=DataSource(path="unused.csv", target_column="load", feature_columns=["temp"]),
        thresholds=Thresholds(mae_max=5.0, rmse_max=6.0, r2_min=0.5),
    )
    return CircuitRunConfig(circuit=circuit, model=ModelConfig(**settings))


def test_calendar_features_encode_hour_weekday_and_weekend():
    ts = pd.DatetimeIndex(["2025-01-06 00:00", "2025-01-06 06:00", "2025-01-11 12:00"])  # Mon, Mon, Sat
    cal = calendar_features(ts)
    assert cal.shape == (3, 5)
    np.testing.assert_allclose(cal[0, :2], [0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(cal[1, :2], [1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(cal[0, 2:4], [0.0, 1.0], atol=1e-6)  # Monday 00:00 is day 0 of the week
    assert cal[:, 4].tolist() == [0.0, 0.0, 1.0]


def test_split_is_chronological_oldest_first():
    split = split_chronologically(1000, validation_fraction=0.15, test_fraction=0.2)
    assert (split.train_end, split.val_end, split.n) == (650, 800, 1000)


def test_regular_frame_sorts_and_puts_missing_steps_on_the_grid():
    frame = sine_frame(days=2).drop(index=[5, 6]).sample(frac=1.0, random_state=1)
    spec = spec_from_config(run_config())
    values = regular_frame(frame, spec)
    assert len(values) == 48 and values.index.is_monotonic_increasing
    assert values.iloc[5:7].isna().all().all()
    assert list(values.columns) == ["load", "temp"]


def test_regular_frame_names_missing_columns():
    with pytest.raises(DataError, match="temp"):
        regular_frame(sine_frame(days=2).drop(columns="temp"), spec_from_config(run_config()))


def test_scaler_is_fitted_on_train_rows_only():
    """Through prepare_training_data, the path training takes: later rows never move the scaler."""
    frame = sine_frame()
    data = prepare_training_data(run_config(), frame)
    train_end = data.split.train_end
    changed = frame.copy()
    changed.loc[train_end:, ["load", "temp"]] *= 100.0  # validation and test rows (the frame is regular)
    assert prepare_training_data(run_config(), changed).spec.to_dict() == data.spec.to_dict()
    assert data.spec.mean["load"] == pytest.approx(data.values["load"].iloc[:train_end].mean())
    assert data.spec.std["temp"] == pytest.approx(data.values["temp"].iloc[:train_end].std(ddof=0))


def test_windows_hold_the_past_the_future_calendar_and_the_next_targets():
    spec = spec_from_config(run_config(lookback=24, horizon=12, target_lags=[], residual=False))
    values = regular_frame(sine_frame(days=10), spec)
    spec = fit_scaler(values, spec, 150)
    origins = np.array([23, 100, 200])
    w = make_windows(values, spec, origins)
    assert w.past.shape == (3, 24, 2 + 5) and w.future.shape == (3, 12, 5 + 1) and w.y.shape == (3, 12)
    assert (w.base == 0).all() and w.base.shape == (3, 12)
    np.testing.assert_allclose(w.future[0, :, -1], np.arange(1, 13) / 12)  # the step number
    load = (values["load"].to_numpy() - spec.mean["load"]) / spec.std["load"]
    np.testing.assert_allclose(w.past[1, :, 0], load[77:101], rtol=1e-5)  # rows origin-23 .. origin
    np.testing.assert_allclose(w.y[1], load[101:113], rtol=1e-5)  # the next horizon steps
    np.testing.assert_allclose(w.future[1, :, :5], calendar_features(values.index[101:113]))
    np.testing.assert_allclose(w.past[1, :, 2:], calendar_features(values.index[77:101]))


def test_feature_and_calendar_flags_shape_the_inputs():
    spec = spec_from_config(run_config(use_features=False, use_calendar=False, target_lags=[], residual=False))
    values = regular_frame(sine_frame(days=5), spec)
    w = make_windows(values, fit_scaler(values, spec, 80), np.array([30]))
    assert w.past.shape == (1, 24, 1) and w.future.shape == (1, 24, 1) and len(w.inputs) == 3


def test_future_steps_hold_their_target_lags_and_the_base_is_the_seasonal_naive():
    spec = spec_from_config(run_config(lookback=24, horizon=24))  # target_lags 24, 48, 168, 336; residual
    values = regular_frame(sine_frame(days=20), spec)
    spec = fit_scaler(values, spec, 300)
    assert spec.first_origin == 335 and spec.n_future == 4 + 5 + 1
    origins = np.array([335, 400])
    w = make_windows(values, spec, origins)
    load = (values["load"].to_numpy() - spec.mean["load"]) / spec.std["load"]
    steps = np.arange(401, 425)
    for i, lag in enumerate([24, 48, 168, 336]):
        np.testing.assert_allclose(w.future[1, :, i], load[steps - lag], rtol=1e-5)
    np.testing.assert_allclose(w.base[1], load[steps - 168], rtol=1e-5)
    assert w.complete.all()
    with pytest.raises(ValueError, match="origins must lie"):
        make_windows(values, spec, np.array([334]))
    values.iloc[401 - 336, 0] = np.nan  # the two-week lag of origin 400's first step
    assert 400 not in complete_origins(values, spec, 0, len(values))
    assert not make_windows(values, spec, origins).complete[1]


def test_forecast_steps_past_the_end_get_their_calendar_from_the_grid():
    spec = spec_from_config(run_config(target_lags=[], residual=False))
    values = regular_frame(sine_frame(days=3), spec)
    w = make_windows(values, fit_scaler(values, spec, 48), np.array([len(values) - 1]), with_targets=False)
    future = pd.date_range(values.index[-1], periods=25, freq="h")[1:]
    np.testing.assert_allclose(w.future[0, :, :5], calendar_features(future))
    assert w.y is None


def test_windows_with_nan_are_skipped():
    spec = spec_from_config(run_config(lookback=24, horizon=24, target_lags=[], residual=False))
    values = regular_frame(sine_frame(days=10), spec)
    values.iloc[100, 1] = np.nan  # a feature reading: unusable as input
    values.iloc[150, 0] = np.nan  # a target reading: unusable as input and as target
    origins = complete_origins(values, spec, 0, len(values))
    assert not set(range(100, 124)) & set(origins)  # past windows that hold row 100
    assert not set(range(126, 174)) & set(origins)  # past (150..173) or targets (126..149) hold row 150
    assert {99, 124, 125, 174} <= set(origins)
    w = make_windows(values, fit_scaler(values, spec, 120), origins)
    assert not np.isnan(w.past).any() and not np.isnan(w.y).any()


def test_test_origins_are_day_ahead_inside_the_test_split():
    spec = spec_from_config(run_config())
    values = regular_frame(sine_frame(days=60), spec)
    split = split_chronologically(len(values), 0.15, 0.15)
    origins = select_test_origins(values, spec, split, season=168)
    assert len(origins) >= 5
    assert (np.diff(origins) == 24).all()
    assert origins[0] + 1 >= split.val_end and origins[-1] + 24 < len(values)
    assert (values.index[origins + 1] == values.index[origins + 1].normalize()).all()  # forecasts start at midnight


def test_prepare_training_data_keeps_every_window_in_its_split():
    config = run_config()
    data = prepare_training_data(config, sine_frame())
    h = config.model.horizon
    assert (data.train + h < data.split.train_end).all() and (np.diff(data.train) % 6 == 0).all()
    assert (data.validation + 1 >= data.split.train_end).all() and (data.validation + h < data.split.val_end).all()
    assert (data.test + 1 >= data.split.val_end).all()


def test_too_few_windows_is_a_data_error():
    with pytest.raises(DataError, match="only .* complete training windows"):
        prepare_training_data(run_config(), sine_frame(days=5))


def test_no_test_origin_is_a_data_error():
    frame = sine_frame()
    frame.loc[frame.index[-250:], "load"] = np.nan
    with pytest.raises(DataError, match="no complete test windows"):
        prepare_training_data(run_config(), frame)


def _known_future_spec(frame: pd.DataFrame):
    import dataclasses

    config = run_config()
    config = dataclasses.replace(config, circuit=dataclasses.replace(
        config.circuit, data=dataclasses.replace(config.circuit.data, known_future_columns=["temp"])))
    spec = spec_from_config(config)
    values = regular_frame(frame, spec)
    return fit_scaler(values, spec, len(values)), values


def test_known_future_features_are_read_at_each_forecast_step():
    spec, values = _known_future_spec(sine_frame(days=30))
    assert spec.future_columns == ["temp"] and spec.n_future == len(spec.target_lags) + 5 + 2 + 1
    origin = np.array([400])
    windows = make_windows(values, spec, origin)
    temp = (values["temp"].to_numpy() - spec.mean["temp"]) / spec.std["temp"]
    column = len(spec.target_lags) + spec.n_calendar  # after the target lags and the calendar
    np.testing.assert_allclose(windows.future[0, :, column], temp[401:425], rtol=1e-5)
    # and one seasonal-naive period earlier, where the naive reads the target: the change since then
    np.testing.assert_allclose(windows.future[0, :, column + 1], temp[401 - 168:425 - 168], rtol=1e-5)


def test_a_missing_known_future_value_drops_the_window_and_scoring_starts_at_the_last_observed_target():
    from sensor_pipelines.core.forecasting.features import last_observed

    frame = sine_frame(days=30)
    frame.loc[410, "temp"] = np.nan  # a step of origin 400's forecast lacks its known value
    spec, values = _known_future_spec(frame)
    kept = complete_origins(values, spec, 380, 440)
    # 386..409 forecast step 410; 410..433 also read it in their past window (temp is a feature too)
    assert list(kept) == [*range(380, 386), *range(434, 440)]
    # the data ends with a day whose temperature forecast is known but whose load is not yet
    future = sine_frame(days=30)
    future.loc[future.index[-24:], "load"] = np.nan
    spec, values = _known_future_spec(future)
    assert last_observed(values, spec) == len(values) - 25
    windows = make_windows(values, spec, np.array([len(values) - 25]), with_targets=False)
    assert windows.complete.all()  # its forecast steps read the known temperatures of the last day
    without = make_windows(values.iloc[:-24], spec, np.array([len(values) - 25]), with_targets=False)
    assert not without.complete.any()  # without the forecast rows the window is incomplete
