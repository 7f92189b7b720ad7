"""Component: register the model in the MLflow registry with its lineage tags."""

from mldesigner import Input, Output, command_component

from components_py import CODE_ROOT, ENVIRONMENT


@command_component(name="register_model", version="1.0.4", environment=ENVIRONMENT, code=CODE_ROOT,
                   display_name="Register model")
def register_model(
    circuit_config: Input(type="uri_file", description="Resolved circuit + model config"),
    trained_model: Input(type="mlflow_model", description="The model to register"),
    verdict: Input(type="uri_folder", description="The evaluate_model verdict"),
    data_asset_name: str,
    data_asset_version: str,
    component_version: str,
    registration: Output(type="uri_folder", description="registration.json: model name, version, tags"),
    build_id: str = "local",
    git_sha: str = "unknown",
):
    """Register ``{PLANT}_{CIRCUIT}_model`` (next version) tagged with lineage and validation."""
    from pathlib import Path

    from sensor_pipelines.core.config.files import read_circuit_run_config
    from sensor_pipelines.core.model_registry import register_circuit_model

    register_circuit_model(read_circuit_run_config(circuit_config), model_dir=Path(trained_model),
                           verdict_dir=Path(verdict), registration_dir=Path(registration),
                           data_asset_name=data_asset_name, data_asset_version=data_asset_version,
                           component_version=component_version, build_id=build_id, git_sha=git_sha)
