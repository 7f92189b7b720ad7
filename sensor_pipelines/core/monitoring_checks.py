"""One circuit's monitoring run: the window, drift, quality, prediction drift, realised error, verdict.

Shared by the ``detect_drift`` and ``calculate_metrics`` components and the notebooks. The
statistics themselves live in :mod:`monitoring_stats` and :mod:`quality`; this module chooses what
is compared with what (see :class:`~sensor_pipelines.core.config.schema.MonitoringSettings`):

- target window: the last ``window_days`` of production inputs, up to ``window_end`` (default: the
  last scored reading; a later end is an error, never an empty verdict);
- reference: the training data asset's rows of the same season, with per-column limits
  calibrated on the reference's own windows (:func:`monitoring_stats.calibrated_thresholds`);
- prediction drift (once the window holds forecasts for at least half its steps): the recent
  forecasts against the forecasts the model made on its own test windows (saved with the model
  at training; recomputed with the model for a model saved without them);
- realised error: recent forecasts against the actuals that arrived since, per horizon step and per
  origin day, against the MAE validation measured.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

from sensor_pipelines.core.config.schema import CircuitRunConfig, MonitoringSettings
from sensor_pipelines.core.errors import DataError
from sensor_pipelines.core.monitoring_stats import (
    DriftThresholds,
    calibrated_thresholds,
    detect_drift,
    realised_error,
    seasonal_reference,
)
from sensor_pipelines.core.quality import QualitySpec, ValueRange, check_quality

log = logging.getLogger(__name__)

CHECKS = ("data_drift", "quality", "prediction_drift", "realised_error")
HIST_BINS = 30


def read_settings(path: str | Path) -> MonitoringSettings:
    """The monitoring settings file a monitor hands its components (JSON)."""
    from sensor_pipelines.core.fileio import read_json

    path = Path(path)
    if path.is_dir():
        path = next(p for p in sorted(path.iterdir()) if p.is_file())
    return MonitoringSettings(**read_json(path))


def write_settings(settings: MonitoringSettings, path: str | Path) -> Path:
    from sensor_pipelines.core.fileio import write_json_atomic

    return write_json_atomic(path, dataclasses.asdict(settings))


def _floors(settings: MonitoringSettings) -> DriftThresholds:
    return DriftThresholds(ks_pvalue_max=settings.ks_pvalue_max, ks_statistic_min=settings.ks_statistic_min,
                           psi_max=settings.psi_max, out_of_range_max=settings.out_of_range_max)


def production_window(production: pd.DataFrame, timestamp_column: str, window_days: int,
                      window_end: Optional[str] = None) -> tuple[pd.DataFrame, pd.Timestamp, pd.Timestamp]:
    """The rows of the last ``window_days`` up to ``window_end`` (default: the last reading), one per timestamp."""
    if timestamp_column not in production.columns:
        raise DataError(f"production data has no {timestamp_column!r} column (columns: "
                        f"{', '.join(map(str, production.columns[:8]))})")
    frame = production.copy()
    frame[timestamp_column] = pd.to_datetime(frame[timestamp_column], errors="coerce")
    frame = frame.dropna(subset=[timestamp_column])
    if frame.empty:
        raise DataError("production data is empty: no scored readings with a timestamp")
    frame = frame.sort_values(timestamp_column).drop_duplicates(timestamp_column, keep="last")
    last = frame[timestamp_column].max()
    end = last if not window_end else pd.Timestamp(window_end)
    if end > last:
        raise DataError(f"window end {end} is after the last scored reading {last}: score that day first, "
                        f"or monitor an earlier window")
    start = end - pd.Timedelta(days=window_days)
    window = frame[(frame[timestamp_column] > start) & (frame[timestamp_column] <= end)].reset_index(drop=True)
    if window.empty:
        raise DataError(f"no scored readings between {start} and {end}")
    return window, start, end


def reference_forecasts(model_dir: str | Path, config: CircuitRunConfig, reference: pd.DataFrame) -> pd.DataFrame:
    """The model's forecasts on its own test windows (origin, timestamp, forecast): those training saved with the
    model, else (a model saved before they were kept) recomputed with the model on the reference data."""
    from sensor_pipelines.core.forecasting.pyfunc import saved_test_forecasts

    predicted = saved_test_forecasts(model_dir)
    if predicted is None:
        import mlflow.pyfunc

        from sensor_pipelines.core.forecasting.training import prepare_training_data

        log.info("%s: the model has no saved test forecasts; recomputing them", config.circuit.name)
        data = prepare_training_data(config, reference)
        origins = data.values.index[data.test]
        model = mlflow.pyfunc.load_model(str(model_dir))
        predicted = model.predict(data.values.reset_index(), params={"origins": [ts.isoformat() for ts in origins]})
    return predicted[["origin", "timestamp", "forecast"]].sort_values(["origin", "timestamp"]).reset_index(drop=True)


def _histograms(reference: pd.Series, target: pd.Series) -> dict[str, Any]:
    ref = pd.to_numeric(reference, errors="coerce").to_numpy(np.float64)
    tgt = pd.to_numeric(target, errors="coerce").to_numpy(np.float64)
    ref, tgt = ref[np.isfinite(ref)], tgt[np.isfinite(tgt)]
    if ref.size == 0 or tgt.size == 0:
        return {}
    low, high = float(min(ref.min(), tgt.min())), float(max(ref.max(), tgt.max()))
    edges = np.linspace(low, high if high > low else low + 1.0, HIST_BINS + 1)
    return {"edges": edges.round(6).tolist(), "reference": np.histogram(ref, edges)[0].tolist(),
            "target": np.histogram(tgt, edges)[0].tolist()}


def recent_forecasts(forecasts: Optional[pd.DataFrame], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Forecasts made from origins inside the window (one row per origin and step, the latest run's)."""
    columns = ["origin", "timestamp", "step", "forecast"]
    if forecasts is None or forecasts.empty:
        return pd.DataFrame(columns=columns)
    frame = forecasts.rename(columns={"horizon_step": "step"})
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"forecasts lack column(s) {', '.join(missing)}")
    frame = frame[columns].copy()
    frame["origin"] = pd.to_datetime(frame["origin"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    frame = frame[(frame["origin"] > start) & (frame["origin"] <= end)]
    return frame.drop_duplicates(["origin", "step"], keep="last").sort_values(["origin", "step"]).reset_index(drop=True)


def check_drift(config: CircuitRunConfig, settings: MonitoringSettings, reference: pd.DataFrame,
                production: pd.DataFrame, *, window_end: Optional[str] = None, model_dir: Optional[Path] = None,
                forecasts: Optional[pd.DataFrame] = None) -> dict[str, Any]:
    """Data drift, data quality and prediction drift of the production window (``drift.json``)."""
    started = time.perf_counter()
    data = config.circuit.data
    ts, columns = data.timestamp_column, [data.target_column, *data.feature_columns]
    window, start, end = production_window(production, ts, settings.window_days, window_end)
    step = pd.tseries.frequencies.to_offset(data.frequency)
    window_rows = max(24, int(pd.Timedelta(days=settings.window_days) / pd.Timedelta(step)))
    season, taken = seasonal_reference(reference, ts, window[ts], settings.season_days, min_rows=4 * window_rows)
    floors = _floors(settings)
    limits = calibrated_thresholds(season, columns, window_rows, floors, settings.calibration_margin)
    drift = detect_drift(season, window, columns, floors, per_column=limits)

    ranges = {c: ValueRange(r.min, r.max) for c, r in data.valid_range.items() if c in columns}
    quality = check_quality(window, QualitySpec(
        timestamp_column=ts, value_columns=tuple(columns), ranges=ranges, max_missing_rate=settings.max_missing_rate,
        frequency=data.frequency, flatline_min_run=settings.flatline_min_run))

    result: dict[str, Any] = {
        "circuit": config.circuit.name, "window": {"start": str(start), "end": str(end), "rows": int(len(window)),
                                                   "days": settings.window_days},
        "reference": {"rows": int(len(season)), "taken": taken, "total_rows": int(len(reference))},
        "data_drift": drift.to_dict(), "quality": quality.to_dict(),
        "histograms": {c: _histograms(season[c], window[c]) for c in columns if c in season and c in window},
        "prediction_drift": {"checked": False, "reason": "no forecasts in the window"},
    }
    recent = recent_forecasts(forecasts, start, end)
    needed = window_rows // 2  # fewer forecasts than half a window: their distribution says little yet
    if not recent.empty and len(recent) < needed:
        result["prediction_drift"] = {"checked": False, "reason": f"{len(recent)} forecasts in the window, fewer than "
                                                                  f"{needed} (half the window's steps)"}
    elif model_dir is not None and not recent.empty:
        ref_fc = reference_forecasts(model_dir, config, reference)
        n = max(len(recent), 24)
        pred_limits = calibrated_thresholds(ref_fc, ["forecast"], n, floors, settings.calibration_margin)
        pred = detect_drift(ref_fc, recent, ["forecast"], floors, per_column=pred_limits)
        result["prediction_drift"] = {"checked": True, **pred.to_dict(), "n_reference": int(len(ref_fc)),
                                      "n_recent": int(len(recent)),
                                      "histogram": _histograms(ref_fc["forecast"], recent["forecast"])}
    result["seconds"] = {"drift": round(time.perf_counter() - started, 3)}
    return result


def _daily_error(forecasts: pd.DataFrame, actuals: pd.DataFrame) -> list[dict[str, Any]]:
    joined = forecasts.merge(actuals, on="timestamp").dropna(subset=["forecast", "value"])
    if joined.empty:
        return []
    joined["day"] = joined["origin"].dt.strftime("%Y-%m-%d")
    err = (joined["forecast"] - joined["value"]).abs()
    return [{"day": day, "mae": float(err[group.index].mean()), "n": int(len(group))}
            for day, group in joined.groupby("day", sort=True)]


def summarise(drift: dict[str, Any], config: CircuitRunConfig, settings: MonitoringSettings,
              production: pd.DataFrame, forecasts: Optional[pd.DataFrame], *, validated_mae: Optional[float],
              model_version: str = "", cutoff_date: str = "") -> dict[str, Any]:
    """The run's result (``result.json``): the drift part, realised error and the verdict on top."""
    started = time.perf_counter()
    data = config.circuit.data
    ts = data.timestamp_column
    start, end = pd.Timestamp(drift["window"]["start"]), pd.Timestamp(drift["window"]["end"])
    recent = recent_forecasts(forecasts, start, end)
    actuals = production[[ts, data.target_column]].rename(columns={ts: "timestamp", data.target_column: "value"})
    actuals = actuals.assign(timestamp=pd.to_datetime(actuals["timestamp"], errors="coerce"),
                             value=pd.to_numeric(actuals["value"], errors="coerce"))
    validated = validated_mae if validated_mae and np.isfinite(validated_mae) and validated_mae > 0 else None
    realised = realised_error(recent, actuals, validated, settings.max_mae_ratio)
    failed = []
    if drift["data_drift"]["drifted"]:
        failed.append("data_drift")
    if not drift["quality"]["passed"]:
        failed.append("quality")
    if drift["prediction_drift"].get("drifted"):
        failed.append("prediction_drift")
    if realised.degraded:
        failed.append("realised_error")
    return {
        **{k: v for k, v in drift.items()},
        "model_version": model_version, "cutoff_date": cutoff_date,
        "realised_error": {**realised.to_dict(), "daily": _daily_error(recent, actuals.dropna())},
        "failed_checks": failed, "status": "alert" if failed else "ok",
        "seconds": {**drift.get("seconds", {}), "metrics": round(time.perf_counter() - started, 3)},
    }
