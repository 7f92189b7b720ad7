"""Component: data drift, data quality and prediction drift of a circuit's recent production window."""

from mldesigner import Input, Output, command_component

from components_py import CODE_ROOT, ENVIRONMENT


@command_component(name="detect_drift", version="1.0.2", environment=ENVIRONMENT, code=CODE_ROOT,
                   display_name="Detect drift")
def detect_drift(
    circuit_config: Input(type="uri_file", description="Resolved circuit + model config"),
    monitor_settings: Input(type="uri_file", description="Monitoring settings (JSON): window, limits"),
    model: Input(type="mlflow_model", description="The deployed model version"),
    reference_data: Input(type="mltable", description="The model's training data asset"),
    production_data: Input(type="uri_folder", description="Scored production inputs: MLTable or parquet/csv files"),
    drift: Output(type="uri_folder", description="drift.json: window, data drift, quality, prediction drift"),
    forecasts: Input(type="uri_folder", optional=True, description="Recent forecasts (parquet)") = None,
    window_end: str = "last",
):
    """Compare the last window of production inputs (and forecasts) with the training data (and test forecasts);
    ``window_end`` "last": the window ends at the last scored reading."""
    from pathlib import Path

    from sensor_pipelines.core.config.files import read_circuit_run_config
    from sensor_pipelines.core.data.mltable import read_mltable
    from sensor_pipelines.core.fileio import write_json_atomic
    from sensor_pipelines.core.monitoring_checks import check_drift, read_settings
    from sensor_pipelines.core.scoring import read_scoring_data
    from sensor_pipelines.core.tracking import component_logging

    with component_logging():
        result = check_drift(read_circuit_run_config(circuit_config), read_settings(monitor_settings),
                             read_mltable(reference_data), read_scoring_data(production_data),
                             window_end=None if window_end == "last" else window_end, model_dir=Path(model),
                             forecasts=read_scoring_data(forecasts) if forecasts else None)
        write_json_atomic(Path(drift) / "drift.json", result)
