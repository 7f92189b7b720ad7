"""The single-circuit training pipeline: train, evaluate, register."""

from azure.ai.ml import Input, dsl

from components_py.training.evaluate_model import evaluate_model
from components_py.training.register_model import register_model
from components_py.training.train_lstm_model import train_lstm_model


@dsl.pipeline(name="single_circuit_training", description="Train, evaluate and register one circuit's forecaster")
def single_circuit_training(
    circuit_config: Input(type="uri_file"),
    training_data: Input(type="mltable"),
    data_asset_name: str,
    data_asset_version: str,
    build_id: str = "local",
    git_sha: str = "unknown",
):
    """Wire train_lstm_model -> evaluate_model -> register_model."""
    train = train_lstm_model(circuit_config=circuit_config, training_data=training_data)
    evaluate = evaluate_model(circuit_config=circuit_config, trained_model=train.outputs.trained_model,
                              training_data=training_data, metrics=train.outputs.metrics)
    register = register_model(circuit_config=circuit_config, trained_model=train.outputs.trained_model,
                              verdict=evaluate.outputs.verdict, data_asset_name=data_asset_name,
                              data_asset_version=data_asset_version, component_version=train_lstm_model.component.version,
                              build_id=build_id, git_sha=git_sha)
    return {
        "trained_model": train.outputs.trained_model,
        "metrics": train.outputs.metrics,
        "verdict": evaluate.outputs.verdict,
        "registration": register.outputs.registration,
    }
