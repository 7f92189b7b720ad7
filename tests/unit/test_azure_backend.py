"""The Azure ML backend, offline: the exact entities and job handed to a (fake) MLClient."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from azure.ai.ml import Input
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

from sensor_pipelines.backends.azure.settings import env_variables
from sensor_pipelines.backends.azure.workspace import AzureWorkspace
from sensor_pipelines.backends.base import ModelVersion
from sensor_pipelines.core.config.schema import AzureSettings, EnvConfig
from sensor_pipelines.core.data.mltable import read_mltable
from sensor_pipelines.core.data.snapshot import content_hash
from sensor_pipelines.core.errors import AssetConflictError, UserError
from tests.component_versions import VERSION
from tests.fakes.azure_ml import FakeMLClient

REPO = Path(__file__).resolve().parents[2]
DEV_FILE = str(REPO / "conf" / "env" / "dev.yaml")
ASSET, CUTOFF = "PLANT1_CIRC1", "2025-12-09"
TRAINING = ("train_lstm_model", "evaluate_model", "register_model")


def _env(**azure) -> EnvConfig:
    settings = {"subscription_id": "00000000-0000-0000-0000-000000000000", "resource_group": "rg-sensors",
                "workspace_name": "mlw-sensors-dev", "compute": "cpu-cluster", **azure}
    return EnvConfig(name="dev", backend="azure", experiment_name="sensor-forecasting-dev",
                     azure=AzureSettings(**settings))


def _frame(value: float = 1.0) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.date_range("2025-12-01", periods=4, freq="h"),
                         "load_kw": [value, 2.0, 3.0, 4.0]})


@pytest.fixture
def fake(tmp_path) -> FakeMLClient:
    return FakeMLClient(tmp_path / "azure")


@pytest.fixture
def ws(fake, tmp_path) -> AzureWorkspace:
    return AzureWorkspace(_env(), DEV_FILE, ml_client=fake, runs_dir=tmp_path / "runs")


def _training_components():
    from components_py.training.evaluate_model import evaluate_model
    from components_py.training.register_model import register_model
    from components_py.training.train_lstm_model import train_lstm_model

    return [train_lstm_model.component, evaluate_model.component, register_model.component]


def _register_all(ws: AzureWorkspace) -> None:
    ws.ensure_environment()
    for component in _training_components():
        ws.ensure_component(component)


def _training_job(ws: AzureWorkspace, tmp_path: Path):
    from sensor_pipelines.pipelines.training import single_circuit_training

    config_file = tmp_path / "circuit_config.json"
    config_file.write_text("{}")
    return single_circuit_training(
        circuit_config=Input(type="uri_file", path=str(config_file)),
        training_data=ws.data_input(ASSET, CUTOFF),
        data_asset_name=ASSET, data_asset_version=CUTOFF, build_id="123", git_sha="abc",
    )


# -- settings and errors ---------------------------------------------------------------------------


def test_env_variables_are_read_from_the_env_file():
    names = env_variables(REPO / "conf" / "env" / "test.yaml")
    assert names == {"subscription_id": "AZURE_SUBSCRIPTION_ID", "resource_group": "AZURE_RESOURCE_GROUP",
                     "workspace_name": "AZUREML_WORKSPACE_TEST",
                     "compute": "AZUREML_COMPUTE", "registry_name": "AZUREML_REGISTRY"}


def test_missing_settings_name_the_env_file_and_variable_before_any_call(fake, tmp_path):
    ws = AzureWorkspace(_env(subscription_id=None), DEV_FILE, ml_client=fake, runs_dir=tmp_path)
    with pytest.raises(UserError) as error:
        ws.register_data_asset(ASSET, CUTOFF, _frame(), {})
    message = str(error.value)
    assert "\n" not in message
    assert "conf/env/dev.yaml" in message and "azure.subscription_id" in message and "AZURE_SUBSCRIPTION_ID" in message
    assert fake.calls == []


def test_missing_compute_blocks_a_run_before_it_is_built(fake, tmp_path):
    ws = AzureWorkspace(_env(compute=None), DEV_FILE, ml_client=fake, runs_dir=tmp_path)
    with pytest.raises(UserError, match="azure.compute.*AZUREML_COMPUTE"):
        ws.run_pipeline(object(), run_id="train-PLANT1-CIRC1-1-x", tags={})
    assert fake.calls == []


def test_hydra_dev_env_without_variables_names_them(project, monkeypatch):
    from sensor_pipelines.cli.compose import load_run_config

    for name in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_DEV"):
        monkeypatch.delenv(name, raising=False)
    config = load_run_config(ASSET, "dev", config_dir=project / "conf")
    ws = AzureWorkspace(config.env, "conf/env/dev.yaml", runs_dir=project / "runs")
    with pytest.raises(UserError, match=r"\(conf/env/dev.yaml\).*AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, "
                                        r"AZUREML_WORKSPACE_DEV"):
        ws.get_data_asset(ASSET, CUTOFF)


def test_real_client_is_built_lazily_from_the_settings(tmp_path):
    ws = AzureWorkspace(_env(), DEV_FILE, runs_dir=tmp_path)
    client = ws.ml_client  # no network: MLClient only talks to Azure on the first operation
    assert (client.subscription_id, client.resource_group_name, client.workspace_name) == (
        "00000000-0000-0000-0000-000000000000", "rg-sensors", "mlw-sensors-dev")
    assert ws.ml_client is client


def test_sdk_error_is_one_line_naming_the_operation(ws, fake):
    fake.failures["data.create_or_update"] = HttpResponseError(
        "(QuotaExceeded) The storage account is full\nCode: QuotaExceeded\nMessage: The storage account is full")
    with pytest.raises(UserError) as error:
        ws.register_data_asset(ASSET, CUTOFF, _frame(), {})
    assert str(error.value) == (f"Azure ML data.create_or_update {ASSET}:{CUTOFF} failed: "
                                "(QuotaExceeded) The storage account is full")


def test_credential_error_says_how_to_sign_in(ws, fake):
    fake.failures["data.get"] = ClientAuthenticationError(
        "DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
        "Attempted credentials:\n\t...")
    with pytest.raises(UserError) as error:
        ws.get_data_asset(ASSET, CUTOFF)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"Azure ML data.get {ASSET}:{CUTOFF} failed: DefaultAzureCredential failed")
    assert "az login" in message and "AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET" in message


# -- data assets -----------------------------------------------------------------------------------


def test_register_data_asset_creates_one_immutable_mltable(ws, fake):
    meta, created = ws.register_data_asset(ASSET, CUTOFF, _frame(), {"rows_out": 4})
    assert created
    [data] = fake.data.created
    assert (data.name, data.version, data.type) == (ASSET, CUTOFF, "mltable")
    assert data.tags["content_hash"] == content_hash(_frame())
    assert data.tags["cutoff_date"] == CUTOFF and data.tags["rows"] == "4"
    uploaded = fake.data.uploads[(ASSET, CUTOFF)]
    assert sorted(p.name for p in uploaded.iterdir()) == ["MLTable", "data.parquet"]
    assert read_mltable(uploaded).equals(_frame())
    assert not Path(data.path).exists()  # the temp folder is gone once uploaded
    assert meta.rows == 4 and meta.quality == {"rows_out": 4} and meta.path.startswith("azureml://")

    again, created = ws.register_data_asset(ASSET, CUTOFF, _frame(), {"rows_out": 4})
    assert not created and again.content_hash == meta.content_hash
    assert len(fake.data.created) == 1

    with pytest.raises(AssetConflictError, match=f"{ASSET}:{CUTOFF} already exists in Azure ML with different"):
        ws.register_data_asset(ASSET, CUTOFF, _frame(9.0), {})
    assert len(fake.data.created) == 1
    assert ws.list_data_asset_versions(ASSET) == [CUTOFF]
    assert ws.list_data_asset_versions("PLANT9_CIRC9") == []


def test_concurrent_registration_of_the_same_content_is_a_no_op(ws, fake):
    create = fake.data.create_or_update

    def someone_else_first(entity, **kwargs):
        create(entity)  # another build registered it between our check and our create
        return create(entity)  # ours is then rejected: versions are immutable

    fake.data.create_or_update = someone_else_first
    meta, created = ws.register_data_asset(ASSET, CUTOFF, _frame(), {})
    assert not created and meta.content_hash == content_hash(_frame())


def test_data_input_references_the_registered_asset(ws):
    with pytest.raises(UserError, match=f"{ASSET}:{CUTOFF} is not registered"):
        ws.data_input(ASSET, CUTOFF)
    ws.register_data_asset(ASSET, CUTOFF, _frame(), {})
    data = ws.data_input(ASSET, CUTOFF)
    assert (data.type, data.path) == ("mltable", f"azureml:{ASSET}:{CUTOFF}")


# -- environment and components --------------------------------------------------------------------


def test_environment_registered_once_and_again_when_its_spec_changes(ws, fake, tmp_path, monkeypatch):
    from sensor_pipelines.core import runtime_env as spec

    env, created = ws.ensure_environment()
    assert created and (env.kind, env.name, env.version) == ("environment", spec.ENVIRONMENT_NAME,
                                                             spec.environment_version())
    entity = fake.environments.created[-1]
    assert (entity.name, entity.version, entity.image) == (env.name, env.version, spec.BASE_IMAGE)
    assert ":latest" not in entity.image
    assert entity.conda_file["dependencies"][0] == "python=3.11"
    _, created = ws.ensure_environment()
    assert not created and len(fake.environments.created) == 1

    changed = tmp_path / "conda.yaml"
    changed.write_text(spec.CONDA_FILE.read_text().replace("pandas==", "pandas>="))
    monkeypatch.setattr(spec, "CONDA_FILE", changed)
    env2, created = ws.ensure_environment()
    assert created and env2.version != env.version
    assert env2.version == spec.environment_version(changed)
    assert fake.environments.created[-1].conda_file["dependencies"][-1]["pip"] != entity.conda_file["dependencies"][-1]["pip"]
    assert [len(v) for v in fake.created().values()] == [0, 2, 0, 0]  # only the environment changed


def test_components_registered_once_at_their_pinned_versions(ws, fake):
    components = _training_components()
    fingerprint = {"version": VERSION["train_lstm_model"], "interface": "i1", "code": "c1"}
    for component in components:
        registered, created = ws.ensure_component(component, fingerprint)
        assert created and (registered.name, registered.version) == (component.name, component.version)
    assert [(c.name, c.version) for c in fake.components.created] == [(n, VERSION[n]) for n in TRAINING]
    assert all(c.tags["fingerprint_code"] == "c1" for c in fake.components.created)
    assert "fingerprint_code" not in (components[0].tags or {})  # the shared component is untouched
    for component in components:
        assert ws.ensure_component(component, fingerprint)[1] is False
    assert len(fake.components.created) == 3

    with pytest.raises(AssetConflictError, match=f"train_lstm_model:{VERSION['train_lstm_model']} .* other code; bump its version"):
        ws.ensure_component(components[0], {**fingerprint, "code": "c2"})
    fake.components.items[("evaluate_model", VERSION["evaluate_model"])].environment = (
        "azureml:/subscriptions/s/resourceGroups/r/providers/Microsoft.MachineLearningServices/workspaces/w/"
        "environments/sensor-forecasting-env/versions/000000000000")
    with pytest.raises(AssetConflictError, match="environment sensor-forecasting-env:000000000000"):
        ws.ensure_component(components[1])


# -- pipeline jobs ---------------------------------------------------------------------------------


def test_run_pipeline_submits_the_job_bound_to_registered_components(ws, fake, tmp_path):
    ws.register_data_asset(ASSET, CUTOFF, _frame(), {})
    _register_all(ws)
    job = _training_job(ws, tmp_path)
    lines: list[str] = []
    run = ws.run_pipeline(job, run_id="train-PLANT1-CIRC1-123-20251210T101500000",
                          tags={"circuit": ASSET, "cutoff_date": CUTOFF, "build_id": "123"}, force=True,
                          echo=lines.append)

    [submitted] = fake.jobs.submitted
    assert submitted.name == "train-PLANT1-CIRC1-123-20251210T101500000"
    assert submitted.experiment_name == "sensor-forecasting-dev"
    assert submitted.settings.default_compute == "cpu-cluster" and submitted.settings.force_rerun is True
    assert submitted.tags["cutoff_date"] == CUTOFF

    body = fake.jobs.sent[submitted.name]  # the body azure-ai-ml would send (wire names)
    props = body["properties"]
    assert props["experimentName"] == "sensor-forecasting-dev" and props["tags"]["cutoff_date"] == CUTOFF
    assert props["settings"]["default_compute"] == "cpu-cluster" and props["settings"]["force_rerun"] is True
    assert props["inputs"]["training_data"] == {"uri": f"azureml:{ASSET}:{CUTOFF}", "jobInputType": "mltable"}
    assert props["inputs"]["data_asset_version"]["value"] == CUTOFF
    assert {name: node["componentId"] for name, node in props["jobs"].items()} == {
        node: f"azureml:{name}:{VERSION[name]}" for node, name in (("train", "train_lstm_model"),
                                                                   ("evaluate", "evaluate_model"),
                                                                   ("register", "register_model"))}
    assert submitted._to_dict()["jobs"]["train"]["component"] == f"azureml:train_lstm_model:{VERSION['train_lstm_model']}"

    assert fake.jobs.streamed == [submitted.name]
    assert run.status == "completed" and run.succeeded and not run.reused_all and run.failed_node is None
    assert run.run_dir == run.studio_url and run.studio_url.startswith("https://ml.azure.com/runs/train-PLANT1")
    assert [n.name for n in run.nodes] == ["train", "evaluate", "register"]
    assert run.node("train").component == "train_lstm_model" and run.node("train").status == "completed"
    assert set(run.node("train").outputs) == {"trained_model", "metrics", "training_artifacts"}
    assert any("Submitted pipeline job train-PLANT1-CIRC1-123" in line for line in lines)


class _NoNetwork:
    """A credential that fails the test if azure-ai-ml asks for a token (i.e. would call Azure)."""

    def get_token(self, *args, **kwargs):
        raise AssertionError("azure-ai-ml tried to call Azure")

    get_token_info = get_token


def test_azure_ai_ml_resolves_the_bound_job_to_registered_versions(ws, fake):
    """The SDK's own pre-submit resolution (offline) turns our bindings into the ARM ids it sends."""
    from azure.ai.ml import MLClient

    from sensor_pipelines.pipelines.training import single_circuit_training
    from tests.fakes.azure_ml import wire_body

    ws.register_data_asset(ASSET, CUTOFF, _frame(), {})
    _register_all(ws)
    job = single_circuit_training(
        circuit_config=Input(type="uri_file", path="azureml://datastores/workspaceblobstore/paths/c.json"),
        training_data=ws.data_input(ASSET, CUTOFF), data_asset_name=ASSET, data_asset_version=CUTOFF)
    ws._bind_registered_components(job)
    job.settings.default_compute = "cpu-cluster"
    client = MLClient(_NoNetwork(), "sub-id", "rg-sensors", "mlw-sensors-dev")
    client.components._client_key = "workspace/offline"  # else it gets the workspace id for its cache key
    client.jobs._resolve_arm_id_or_upload_dependencies(job)  # what jobs.create_or_update runs before sending

    props = wire_body(job._to_rest_object())["properties"]
    scope = "/subscriptions/sub-id/resourceGroups/rg-sensors/providers/Microsoft.MachineLearningServices/workspaces/" \
            "mlw-sensors-dev"
    assert props["jobs"]["train"]["componentId"] == f"{scope}/components/train_lstm_model/versions/{VERSION['train_lstm_model']}"
    assert props["jobs"]["register"]["componentId"] == f"{scope}/components/register_model/versions/{VERSION['register_model']}"
    assert props["inputs"]["training_data"]["uri"] == f"{scope}/data/{ASSET}/versions/{CUTOFF}"
    assert props["settings"]["default_compute"] == f"{scope}/computes/cpu-cluster"


