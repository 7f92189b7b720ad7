"""The MLflow pyfunc model: scores a history DataFrame end to end (scaling and windowing inside).

Contract of ``predict(context, model_input, params=None)``:

- ``model_input``: a DataFrame with the timestamp, target and feature columns the model was
  trained on (other columns are ignored); timestamps may be strings. Rows are sorted and put
  on the frequency grid; missing steps become NaN.
- ``params={"origins": [iso timestamps]}`` (optional): forecast from each origin using the
  history up to and including it, in one batched Keras predict. Without it, the one origin
  is the last timestamp. Each origin needs ``lookback`` steps and its largest target lag
  (two weeks by default) of history.
- Returns a DataFrame ``[origin, timestamp, forecast]``: ``horizon`` rows per origin, for the
  steps after it. A window whose inputs hold NaN gets NaN forecasts.

MLflow is imported lazily: ``CircuitForecaster`` is built on first access (PEP 562), so
importing this module stays cheap and pickles still find the class by its qualified name.
"""

from __future__ import annotations

import functools
import json
import tempfile
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from sensor_pipelines.core.errors import DataError
from sensor_pipelines.core.forecasting import model as forecaster
from sensor_pipelines.core.forecasting.features import (
    FeatureSpec,
    last_observed,
    make_windows,
    regular_frame,
    unscale_target,
)

KERAS_ARTIFACT = "keras_model"
SPEC_ARTIFACT = "feature_spec"
EVALUATED_ARTIFACT = "evaluated_keras_model"  # with refit: the member the test metrics describe
# the served model's forecasts on its test windows: monitoring's reference (not training's
# metrics/test_forecasts.json, the evaluated member's, handed to evaluate)
SERVED_FORECASTS_ARTIFACT = "served_test_forecasts"
SERVED_FORECASTS_FILE = "served_test_forecasts.parquet"
REQUIREMENTS = ("mlflow", "keras", "tensorflow-cpu", "tensorflow", "pandas", "numpy", "cloudpickle")


def forecast_history(keras_model: Any, spec: FeatureSpec, history: pd.DataFrame,
                     origins: Optional[Sequence[Any]] = None) -> pd.DataFrame:
    """Forecast ``horizon`` steps after each origin (default: the last timestamp) of ``history``."""
    values = regular_frame(history, spec)
    positions = _origin_positions(values, spec, origins)
    origin_stamps, timestamps, forecast = forecast_positions(keras_model, spec, values, positions)
    return pd.DataFrame({"origin": origin_stamps, "timestamp": timestamps, "forecast": forecast.ravel()})


