"""Forecast checks (validate_predictions) and endpoint names, on tiny frames: no TensorFlow."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sensor_pipelines.core.errors import UserError
from sensor_pipelines.core.scoring import COLUMNS, ForecastsRejected, check_forecasts, validate_forecasts
from sensor_pipelines.release.names import deployment_name, endpoint_name


def _forecasts(folder, origins: int = 3, horizon: int = 4, **changes) -> None:
    origin = np.repeat(pd.date_range("2025-12-01", periods=origins, freq="h"), horizon)
    step = np.tile(np.arange(1, horizon + 1), origins)
    frame = pd.DataFrame({"circuit": "P_C", "origin": origin, "timestamp": origin + pd.to_timedelta(step, "h"),
                          "horizon_step": step.astype("int16"), "forecast": np.linspace(10, 20, origins * horizon),
                          "model_version": "1", "cutoff_date": "2025-11-30"})
    for column, (row, value) in changes.items():
        frame.loc[row, column] = value
    folder.mkdir(parents=True, exist_ok=True)
    frame[list(COLUMNS)].to_parquet(folder / "forecasts.parquet")


def test_good_forecasts_pass(tmp_path):
    _forecasts(tmp_path / "f")
    verdict = check_forecasts(tmp_path / "f/forecasts.parquet", horizon=4, frequency="h", min_value=0, max_value=100)
    assert verdict.passed and verdict.rows == 12 and verdict.origins == 3


@pytest.mark.parametrize("change, problem", [
    ({"forecast": (0, np.nan)}, "NaN or infinite"),
    ({"forecast": (1, np.inf)}, "NaN or infinite"),
    ({"forecast": (2, -5.0)}, "below the circuit's forecast_range.min 0"),
    ({"forecast": (2, 500.0)}, "above the circuit's forecast_range.max 100"),
    ({"timestamp": (3, pd.Timestamp("2030-01-01"))}, r"not origin \+ step x h"),
    ({"horizon_step": (0, 2)}, "do not have exactly steps 1..4"),
])
def test_each_problem_fails_the_verdict_and_the_run(tmp_path, change, problem):
    _forecasts(tmp_path / "f", **change)
    with pytest.raises(ForecastsRejected, match=problem):
        validate_forecasts(tmp_path / "f", tmp_path / "v", horizon=4, frequency="h", min_value=0.0, max_value=100.0)
    assert (tmp_path / "v/verdict.json").is_file()  # the verdict is written before the run fails


def test_wrong_horizon_fails(tmp_path):
    _forecasts(tmp_path / "f", horizon=3)
    assert not check_forecasts(tmp_path / "f/forecasts.parquet", horizon=4, frequency="h").passed


def test_endpoint_names_fit_azure_or_are_refused():
    assert endpoint_name("PLANT1_CIRC1", "test") == "be-plant1-circ1-test"
    assert deployment_name("3", "1.0.0") == "v3-bs1-0-0"
    with pytest.raises(UserError, match="has 42 characters; Azure ML allows 3 to 32"):
        endpoint_name("PLANTNUMBERTWELVE_CIRCUITSEVENTEEN", "prod")


class _LastValueModel:
    """A stand-in for the Keras model: forecasts the window's last scaled target for every step."""

    output_shape = (None, 6)

    def predict_on_batch(self, inputs):
        past = inputs[0]
        return np.repeat(past[:, -1:, 0], 6, axis=1)