def test_failed_job_is_a_failed_result_not_an_exception(ws, fake, tmp_path):
    ws.register_data_asset(ASSET, CUTOFF, _frame(), {})
    _register_all(ws)
    fake.jobs.final_status = "Failed"
    fake.jobs.node_status = {"train": "Failed", "evaluate": "Canceled", "register": "Canceled"}
    run = ws.run_pipeline(_training_job(ws, tmp_path), run_id="train-PLANT1-CIRC1-123-x", tags={})
    assert run.status == "failed" and not run.succeeded and run.azure_status == "Failed"
    assert run.failed_node.name == "train" and run.failed_node.log.endswith("train-PLANT1-CIRC1-123-x_train")


def test_unregistered_component_stops_the_run_before_submission(ws, fake, tmp_path):
    ws.register_data_asset(ASSET, CUTOFF, _frame(), {})
    ws.ensure_environment()
    with pytest.raises(UserError, match=rf"train_lstm_model:{VERSION['train_lstm_model']} is not registered .*`make register ENV=dev`"):
        ws.run_pipeline(_training_job(ws, tmp_path), run_id="train-PLANT1-CIRC1-123-x", tags={})
    assert fake.jobs.submitted == []


def test_invalid_job_name_is_refused(ws, fake):
    with pytest.raises(UserError, match="not a valid Azure ML job name"):
        ws.run_pipeline(object(), run_id="train PLANT1/CIRC1", tags={})
    assert fake.jobs.submitted == []


