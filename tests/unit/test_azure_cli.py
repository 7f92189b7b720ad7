"""The Azure-facing verbs offline: dry-run plan without credentials, clear errors, pipeline YAML."""

from __future__ import annotations

import pytest
import yaml
from azure.ai.ml import load_job

from sensor_pipelines.cli import main
from sensor_pipelines.pipelines.catalog import components

AZURE_VARS = ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_DEV", "AZUREML_COMPUTE")


@pytest.fixture
def no_azure(monkeypatch):
    for name in AZURE_VARS:
        monkeypatch.delenv(name, raising=False)


def test_dry_run_register_prints_the_plan_without_credentials(project, no_azure, capsys):
    assert main(["register", "--env", "dev", "--dry-run", "--config-dir", str(project / "conf")]) == 0
    out = capsys.readouterr().out
    assert "dry run: nothing changed" in out
    for component in components():
        assert f"{component.name}:{component.version}" in out
    assert "PLANT1_CIRC1:2025-12-09" in out and "PLANT2_CIRC1:2025-12-07" in out
    assert f"{1 + len(components()) + 3} to check" in out  # environment, components, 3 data assets
    assert not (project / ".mlops").exists() and not (project / "data").exists()


def test_register_without_settings_is_one_clear_error(project, no_azure, capsys):
    assert main(["register", "--env", "dev", "--config-dir", str(project / "conf")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "conf/env/dev.yaml" in err and "AZURE_SUBSCRIPTION_ID" in err and "AZUREML_WORKSPACE_DEV" in err


def test_train_on_azure_without_settings_fails_before_any_work(project, no_azure, capsys):
    result = project / "build/results/PLANT1_CIRC1.json"
    assert main(["train", "--circuit", "PLANT1_CIRC1", "--env", "dev", "--config-dir", str(project / "conf"),
                 "--result-file", str(result)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "AZURE_SUBSCRIPTION_ID" in err and "AZUREML_WORKSPACE_DEV" in err
    assert not (project / "data").exists()
    saved = yaml.safe_load(result.read_text())  # CI's matrix job still leaves a result for the gate
    assert saved["circuit"] == "PLANT1_CIRC1" and saved["status"] == "failed" and "AZURE_SUBSCRIPTION_ID" in saved["error"]


def test_train_changed_on_azure_without_settings_is_one_error_before_the_fan_out(project, no_azure, capsys):
    out = project / "build/train"
    assert main(["train-changed", "--env", "dev", "--circuits", "PLANT1_CIRC1,PLANT1_CIRC2", "--config-dir",
                 str(project / "conf"), "--out-dir", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "AZURE_SUBSCRIPTION_ID" in err
    assert not out.exists()  # no circuit was started


def test_pipeline_yaml_rejected_by_the_sdk_is_one_line_and_leaves_no_file(project, no_azure, capsys, monkeypatch):
    from azure.ai.ml.exceptions import ValidationException

    def reject(source):
        raise ValidationException(message="Compute 'x' is not valid\nmore detail", no_personal_data_message="bad")

    monkeypatch.setattr("azure.ai.ml.load_job", reject)
    out = project / "build/pipelines"
    assert main(["pipeline-yaml", "--circuit", "PLANT1_CIRC1", "--env", "dev", "--config-dir", str(project / "conf"),
                 "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: pipeline YAML for PLANT1_CIRC1 rejected by azure-ai-ml: Compute 'x' is not valid"
    assert not list((out / "PLANT1_CIRC1").glob("*.yaml"))


def test_pipeline_yaml_is_what_az_ml_accepts(project, no_azure, capsys, monkeypatch):
    monkeypatch.setenv("AZUREML_COMPUTE", "gpu-cluster")
    out = project / "build/pipelines"
    assert main(["pipeline-yaml", "--circuit", "PLANT1_CIRC1", "--env", "dev", "--config-dir", str(project / "conf"),
                 "--output", str(out)]) == 0
    path = out / "PLANT1_CIRC1" / "pipeline.yaml"
    job = load_job(source=path)
    assert job.type == "pipeline"
    assert job.experiment_name == "sensor-forecasting-dev"
    assert job.tags["cutoff_date"] == "2025-12-09"
    assert job.inputs["training_data"].path.endswith("PLANT1_CIRC1:2025-12-09")
    assert raw_path_of(path) == "azureml:PLANT1_CIRC1:2025-12-09"
    raw = yaml.safe_load(path.read_text())
    assert raw["settings"]["default_compute"] == "azureml:gpu-cluster"
    assert raw["inputs"]["circuit_config"]["path"] == "./circuit_config.json"
    assert (path.parent / "circuit_config.json").is_file()
    versions = {c.name: c.version for c in components()}
    assert {n: j["component"] for n, j in raw["jobs"].items()} == {
        "train": f"azureml:train_lstm_model:{versions['train_lstm_model']}",
        "evaluate": f"azureml:evaluate_model:{versions['evaluate_model']}",
        "register": f"azureml:register_model:{versions['register_model']}",
    }
    assert raw["jobs"]["evaluate"]["inputs"]["trained_model"]["path"] == "${{parent.jobs.train.outputs.trained_model}}"


def raw_path_of(path) -> str:
    return yaml.safe_load(path.read_text())["inputs"]["training_data"]["path"]
