"""Forecast error metrics and the seasonal-naive baseline."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from sensor_pipelines.core.forecasting.features import baseline_lags

def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, R² and MAPE (in percent, zero targets ignored) over all values, flattened."""
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"need equal, non-empty shapes, got {y_true.shape} and {y_pred.shape}")
    error = y_pred - y_true
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    nonzero = y_true != 0
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "r2": 1.0 - float(np.sum(error**2)) / ss_tot if ss_tot > 0 else float("nan"),
        "mape": float(np.mean(np.abs(error[nonzero] / y_true[nonzero])) * 100) if nonzero.any() else float("nan"),
    }


def seasonal_naive(target: np.ndarray, origins: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Seasonal-naive forecasts, shape (n_origins, horizon).

    Step ``h`` from origin ``t`` repeats the last value one season back:
    ``target[t + h - season * ceil(h / season)]``.
    """
    source = np.asarray(origins, dtype=np.int64)[:, None] + baseline_lags(horizon, season)[None, :]
    if source.size and source.min() < 0:
        raise ValueError(f"an origin is less than one season ({season} steps) into the series")
    return np.asarray(target, dtype=np.float64)[source]


def forecast_report(actual: np.ndarray, forecast: np.ndarray, baseline: np.ndarray, season: int,
                    origins: Sequence[Any]) -> dict[str, Any]:
    """The metrics.json body: model and baseline metrics on the same windows, and their MAE ratio."""
    model = regression_metrics(actual, forecast)
    base = regression_metrics(actual, baseline)
    ratio = model["mae"] / base["mae"] if base["mae"] > 0 else float("nan")
    return {
        "model": model,
        "baseline": {"name": f"seasonal_naive_{season}", **base},
        "mae_ratio": ratio,
        "n_test_windows": int(len(actual)),
        "test_origins": [str(origins[0]), str(origins[-1])] if len(origins) else [],
    }


def is_number(value: Any) -> bool:
    """True for a finite int or float (bools excluded)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