def test_node_outputs_and_gate_metrics_are_downloaded_from_the_job(ws, fake, tmp_path):
    ws.register_data_asset(ASSET, CUTOFF, _frame(), {})
    _register_all(ws)
    fake.jobs.output_files[("train-PLANT1-CIRC1-123-x", "verdict")] = {"verdict.json": '{"metrics": {"mae": 1.5}}'}
    run = ws.run_pipeline(_training_job(ws, tmp_path), run_id="train-PLANT1-CIRC1-123-x", tags={})
    folder = Path(run.node("evaluate").outputs["verdict"])
    assert folder == tmp_path / "runs" / "train-PLANT1-CIRC1-123-x" / "evaluate" / "outputs" / "verdict"
    assert json.loads((folder / "verdict.json").read_text()) == {"metrics": {"mae": 1.5}}
    downloads = [c for c in fake.calls if c[0] == "jobs.download"]
    assert downloads == [("jobs.download", "train-PLANT1-CIRC1-123-x", "verdict")]  # from the pipeline output

    again = AzureWorkspace(_env(), DEV_FILE, ml_client=fake, runs_dir=tmp_path / "runs")  # e.g. the gate, later
    assert again.pipeline_output_json("train-PLANT1-CIRC1-123-x", "evaluate", "verdict", "verdict.json") == {
        "metrics": {"mae": 1.5}}
    assert len([c for c in fake.calls if c[0] == "jobs.download"]) == 1  # already downloaded

    fake.jobs.output_files[("train-PLANT1-CIRC1-123-x_train", "training_artifacts")] = {"curve.txt": "x"}
    artifacts = Path(run.node("train").outputs["training_artifacts"])  # not a pipeline output: from the child job
    assert (artifacts / "curve.txt").read_text() == "x"
    with pytest.raises(UserError, match="output train.metrics has no files"):
        run.node("train").outputs["metrics"]


