"""Train a circuit's forecaster from its snapshot: windows, fit, test metrics, MLflow model, plots."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sensor_pipelines.core.config.schema import CircuitRunConfig
from sensor_pipelines.core.errors import DataError
from sensor_pipelines.core.fileio import write_json_atomic
from sensor_pipelines.core.forecasting.features import (
    FeatureSpec,
    Split,
    complete_origins,
    fit_scaler,
    make_windows,
    regular_frame,
    select_test_origins,
    spec_from_config,
    split_chronologically,
)
from sensor_pipelines.core.forecasting.metrics import forecast_report, seasonal_naive

log = logging.getLogger(__name__)

MIN_TRAIN_WINDOWS = 10
BEST_CHECKPOINT = "best.keras"
SERVED_MODEL = "served.keras"  # with refit: the mean of the early-stopped and the refit model
TEST_FORECASTS = "test_forecasts.json"  # in the metrics folder: the test forecasts and the model they came from


@dataclass
class TrainingData:
    """A snapshot on its grid, the fitted spec and the origins of every split."""

    values: pd.DataFrame
    spec: FeatureSpec
    split: Split
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def prepare_training_data(config: CircuitRunConfig, frame: pd.DataFrame) -> TrainingData:
    """Split the snapshot, fit the scaler on train rows and pick complete windows; raise DataError if too few."""
    m, name = config.model, config.circuit.name
    spec = spec_from_config(config)
    values = regular_frame(frame, spec)
    split = split_chronologically(len(values), m.validation_fraction, m.test_fraction)
    spec = fit_scaler(values, spec, split.train_end)
    train = complete_origins(values, spec, 0, split.train_end - spec.horizon, stride=m.train_stride)
    validation = complete_origins(values, spec, split.train_end - 1, split.val_end - spec.horizon, stride=m.train_stride)
    test = select_test_origins(values, spec, split, m.baseline_season)
    sizes = (f"{len(values)} rows, lookback {spec.lookback}, horizon {spec.horizon}, "
             f"train_stride {m.train_stride}, baseline_season {m.baseline_season}")
    if len(train) < MIN_TRAIN_WINDOWS:
        raise DataError(f"{name}: only {len(train)} complete training windows, need >= {MIN_TRAIN_WINDOWS} "
                        f"({sizes}); use a later cutoff_date, a smaller lookback or train_stride")
    if len(validation) == 0 or len(test) == 0:
        which = "validation" if len(validation) == 0 else "test"
        raise DataError(f"{name}: no complete {which} windows ({sizes}); the {which} split is too short or "
                        f"full of gaps: use a later cutoff_date or a larger {which}_fraction")
    return TrainingData(values=values, spec=spec, split=split, train=train, validation=validation, test=test)


def check_trainable(config: CircuitRunConfig, frame: pd.DataFrame) -> TrainingData:
    """Everything about a snapshot that would stop training, checked before it is registered.

    A target that is all missing or constant, or too few complete train, validation or test
    windows at the configured lookback, horizon and stride, is a DataError naming the fix.
    """
    target = config.circuit.data.target_column
    values = frame[target].to_numpy(dtype=np.float64) if target in frame.columns else np.array([])
    present = values[np.isfinite(values)]
    name = config.circuit.name
    if present.size == 0:
        raise DataError(f"{name}: target column {target!r} has no readings up to cutoff_date "
                        f"{config.circuit.cutoff_date}; check data.target_column and the data file")
    if np.ptp(present) <= 1e-12 * max(1.0, float(np.abs(present).max())):
        raise DataError(f"{name}: target column {target!r} is constant ({present[0]:g}) up to cutoff_date "
                        f"{config.circuit.cutoff_date}: there is nothing to forecast; check the sensor or the column")
    return prepare_training_data(config, frame)


def score_test_windows(values: pd.DataFrame, spec: FeatureSpec, origins: np.ndarray, forecast: np.ndarray,
                       season: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Metrics of ``forecast`` (n_origins, horizon) and of the seasonal naive on the same windows."""
    target = values[spec.target_column].to_numpy(dtype=np.float64)
    steps = origins[:, None] + np.arange(1, spec.horizon + 1)[None, :]
    actual = target[steps]
    baseline = seasonal_naive(target, origins, spec.horizon, season)
    stamps = [ts.isoformat() for ts in values.index[origins]]
    series = {"timestamps": values.index.to_numpy()[steps], "actual": actual, "forecast": forecast,
              "baseline": baseline}
    return forecast_report(actual, forecast, baseline, season, stamps), series


