"""The monitoring pipeline: detect drift, then realised error, verdict and report."""

from azure.ai.ml import Input, dsl

from components_py.monitoring.calculate_metrics import calculate_metrics
from components_py.monitoring.detect_drift import detect_drift


@dsl.pipeline(name="monitoring", description="Drift, quality, prediction drift and realised error of one circuit")
def monitoring(
    circuit_config: Input(type="uri_file"),
    monitor_settings: Input(type="uri_file"),
    model: Input(type="mlflow_model"),
    reference_data: Input(type="mltable"),
    production_data: Input(type="uri_folder"),
    forecasts: Input(type="uri_folder", optional=True) = None,
    window_end: str = "last",
    validated_mae: float = 0.0,
    model_version: str = "",
    cutoff_date: str = "",
):
    """Wire detect_drift -> calculate_metrics; the result folder holds result.json and report.html."""
    drift = detect_drift(circuit_config=circuit_config, monitor_settings=monitor_settings, model=model,
                         reference_data=reference_data, production_data=production_data, forecasts=forecasts,
                         window_end=window_end)
    metrics = calculate_metrics(circuit_config=circuit_config, monitor_settings=monitor_settings,
                                drift=drift.outputs.drift, production_data=production_data, forecasts=forecasts,
                                validated_mae=validated_mae, model_version=model_version, cutoff_date=cutoff_date)
    return {"drift": drift.outputs.drift, "result": metrics.outputs.result}
