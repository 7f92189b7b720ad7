"""The release on Azure ML, offline: the exact entities handed to (fake) workspace and registry clients.

Every endpoint, deployment, component and schedule is converted with azure-ai-ml's own
``_to_rest_object`` by the fake (the body the service would get), so a field it rejects fails here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from azure.ai.ml.constants import AssetTypes
from azure.ai.ml.entities import Model

from sensor_pipelines.backends.azure.registry import AzureRegistry
from sensor_pipelines.backends.azure.workspace import AzureWorkspace
from sensor_pipelines.cli.compose import load_run_config
from sensor_pipelines.core import runtime_env
from sensor_pipelines.core.config.schema import AzureSettings
from sensor_pipelines.core.errors import AssetConflictError, UserError
from sensor_pipelines.release.deployment import deploy_circuit, rollback_circuit
from sensor_pipelines.release.names import deployment_name
from sensor_pipelines.release.promotion import promote_circuit
from sensor_pipelines.release.schedule import schedule_daily_scoring
from sensor_pipelines.release.scoring import deployment_job, score_circuit
from tests.fakes.azure_ml import FakeMLClient, wire_body, with_release_operations
from tests.component_versions import VERSION

REPO = Path(__file__).resolve().parents[2]
REGISTRY = "sensors-registry"
MODEL = "PLANT1_CIRC1_model"
HASH = "ab" * 16
SCORING = VERSION["batch_score"]  # validate_predictions has the same
V3 = deployment_name("3", SCORING)  # model version 3 with these components


def _config(env: str):
    config = load_run_config("PLANT1_CIRC1", env, ["model=lstm_smoke"], config_dir=REPO / "conf")
    azure = AzureSettings(subscription_id="00000000-0000-0000-0000-000000000000", resource_group="rg-sensors",
                          workspace_name=f"mlw-sensors-{env}", compute="cpu-cluster", registry_name=REGISTRY)
    return dataclasses.replace(config, env=dataclasses.replace(config.env, azure=azure, build_id="321"))


@pytest.fixture
def setup(tmp_path):
    clients = {env: with_release_operations(FakeMLClient(tmp_path / env, workspace_name=f"mlw-sensors-{env}"))
               for env in ("dev", "test", "prod")}
    spaces = {env: AzureWorkspace(_config(env).env, str(REPO / "conf/env" / f"{env}.yaml"), ml_client=client,
                                  runs_dir=tmp_path / env / "runs") for env, client in clients.items()}
    registry_client = FakeMLClient(tmp_path / "registry", workspace_name=REGISTRY)
    registry = AzureRegistry(_config("dev").env, str(REPO / "conf/env/dev.yaml"), registry_client=registry_client)
    clients["dev"].models.create_or_update(Model(
        name=MODEL, version="3", type=AssetTypes.MLFLOW_MODEL, path="azureml://jobs/train-x/outputs/trained_model",
        tags={"validated": "true", "model_hash": HASH, "cutoff_date": "2025-12-09", "build_id": "300"}))
    return clients, spaces, registry, registry_client


def test_promote_pins_environment_components_and_model_in_the_registry(setup):
    clients, spaces, registry, reg = setup
    result = promote_circuit(_config("dev"), spaces["dev"], registry, build_id="321")
    env_version = runtime_env.environment_version()
    assert [(c.name, str(c.version)) for c in reg.environments.created] == [(runtime_env.ENVIRONMENT_NAME, env_version)]
    components = reg.components.created
    assert [(c.name, str(c.version)) for c in components] == [(n, VERSION[n]) for n in ("batch_score", "validate_predictions")]
    for component in components:  # the long form inside a registry: the short azureml:name:version fails there
        assert component.environment == (f"azureml://registries/{REGISTRY}/environments/"
                                         f"{runtime_env.ENVIRONMENT_NAME}/versions/{env_version}")
        assert component.tags["fingerprint_code"]
        body = wire_body(component._to_rest_object())
        assert body["properties"]["componentSpec"]["name"] == component.name
    (model,) = reg.models.created
    assert (model.name, model.version, model.type) == (MODEL, "3", "mlflow_model")
    assert model.path == ("azureml://subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-sensors/"
                          f"workspaces/mlw-sensors-dev/models/{MODEL}/versions/3")
    assert model.tags["source_version"] == "3" and model.tags["model_hash"] == HASH
    assert model.tags["scoring_components"] == f"batch_score:{VERSION['batch_score']},validate_predictions:{VERSION['validate_predictions']}"
    assert wire_body(model._to_rest_object())["properties"]["modelType"] == "mlflow_model"
    assert result.model.uri == f"azureml://registries/{REGISTRY}/models/{MODEL}/versions/3"

    # again: read first, nothing created; other content under the same version: refused, nothing created
    promote_circuit(_config("dev"), spaces["dev"], registry)
    assert len(reg.models.created) == 1 and len(reg.components.created) == 2
    changed = clients["dev"].models.items[(MODEL, "3")]
    changed.tags["model_hash"] = "cd" * 16
    with pytest.raises(AssetConflictError, match="already in the registry .* with other content"):
        promote_circuit(_config("dev"), spaces["dev"], registry)
    assert len(reg.models.created) == 1


def test_registry_needs_its_name(setup):
    _, spaces, _, _ = setup
    env = dataclasses.replace(_config("dev").env, azure=AzureSettings(workspace_name="w"))
    with pytest.raises(UserError, match="AZUREML_REGISTRY"):
        promote_circuit(_config("dev"), spaces["dev"], AzureRegistry(env, str(REPO / "conf/env/dev.yaml")))


def test_deploy_score_approve_prod_schedule_and_rollback(setup):
    clients, spaces, registry, reg = setup
    promote_circuit(_config("dev"), spaces["dev"], registry, build_id="321")

    outcome = deploy_circuit(_config("test"), spaces["test"], registry, deployment_job, build_id="321")
    test = clients["test"]
    assert outcome.endpoint.name == "be-plant1-circ1-test" and outcome.deployment == V3
    (endpoint_body, default_body) = test.batch_endpoints.sent
    assert endpoint_body["properties"]["authMode"] == "aadToken"
    assert default_body["properties"]["defaults"]["deploymentName"] == V3
    assert test.batch_endpoints.get("be-plant1-circ1-test").defaults.deployment_name == V3

    (component,) = test.components.created  # the pinned pipeline component of the deployment
    assert (component.name, component.version) == ("batch_scoring_plant1_circ1", f"3-{SCORING}")
    spec = wire_body(component._to_rest_object())["properties"]["componentSpec"]
    assert list(spec["inputs"]) == ["scoring_data"]
    assert spec["jobs"]["score"]["componentId"] == f"azureml://registries/{REGISTRY}/components/batch_score/versions/{SCORING}"
    assert spec["jobs"]["validate"]["componentId"] == (f"azureml://registries/{REGISTRY}/components/"
                                                       f"validate_predictions/versions/{SCORING}")
    assert spec["jobs"]["score"]["inputs"]["model"] == {
        "uri": f"azureml://registries/{REGISTRY}/models/{MODEL}/versions/3", "job_input_type": "mlflow_model"}
    assert spec["jobs"]["validate"]["inputs"]["max_value"]["value"] == "500.0"

    (deployment_body,) = test.batch_deployments.sent
    properties = deployment_body["properties"]
    assert properties["deploymentConfiguration"]["deploymentConfigurationType"] == "PipelineComponent"
    assert properties["deploymentConfiguration"]["componentId"]["assetId"] == f"azureml:batch_scoring_plant1_circ1:3-{SCORING}"
    assert properties["deploymentConfiguration"]["settings"] == {"default_compute": "cpu-cluster",
                                                                 "continue_on_step_failure": False}
    tags = test.batch_deployments.created[0].tags
    assert tags["cutoff_date"] == "2025-12-09" and tags["model_version"] == "3" and tags["component_version"] == SCORING
    model = reg.models.items[(MODEL, "3")]
    assert model.tags["alias_test"] == "true" and model.tags["deployed_test_at"]

    # prod is refused until the version was scored in test, and without an approval
    with pytest.raises(UserError, match="never deployed to test and scored there"):
        deploy_circuit(_config("prod"), spaces["prod"], registry, deployment_job, approved_by="ops")
    assert not clients["prod"].batch_endpoints.sent
    scored = score_circuit(_config("test"), spaces["test"], registry, "azureml:PLANT1_CIRC1:2025-12-09")
    assert scored.run.succeeded
    (invoked,) = test.batch_endpoints.invoked
    assert invoked["deployment"] == V3
    assert invoked["inputs"]["scoring_data"].path == "azureml:PLANT1_CIRC1:2025-12-09"
    assert reg.models.items[(MODEL, "3")].tags["scored_test_at"]
    with pytest.raises(UserError, match="needs an approval"):
        deploy_circuit(_config("prod"), spaces["prod"], registry, deployment_job)

    deploy_circuit(_config("prod"), spaces["prod"], registry, deployment_job, approved_by="ops", build_id="322")
    assert clients["prod"].batch_endpoints.sent[0]["properties"]["description"].endswith("(prod)")
    model = reg.models.items[(MODEL, "3")]
    assert model.tags["alias_prod"] == "true" and model.tags["approved_by"] == "ops"
    assert clients["prod"].batch_deployments.created[0].tags["approved_by"] == "ops"

    # the daily schedule: a pipeline of registered components only, pinned like the deployment
    (name,) = schedule_daily_scoring(_config("prod"), spaces["prod"], registry, "0 6 * * *")
    assert name == "score-daily-be-plant1-circ1-prod"
    body = clients["prod"].schedules.sent[name]["properties"]
    assert body["trigger"]["triggerType"] == "Cron" and body["trigger"]["expression"] == "0 6 * * *"
    job = body["action"]["jobDefinition"]
    assert job["inputs"]["scoring_data"]["uri"] == "azureml:PLANT1_CIRC1@latest"
    assert {n: j["componentId"] for n, j in job["jobs"].items()} == {
        "score": f"azureml://registries/{REGISTRY}/components/batch_score/versions/{SCORING}",
        "validate": f"azureml://registries/{REGISTRY}/components/validate_predictions/versions/{SCORING}"}
    assert job["settings"]["default_compute"] == "cpu-cluster" or job.get("computeId") == "cpu-cluster", job.keys()

    # rollback: a second deployment in test, then back to the first in one call
    clients["dev"].models.create_or_update(Model(
        name=MODEL, version="4", type=AssetTypes.MLFLOW_MODEL, path="azureml://jobs/train-y/outputs/trained_model",
        tags={"validated": "true", "model_hash": "ef" * 16, "cutoff_date": "2025-12-10"}))
    promote_circuit(_config("dev"), spaces["dev"], registry)
    assert deploy_circuit(_config("test"), spaces["test"], registry, deployment_job).deployment == deployment_name("4", SCORING)
    back = rollback_circuit(_config("test"), spaces["test"], registry)
    assert back.deployment == V3
    assert test.batch_endpoints.get("be-plant1-circ1-test").defaults.deployment_name == V3
    assert reg.models.items[(MODEL, "3")].tags["alias_test"] == "true"
    assert reg.models.items[(MODEL, "4")].tags["alias_test"] == "false"
