"""Component: check a batch of forecasts and write the verdict; a failed verdict fails the run."""

from mldesigner import Input, Output, command_component

from components_py import CODE_ROOT, ENVIRONMENT


@command_component(name="validate_predictions", version="1.0.3", environment=ENVIRONMENT, code=CODE_ROOT,
                   display_name="Validate predictions")
def validate_predictions(
    forecasts: Input(type="uri_folder", description="batch_score output: forecasts.parquet + summary.json"),
    horizon: int,
    frequency: str,
    verdict: Output(type="uri_folder", description="verdict.json: passed, problems, counts"),
    min_value: Input(type="number", optional=True, description="physical minimum of the target") = None,
    max_value: Input(type="number", optional=True, description="physical maximum of the target") = None,
):
    """No NaN/inf, ``horizon`` steps per origin on the ``frequency`` grid, values inside [min, max]."""
    from pathlib import Path

    from sensor_pipelines.core.scoring import validate_forecasts
    from sensor_pipelines.core.tracking import component_logging

    with component_logging():
        validate_forecasts(Path(forecasts), Path(verdict), horizon=horizon, frequency=frequency,
                           min_value=min_value, max_value=max_value)