def test_batches_score_exactly_what_one_pass_would(tmp_path):
    """Each batch reads only the rows its windows need; the result must not depend on the batch size."""
    from sensor_pipelines.core.forecasting.features import FeatureSpec, regular_frame
    from sensor_pipelines.core.forecasting.pyfunc import forecast_positions
    from sensor_pipelines.core.scoring import score_history

    index = pd.date_range("2025-01-01", periods=300, freq="h")
    history = pd.DataFrame({"timestamp": index, "load": np.sin(np.arange(300) / 5) * 10 + 50,
                            "temp": np.cos(np.arange(300) / 7)})
    spec = FeatureSpec("timestamp", "load", ["temp"], "h", lookback=12, horizon=6, use_calendar=True,
                       mean={"load": 50.0, "temp": 0.0}, std={"load": 7.0, "temp": 0.7})
    common = dict(circuit="P_C", model_name="P_C_model", model_version="3", cutoff_date="2025-01-01", last_origins=0)
    score_history(_LastValueModel(), spec, history, tmp_path / "one", batch_size=100000, **common)
    summary = score_history(_LastValueModel(), spec, history, tmp_path / "many", batch_size=7, **common)
    one = pd.read_parquet(tmp_path / "one/forecasts.parquet")
    many = pd.read_parquet(tmp_path / "many/forecasts.parquet")
    assert summary.batches == -(-289 // 7) and summary.origins == 289 and len(many) == 289 * 6
    pd.testing.assert_frame_equal(one, many)
    values = regular_frame(history, spec)
    _, _, direct = forecast_positions(_LastValueModel(), spec, values, np.arange(11, 300))
    np.testing.assert_allclose(many["forecast"].to_numpy(), direct.ravel())
    assert many["timestamp"].iloc[-1] == index[-1] + pd.Timedelta(hours=6)
    for column, value in (("circuit", "P_C"), ("model_version", "3"), ("cutoff_date", "2025-01-01")):
        assert many[column].dtype != "category" and set(many[column]) == {value}  # plain strings, read back


class _ZeroOnNaNModel(_LastValueModel):
    """Like the Keras model, it has no answer for NaN inputs: it would fail the batch if it saw one."""

    def predict_on_batch(self, inputs):
        assert not any(np.isnan(x).any() for x in inputs), "NaN reached the model"
        return super().predict_on_batch(inputs)


def test_a_window_with_a_gap_gets_nan_forecasts_and_the_others_are_untouched():
    from sensor_pipelines.core.forecasting.features import FeatureSpec, regular_frame
    from sensor_pipelines.core.forecasting.pyfunc import forecast_positions

    index = pd.date_range("2025-01-01", periods=100, freq="h")
    history = pd.DataFrame({"timestamp": index, "load": np.arange(100) + 50.0, "temp": np.zeros(100)})
    spec = FeatureSpec("timestamp", "load", ["temp"], "h", lookback=12, horizon=6, use_calendar=False,
                       mean={"load": 50.0, "temp": 0.0}, std={"load": 7.0, "temp": 1.0})
    clean = forecast_positions(_ZeroOnNaNModel(), spec, regular_frame(history, spec), np.arange(11, 100))[2]
    history.loc[50, "temp"] = np.nan  # inside the inputs of origins 50..61
    forecast = forecast_positions(_ZeroOnNaNModel(), spec, regular_frame(history, spec), np.arange(11, 100))[2]
    gap = np.isnan(forecast).all(axis=1)
    assert gap.sum() == 12 and gap[50 - 11] and gap[61 - 11] and not gap[62 - 11]
    np.testing.assert_allclose(forecast[~gap], clean[~gap])


def test_data_files_are_read_as_one_frame_whatever_their_format(tmp_path):
    from sensor_pipelines.core.scoring import read_data_files, read_scoring_data

    first = pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=3, freq="h"), "load_kw": [1.0, 2.0, 3.0]})
    second = first.assign(timestamp=first["timestamp"] + pd.Timedelta(hours=3), voltage_v=230.0)
    first.to_parquet(tmp_path / "a.parquet", index=False)
    second.to_parquet(tmp_path / "b.parquet", index=False)
    second.assign(load_kw=9.0).to_csv(tmp_path / "c.csv", index=False)
    joined = read_data_files([tmp_path / "a.parquet", tmp_path / "b.parquet"])
    assert joined["load_kw"].tolist() == [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]
    assert joined["voltage_v"].isna().tolist() == [True] * 3 + [False] * 3  # missing in a.parquet: null there
    assert joined["timestamp"].dtype.kind == "M"
    folder = read_scoring_data(tmp_path)  # a folder: its parquet files, then its CSV files
    assert len(folder) == 9 and folder["load_kw"].tolist()[-3:] == [9.0] * 3
