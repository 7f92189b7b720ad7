"""Component: test metrics of the saved model (its forecasts handed over by training, hash-checked) and the thresholds."""

from mldesigner import Input, Output, command_component

from components_py import CODE_ROOT, ENVIRONMENT


@command_component(name="evaluate_model", version="1.0.4", environment=ENVIRONMENT, code=CODE_ROOT,
                   display_name="Evaluate model")
def evaluate_model(
    circuit_config: Input(type="uri_file", description="Resolved circuit + model config (thresholds inside)"),
    trained_model: Input(type="mlflow_model", description="The saved MLflow model"),
    training_data: Input(type="mltable", description="The circuit's data asset"),
    verdict: Output(type="uri_folder", description="verdict.json: metrics, checks and passed"),
    metrics: Input(type="uri_folder", optional=True,
                   description="The training node's metrics: its test forecasts are reused when their model "
                               "content hash is the saved model's") = None,
):
    """Recompute test metrics of the saved model and write the validation verdict."""
    from pathlib import Path

    from sensor_pipelines.core.config.files import read_circuit_run_config
    from sensor_pipelines.core.data.mltable import read_mltable
    from sensor_pipelines.core.forecasting.evaluation import write_verdict
    from sensor_pipelines.core.tracking import component_run

    with component_run():
        write_verdict(read_circuit_run_config(circuit_config), read_mltable(training_data),
                      model_dir=Path(trained_model), verdict_dir=Path(verdict),
                      forecasts_dir=Path(metrics) if metrics else None)
