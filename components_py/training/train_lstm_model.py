"""Component: train a circuit's LSTM forecaster."""

from mldesigner import Input, Output, command_component

from components_py import CODE_ROOT, ENVIRONMENT


@command_component(name="train_lstm_model", version="1.0.4", environment=ENVIRONMENT, code=CODE_ROOT,
                   display_name="Train LSTM model")
def train_lstm_model(
    circuit_config: Input(type="uri_file", description="Resolved circuit + model config"),
    training_data: Input(type="mltable", description="The circuit's data asset (snapshot at its cutoff date)"),
    trained_model: Output(type="mlflow_model", description="MLflow model scoring a history DataFrame"),
    metrics: Output(type="uri_folder", description="metrics.json: model and seasonal-naive baseline"),
    training_artifacts: Output(type="uri_folder", description="Training curve, forecast plot, best checkpoint"),
):
    """Train the circuit's LSTM forecaster and log it to MLflow."""
    from pathlib import Path

    from sensor_pipelines.core.config.files import read_circuit_run_config
    from sensor_pipelines.core.data.mltable import read_mltable
    from sensor_pipelines.core.forecasting.training import train_circuit_model
    from sensor_pipelines.core.tracking import component_run

    with component_run():
        train_circuit_model(read_circuit_run_config(circuit_config), read_mltable(training_data),
                            model_dir=Path(trained_model), metrics_dir=Path(metrics),
                            artifacts_dir=Path(training_artifacts))