def test_tracking_uri_and_model_tags(ws, fake):
    assert ws.tracking_uri.startswith("azureml://") and ws.tracking_uri.endswith("/workspaces/mlw-sensors-dev")
    with pytest.raises(UserError, match="model PLANT1_CIRC1_model:1 is not registered"):
        ws.set_model_version_tags("PLANT1_CIRC1_model", "1", {"validated": "true"})
    from azure.ai.ml.entities import Model

    fake.models.create_or_update(Model(name="PLANT1_CIRC1_model", version="1", path="azureml://x", tags={"a": "b"}))
    ws.set_model_version_tags("PLANT1_CIRC1_model", "1", {"validated": "true", "build_id": "123"})
    assert fake.models.items[("PLANT1_CIRC1_model", "1")].tags == {"a": "b", "validated": "true", "build_id": "123"}


def test_latest_model_versions_for_the_plan(ws, fake):
    from azure.ai.ml.entities import Model

    for version, cutoff in (("1", "2025-11-09"), ("2", "2025-12-09")):
        fake.models.create_or_update(Model(name="PLANT1_CIRC1_model", version=version, path="azureml://x",
                                           tags={"cutoff_date": cutoff}))
    latest = ws.latest_model_versions()
    assert latest == {"PLANT1_CIRC1_model": ModelVersion("PLANT1_CIRC1_model", 2, {"cutoff_date": "2025-12-09"})}