def train_circuit_model(config: CircuitRunConfig, frame: pd.DataFrame, model_dir: Path, metrics_dir: Path,
                        artifacts_dir: Path) -> dict[str, Any]:
    """Train the circuit's LSTM and write the MLflow model, metrics.json and training plots.

    Logs params, metrics and artifacts to the active MLflow run if there is one.
    Returns the metrics.json content.
    """
    from sensor_pipelines.core.forecasting.model import fit_model
    from sensor_pipelines.core.forecasting.plots import plot_forecasts, plot_training_curve
    from sensor_pipelines.core.forecasting.pyfunc import forecast_history, save_forecaster

    model_dir, metrics_dir, artifacts_dir = Path(model_dir), Path(metrics_dir), Path(artifacts_dir)
    if model_dir.is_dir() and any(model_dir.iterdir()):
        raise FileExistsError(f"model folder {model_dir} is not empty")
    metrics_dir.mkdir(parents=True, exist_ok=True)
    artifacts_dir.mkdir(parents=True, exist_ok=True)

    data = prepare_training_data(config, frame)
    spec, season = data.spec, config.model.baseline_season
    log.info("%s: %d train, %d validation windows, %d test origins", config.circuit.name, len(data.train),
             len(data.validation), len(data.test))
    fit = fit_model(spec, config.model, make_windows(data.values, spec, data.train),
                    make_windows(data.values, spec, data.validation), artifacts_dir / BEST_CHECKPOINT)

    history = data.values.reset_index()
    predicted = forecast_history(fit.model, spec, history, data.values.index[data.test])
    forecast = predicted["forecast"].to_numpy().reshape(len(data.test), spec.horizon)
    report, series = score_test_windows(data.values, spec, data.test, forecast, season)
    report.update(n_train_windows=int(len(data.train)), epochs_run=fit.epochs_run, best_epoch=fit.best_epoch,
                  train_seconds=round(fit.seconds, 3))

    served, evaluated, served_forecasts = artifacts_dir / BEST_CHECKPOINT, None, predicted
    report.update(evaluated_model="the fit on the train split, early-stopped on the validation split",
                  served_model="the same model")
    if config.model.refit:
        served_model, refit_seconds = _refit(config, data, fit)
        served, evaluated = artifacts_dir / SERVED_MODEL, artifacts_dir / BEST_CHECKPOINT
        served_model.save(str(served))
        served_forecasts = forecast_history(served_model, spec, history, data.values.index[data.test])
        report.update(served_model=f"the mean of that model and a refit on every window up to the cutoff "
                                   f"({fit.best_epoch} epochs)", refit_seconds=round(refit_seconds, 3),
                      train_seconds=round(fit.seconds + refit_seconds, 3))
    save_forecaster(model_dir, served, spec, evaluated_keras_file=evaluated, test_forecasts=served_forecasts)
    write_test_forecasts(metrics_dir, model_dir, data.values.index[data.test], forecast)
    write_json_atomic(metrics_dir / "metrics.json", report)
    plot_training_curve(fit.history, artifacts_dir / "training_curve.png", fit.best_epoch)
    plot_forecasts(series["timestamps"], series["actual"], series["forecast"], series["baseline"],
                   artifacts_dir / "forecast_vs_actual.png",
                   title=f"{config.circuit.name}: last test windows (MAE {report['model']['mae']:.2f} vs "
                         f"{report['baseline']['name']} {report['baseline']['mae']:.2f})")
    _log_to_active_run(config, report, fit.history, metrics_dir, artifacts_dir)
    log.info("%s: test MAE %.3f vs %s %.3f (ratio %.2f), %d epochs in %.1f s", config.circuit.name,
             report["model"]["mae"], report["baseline"]["name"], report["baseline"]["mae"], report["mae_ratio"],
             fit.epochs_run, fit.seconds)
    return report


