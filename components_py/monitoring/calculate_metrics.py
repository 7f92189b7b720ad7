"""Component: realised error of recent forecasts, the verdict, result.json and the HTML report."""

from mldesigner import Input, Output, command_component

from components_py import CODE_ROOT, ENVIRONMENT


@command_component(name="calculate_metrics", version="1.0.2", environment=ENVIRONMENT, code=CODE_ROOT,
                   display_name="Calculate monitoring metrics")
def calculate_metrics(
    circuit_config: Input(type="uri_file", description="Resolved circuit + model config"),
    monitor_settings: Input(type="uri_file", description="Monitoring settings (JSON)"),
    drift: Input(type="uri_folder", description="detect_drift's drift.json"),
    production_data: Input(type="uri_folder", description="Scored production inputs (the actuals)"),
    result: Output(type="uri_folder", description="result.json (verdict on top) and report.html"),
    forecasts: Input(type="uri_folder", optional=True, description="Recent forecasts (parquet)") = None,
    validated_mae: float = 0.0,
    model_version: str = "",
    cutoff_date: str = "",
):
    """MAE/RMSE/R² per step and per day against the validated MAE; write the run's result and report."""
    from pathlib import Path

    from sensor_pipelines.core.config.files import read_circuit_run_config
    from sensor_pipelines.core.fileio import read_json, write_json_atomic, write_text_atomic
    from sensor_pipelines.core.monitoring_checks import read_settings, summarise
    from sensor_pipelines.core.monitoring_report import circuit_report_html
    from sensor_pipelines.core.scoring import read_scoring_data
    from sensor_pipelines.core.tracking import component_logging

    with component_logging():
        outcome = summarise(read_json(Path(drift) / "drift.json"), read_circuit_run_config(circuit_config),
                            read_settings(monitor_settings), read_scoring_data(production_data),
                            read_scoring_data(forecasts) if forecasts else None,
                            validated_mae=validated_mae or None, model_version=model_version, cutoff_date=cutoff_date)
        write_json_atomic(Path(result) / "result.json", outcome)
        write_text_atomic(Path(result) / "report.html", circuit_report_html(outcome))