def test_train_circuit_runs_unchanged_on_the_azure_backend(project, fake, monkeypatch):
    from sensor_pipelines.cli.compose import load_run_config
    from sensor_pipelines.app.training import train_circuit
    from sensor_pipelines.cli.training import format_training_summary

    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000000")
    monkeypatch.setenv("AZURE_RESOURCE_GROUP", "rg-sensors")
    monkeypatch.setenv("AZUREML_WORKSPACE_DEV", "mlw-sensors-dev")
    monkeypatch.setenv("BUILD_BUILDID", "123")
    config = load_run_config(ASSET, "dev", config_dir=project / "conf")
    ws = AzureWorkspace(config.env, str(project / "conf/env/dev.yaml"), ml_client=fake, runs_dir=project / "runs")
    _register_all(ws)
    metrics = {"model": {"mae": 1.0, "rmse": 1.5, "r2": 0.9}, "baseline": {"name": "seasonal", "mae": 2.0,
                                                                           "rmse": 2.5, "r2": 0.5}}
    verdict = {"passed": True, "checks": [{"metric": "mae", "value": 1.0, "op": "<", "limit": 3.5, "passed": True}]}
    registration = {"name": "PLANT1_CIRC1_model", "version": "1", "created": True}
    original = fake.jobs.create_or_update

    def submit(job, **kwargs):
        for output, filename, content in (("metrics", "metrics.json", metrics), ("verdict", "verdict.json", verdict),
                                          ("registration", "registration.json", registration)):
            fake.jobs.output_files[(job.name, output)] = {filename: json.dumps(content)}
        return original(job, **kwargs)

    fake.jobs.create_or_update = submit
    outcome = train_circuit(config, ws, echo=lambda _: None)

    assert outcome.data.created and fake.data.created[0].version == CUTOFF
    [job] = fake.jobs.submitted
    assert job.name.startswith("train-PLANT1-CIRC1-123-") and job.tags["cutoff_date"] == CUTOFF
    config_path = fake.jobs.sent[job.name]["properties"]["inputs"]["circuit_config"]["uri"]
    assert json.loads(Path(config_path).read_text())["circuit"]["cutoff_date"] == CUTOFF  # uploaded on submit
    assert outcome.metrics == metrics and outcome.verdict == verdict and outcome.registration == registration
    summary = format_training_summary(outcome)
    assert "model: PLANT1_CIRC1_model version 1 (registered)" in summary and "https://ml.azure.com/runs/" in summary


