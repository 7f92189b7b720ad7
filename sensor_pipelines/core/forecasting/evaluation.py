"""Re-score a saved MLflow model on the test windows and check it against the circuit's thresholds."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sensor_pipelines.core.config.schema import DEFAULT_MAE_RATIO_MAX, CircuitRunConfig, Thresholds
from sensor_pipelines.core.errors import DataError
from sensor_pipelines.core.fileio import write_json_atomic
from sensor_pipelines.core.forecasting.metrics import is_number
from sensor_pipelines.core.forecasting.pyfunc import EVALUATED_ARTIFACT
from sensor_pipelines.core.forecasting.training import prepare_training_data, read_test_forecasts, score_test_windows

log = logging.getLogger(__name__)


def evaluate_saved_model(config: CircuitRunConfig, frame: pd.DataFrame, model_dir: Path,
                         forecasts_dir: Path | None = None) -> dict[str, Any]:
    """Metrics (as in metrics.json) of the saved model's forecasts for the test origins.

    The forecasts are the ones the training node handed over in ``forecasts_dir`` when their
    model content hash is the saved model's and their origins are these; otherwise the saved
    pyfunc model forecasts the test origins here (one predict call).
    """
    data = prepare_training_data(config, frame)
    origins = data.values.index[data.test]
    forecast, why = read_test_forecasts(forecasts_dir, model_dir, origins, data.spec.horizon)
    log.info("%s: %s", config.circuit.name, why if forecast is not None else f"{why}: forecasting with the saved model")
    if forecast is None:
        forecast = _forecast_with_saved_model(model_dir, data, origins)
    report, _ = score_test_windows(data.values, data.spec, data.test, forecast, config.model.baseline_season)
    refit = EVALUATED_ARTIFACT in (Path(model_dir) / "MLmodel").read_text()
    report["evaluated_model"] = ("the member fit on the train split, early-stopped on the validation split (the "
                                 "registered model forecasts its mean with a refit on every window up to the cutoff)"
                                 if refit else "the registered model")
    return report


def _forecast_with_saved_model(model_dir: Path, data: Any, origins: pd.DatetimeIndex) -> np.ndarray:
    """The test forecasts of the model the metrics describe (with refit: the member that never saw them)."""
    import mlflow.pyfunc

    from sensor_pipelines.core.forecasting.pyfunc import forecast_history

    python_model = mlflow.pyfunc.load_model(str(model_dir)).unwrap_python_model()
    predicted = forecast_history(python_model.evaluated_model(), python_model.spec, data.values.reset_index(),
                                 origins)
    expected = np.repeat(origins.to_numpy(), data.spec.horizon)
    if len(predicted) != len(expected) or not (pd.to_datetime(predicted["origin"]).to_numpy() == expected).all():
        raise DataError(f"{model_dir}: the model did not return {data.spec.horizon} forecasts per test origin")
    return predicted["forecast"].to_numpy(dtype=np.float64).reshape(len(origins), data.spec.horizon)


def apply_thresholds(metrics: dict[str, Any], thresholds: Thresholds) -> dict[str, Any]:
    """The validation verdict; fail closed: a missing or non-finite metric fails its check.

    ``metrics`` is a metrics.json dict (the ``model`` part and the top-level ``mae_ratio`` are
    checked) or a flat metric dict. Besides the absolute limits, the skill check: the model's
    MAE over the seasonal naive's on the same test windows must be <= ``mae_ratio_max``
    (default 1.0: no worse than the naive). Every failed check has a ``reason``; the verdict
    lists them in ``reasons``.
    """
    values = metrics.get("model", metrics) if isinstance(metrics, dict) else {}
    values = values if isinstance(values, dict) else {}
    checks = []
    for metric, op, limit in (("mae", "<", thresholds.mae_max), ("rmse", "<", thresholds.rmse_max),
                              ("r2", ">", thresholds.r2_min)):
        value = values.get(metric)
        ok = is_number(value) and (value < limit if op == "<" else value > limit)
        check = {"metric": metric, "value": float(value) if is_number(value) else float("nan"),
                 "limit": float(limit), "op": op, "passed": bool(ok)}
        if not ok:
            check["reason"] = (f"{metric} {value:.4g} is not {op} {limit:g}" if is_number(value)
                               else f"{metric} is missing or not a finite number")
        checks.append(check)
    checks.append(_skill_check(metrics if isinstance(metrics, dict) else {}, values, thresholds))
    return {"passed": all(c["passed"] for c in checks), "checks": checks,
            "reasons": [c["reason"] for c in checks if not c["passed"]]}


def _skill_check(metrics: dict[str, Any], values: dict[str, Any], thresholds: Thresholds) -> dict[str, Any]:
    """``mae_ratio`` (model MAE / seasonal-naive MAE) <= ``mae_ratio_max``."""
    limit = thresholds.mae_ratio_max if thresholds.mae_ratio_max is not None else DEFAULT_MAE_RATIO_MAX
    ratio = metrics.get("mae_ratio", values.get("mae_ratio"))
    ok = is_number(ratio) and ratio <= limit
    check = {"metric": "mae_ratio", "value": float(ratio) if is_number(ratio) else float("nan"),
             "limit": float(limit), "op": "<=", "passed": bool(ok)}
    if not ok:
        baseline = metrics.get("baseline") if isinstance(metrics.get("baseline"), dict) else {}
        name = baseline.get("name", "the seasonal naive")
        if is_number(ratio):
            model_mae, base_mae = values.get("mae"), baseline.get("mae")
            maes = (f" (MAE {model_mae:.4g} vs {base_mae:.4g})" if is_number(model_mae) and is_number(base_mae)
                    else "")
            check["reason"] = (f"model is worse than {name} on the test windows{maes}: MAE ratio {ratio:.3f} "
                               f"> mae_ratio_max {limit:g}")
        else:
            check["reason"] = f"mae_ratio (model MAE / {name} MAE) is missing or not a finite number"
    return check


def write_verdict(config: CircuitRunConfig, frame: pd.DataFrame, model_dir: Path, verdict_dir: Path,
                  forecasts_dir: Path | None = None) -> dict[str, Any]:
    """Evaluate the saved model, apply the thresholds, write verdict_dir/verdict.json = {passed, checks, metrics}.

    ``forecasts_dir``: the training node's metrics folder, whose test forecasts are reused when they
    belong to this model (see :func:`evaluate_saved_model`).
    """
    import mlflow

    metrics = evaluate_saved_model(config, frame, model_dir, forecasts_dir)
    verdict = {**apply_thresholds(metrics, config.circuit.thresholds), "metrics": metrics}
    write_json_atomic(Path(verdict_dir) / "verdict.json", verdict)
    if mlflow.active_run() is not None:
        logged = {f"eval_{c['metric']}": c["value"] for c in verdict["checks"]}
        mlflow.log_metrics({**logged, "eval_baseline_mae": metrics["baseline"]["mae"],
                            "eval_passed": float(verdict["passed"])})
    log.info("%s: verdict %s%s", config.circuit.name, "PASSED" if verdict["passed"] else "FAILED",
             "".join(f"; {reason}" for reason in verdict["reasons"]))
    return verdict