def _refit(config: CircuitRunConfig, data: TrainingData, fit: Any) -> tuple[Any, float]:
    """Fit again on every complete window up to the cutoff for the best epoch count; returns the model served
    (the mean of the early-stopped and the refit model) and the refit's seconds."""
    from sensor_pipelines.core.forecasting.model import average_models, refit_model

    spec, m = data.spec, config.model
    every = complete_origins(data.values, spec, 0, len(data.values) - spec.horizon, stride=m.train_stride)
    refit, seconds = refit_model(spec, m, make_windows(data.values, spec, every), fit.best_epoch)
    log.info("%s: refit on %d windows for %d epochs in %.1f s; the registered model is the mean of both",
             config.circuit.name, len(every), fit.best_epoch, seconds)
    return average_models(spec, [fit.model, refit]), seconds


def write_test_forecasts(metrics_dir: Path, model_dir: Path, origins: pd.DatetimeIndex, forecast: np.ndarray) -> None:
    """Hand the test forecasts to evaluation with the content hash of the saved model that made them."""
    from sensor_pipelines.core.fileio import hash_path

    write_json_atomic(Path(metrics_dir) / TEST_FORECASTS, {
        "model_hash": hash_path(model_dir),
        "origins": [ts.isoformat() for ts in origins],
        "forecast": np.asarray(forecast, dtype=np.float64).tolist(),
    })


def read_test_forecasts(metrics_dir: Path | None, model_dir: Path, origins: pd.DatetimeIndex,
                        horizon: int) -> tuple[np.ndarray | None, str]:
    """The handed-over test forecasts, when they came from exactly this saved model (same content hash)
    for exactly these origins; else (None, why not)."""
    from sensor_pipelines.core.fileio import hash_path, read_json

    path = Path(metrics_dir) / TEST_FORECASTS if metrics_dir else None
    if path is None or not path.is_file():
        return None, "no test forecasts handed over"
    try:
        saved = read_json(path)
        forecast = np.asarray(saved["forecast"], dtype=np.float64)
        if saved["model_hash"] != hash_path(model_dir):
            return None, "the handed-over forecasts come from another model"
        if saved["origins"] != [ts.isoformat() for ts in origins] or forecast.shape != (len(origins), horizon):
            return None, "the handed-over forecasts are for other test windows"
    except (KeyError, TypeError, ValueError) as exc:
        return None, f"{path} is unreadable ({exc})"
    return forecast, "test forecasts of the training node reused (model content hash verified)"


def _log_to_active_run(config: CircuitRunConfig, report: dict[str, Any], history: dict[str, list[float]],
                       metrics_dir: Path, artifacts_dir: Path) -> None:
    """One batch of params and metrics, then the files; nothing when no run is active."""
    import mlflow
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    run = mlflow.active_run()
    if run is None:
        return
    params = {"circuit": config.circuit.name, "cutoff_date": config.circuit.cutoff_date,
              **dataclasses.asdict(config.model)}
    now = int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)
    values = {"mae_ratio": report["mae_ratio"], "epochs_run": report["epochs_run"],
              "train_seconds": report["train_seconds"], "n_train_windows": report["n_train_windows"],
              "n_test_windows": report["n_test_windows"]}
    for side in ("model", "baseline"):
        values.update({f"{side}_{k}": v for k, v in report[side].items() if k != "name"})
    metrics = [Metric(k, float(v), now, 0) for k, v in values.items()]
    for key in ("loss", "val_loss"):
        metrics += [Metric(key, float(v), now, epoch) for epoch, v in enumerate(history.get(key, []), start=1)]
    client = MlflowClient()
    client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()])
    for start in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics per batch
        client.log_batch(run.info.run_id, metrics=metrics[start : start + 1000])
    mlflow.log_artifact(str(metrics_dir / "metrics.json"))
    mlflow.log_artifacts(str(artifacts_dir), artifact_path="training")