# -- live ------------------------------------------------------------------------------------------

LIVE_VARIABLES = ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_DEV")


@pytest.mark.azure_live
@pytest.mark.skipif(not all(os.environ.get(v) for v in LIVE_VARIABLES),
                    reason=f"needs a live Azure ML workspace: set {', '.join(LIVE_VARIABLES)}")
def test_live_training_job_in_the_dev_workspace(tmp_path):
    """Register everything and train PLANT1_CIRC1 on the dev workspace's compute (minutes, costs money)."""
    from sensor_pipelines.cli.compose import load_run_config
    from sensor_pipelines.pipelines.catalog import components, fingerprint
    from sensor_pipelines.app.training import train_circuit

    shutil.copytree(REPO / "conf", tmp_path / "conf")
    config = load_run_config(ASSET, "dev", ["model=lstm_smoke"], config_dir=tmp_path / "conf")
    ws = AzureWorkspace(config.env, str(tmp_path / "conf/env/dev.yaml"), runs_dir=tmp_path / "runs")
    ws.ensure_environment()
    for component in components():
        ws.ensure_component(component, fingerprint(component))
    outcome = train_circuit(config, ws)
    assert outcome.run.succeeded, outcome.run.run_dir
    assert outcome.metrics["model"]["mae"] > 0
