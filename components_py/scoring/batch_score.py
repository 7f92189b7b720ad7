"""Component: score recent history with a registered model, in batches, to forecasts parquet."""

from mldesigner import Input, Output, command_component

from components_py import CODE_ROOT, ENVIRONMENT


@command_component(name="batch_score", version="1.0.3", environment=ENVIRONMENT, code=CODE_ROOT,
                   display_name="Batch score")
def batch_score(
    model: Input(type="mlflow_model", description="The registered model version (MLflow pyfunc forecaster)"),
    scoring_data: Input(type="uri_folder", description="Recent history: an MLTable folder or parquet/csv files"),
    circuit: str,
    model_name: str,
    model_version: str,
    cutoff_date: str,
    forecasts: Output(type="uri_folder", description="forecasts.parquet (one row per origin and step) + summary.json"),
    last_origins: int = 1,
    batch_size: int = 8192,
):
    """Forecast from the last ``last_origins`` origins (0: every origin) of the scoring data."""
    from pathlib import Path

    from sensor_pipelines.core.scoring import score_model
    from sensor_pipelines.core.tracking import component_logging

    with component_logging():
        score_model(Path(model), Path(scoring_data), Path(forecasts), circuit=circuit, model_name=model_name,
                    model_version=model_version, cutoff_date=cutoff_date, last_origins=last_origins,
                    batch_size=batch_size)