def forecast_positions(keras_model: Any, spec: FeatureSpec, values: pd.DataFrame,
                       positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forecasts after each origin position of a regular frame: (origin per row, timestamp per row,
    forecast array (n_origins, horizon)); a window whose inputs hold NaN gets NaN forecasts."""
    windows = make_windows(values, spec, positions, with_targets=False)
    complete = windows.complete
    if not complete.all():  # a window with a gap predicts from zeros; its forecasts are NaN below
        windows.past, windows.future, windows.base = (np.nan_to_num(a) for a in (windows.past, windows.future,
                                                                                  windows.base))
    scaled = forecaster.predict(keras_model, windows)
    forecast = unscale_target(scaled, spec)
    forecast[~complete] = np.nan
    grid = values.index.append(pd.date_range(values.index[-1], periods=spec.horizon + 1, freq=spec.frequency)[1:])
    steps = positions[:, None] + np.arange(1, spec.horizon + 1)[None, :]
    return (np.repeat(values.index[positions].to_numpy(), spec.horizon), grid[steps.ravel()].to_numpy(), forecast)


def _origin_positions(values: pd.DataFrame, spec: FeatureSpec, origins: Optional[Sequence[Any]]) -> np.ndarray:
    if origins is None or (not isinstance(origins, str) and len(origins) == 0):
        positions = np.array([last_observed(values, spec)])
    else:
        stamps = pd.DatetimeIndex(pd.to_datetime([origins] if isinstance(origins, str) else list(origins)))
        positions = values.index.get_indexer(stamps)
        if (positions < 0).any():
            missing = [str(s) for s in stamps[positions < 0][:3]]
            raise DataError(f"origins not in the history's {spec.frequency!r} grid: {', '.join(missing)}")
    short = positions < spec.first_origin
    if short.any():
        first = values.index[positions[short][0]]
        raise DataError(f"origin {first} has fewer than {spec.first_origin + 1} steps of history before it "
                        f"(lookback={spec.lookback}, target lags {spec.lags})")
    return positions.astype(np.int64)


@functools.cache
def _forecaster_class() -> type:
    import mlflow.pyfunc

    class CircuitForecaster(mlflow.pyfunc.PythonModel):
        """A circuit's LSTM forecaster with its scaler and windowing (see module docstring)."""

        def load_context(self, context: Any) -> None:
            import keras

            self.spec = FeatureSpec.from_dict(json.loads(Path(context.artifacts[SPEC_ARTIFACT]).read_text()))
            self.keras_model = keras.models.load_model(context.artifacts[KERAS_ARTIFACT], compile=False)
            self.evaluated_path = context.artifacts.get(EVALUATED_ARTIFACT)

        def evaluated_model(self) -> Any:
            """The model the test metrics describe: the early-stopped member with refit, else the served one."""
            import keras

            if not self.evaluated_path:
                return self.keras_model
            return keras.models.load_model(self.evaluated_path, compile=False)

        def predict(self, context: Any, model_input: pd.DataFrame, params: Optional[dict[str, Any]] = None):
            origins = (params or {}).get("origins")
            return forecast_history(self.keras_model, self.spec, pd.DataFrame(model_input), origins)

    CircuitForecaster.__module__ = __name__
    CircuitForecaster.__qualname__ = "CircuitForecaster"
    return CircuitForecaster


def __getattr__(name: str) -> Any:
    if name == "CircuitForecaster":
        return _forecaster_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _pip_requirements() -> list[str]:
    pins = []
    for name in REQUIREMENTS:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


def save_forecaster(path: str | Path, keras_file: str | Path, spec: FeatureSpec,
                    evaluated_keras_file: str | Path | None = None,
                    test_forecasts: pd.DataFrame | None = None) -> Path:
    """Save the MLflow pyfunc model to ``path`` (absent or an empty folder); ``evaluated_keras_file``: the model
    the test metrics describe, when it is not the served one (refit); ``test_forecasts``: the served model's
    ``[origin, timestamp, forecast]`` on its test windows, kept with it (see :func:`saved_test_forecasts`)."""
    import mlflow.pyfunc
    from mlflow.models import ModelSignature
    from mlflow.types import ParamSchema, ParamSpec

    path = Path(path)
    if path.is_dir() and any(path.iterdir()):
        raise FileExistsError(f"model folder {path} is not empty")
    signature = ModelSignature(inputs=None, params=ParamSchema([ParamSpec("origins", "string", [], (-1,))]))
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*input example was not provided")
        spec_file = Path(tmp) / "feature_spec.json"
        spec_file.write_text(json.dumps(spec.to_dict(), indent=2, sort_keys=True))
        extra = {EVALUATED_ARTIFACT: str(evaluated_keras_file)} if evaluated_keras_file else {}
        if test_forecasts is not None:
            extra[SERVED_FORECASTS_ARTIFACT] = str(Path(tmp) / SERVED_FORECASTS_FILE)
            test_forecasts[["origin", "timestamp", "forecast"]].to_parquet(Path(tmp) / SERVED_FORECASTS_FILE,
                                                                           index=False)
        mlflow.pyfunc.save_model(
            path=str(path),
            python_model=_forecaster_class()(),
            artifacts={KERAS_ARTIFACT: str(keras_file), SPEC_ARTIFACT: str(spec_file), **extra},
            signature=signature,
            pip_requirements=_pip_requirements(),
        )
    return path


def saved_test_forecasts(model_dir: str | Path) -> pd.DataFrame | None:
    """The served model's test forecasts saved with it (``[origin, timestamp, forecast]``), read without loading
    the model; None for a model saved before they were kept."""
    path = Path(model_dir) / "artifacts" / SERVED_FORECASTS_FILE
    return pd.read_parquet(path) if path.is_file() else None
