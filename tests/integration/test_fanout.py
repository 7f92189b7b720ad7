"""Several circuits trained in parallel on the local backend; one broken; retry; validation gate."""

from __future__ import annotations

import json

import pytest
import yaml

from sensor_pipelines.cli import main

pytestmark = pytest.mark.slow

TAGS = {"cutoff_date", "data_asset_name", "data_asset_version", "component_version", "build_id", "git_sha",
        "config_hash", "validated"}


def _client(project):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{project / '.mlops/local/mlflow.db'}"
    return MlflowClient(uri, uri)


def test_parallel_training_isolates_a_broken_circuit_then_retries_it(project, capsys, monkeypatch):
    monkeypatch.setenv("BUILD_BUILDID", "77")
    broken = project / "conf/circuit/PLANT2_CIRC1.yaml"
    original = broken.read_text()
    data = yaml.safe_load(original)
    data["data"]["target_column"] = "load_mw"  # not in the data: this circuit must fail alone
    broken.write_text(yaml.safe_dump(data))
    out = project / "build/train"
    args = ["train-changed", "--config-dir", str(project / "conf"), "--out-dir", str(out), "--max-parallel", "3"]

    assert main([*args, "--all", "model=lstm_smoke"]) == 1
    summary = capsys.readouterr().out
    assert "2 completed, 1 failed" in summary
    results = {r["circuit"]: r for r in json.loads((out / "train_results.json").read_text())}
    assert results["PLANT2_CIRC1"]["status"] == "failed"
    assert "load_mw" in results["PLANT2_CIRC1"]["error"]
    client = _client(project)
    for circuit in ("PLANT1_CIRC1", "PLANT1_CIRC2"):
        assert results[circuit]["status"] == "completed"
        version = client.get_model_version(f"{circuit}_model", str(results[circuit]["model_version"]))
        assert TAGS <= set(version.tags) and version.tags["build_id"] == "77"

    # the gate: fails closed for the broken circuit, tags the others, writes both reports
    assert main(["validate", "--config-dir", str(project / "conf"), "--results", str(out / "train_results.json"),
                 "--out-dir", str(project / "build"), "--strict"]) == 1
    report = json.loads((project / "build/validation_report.json").read_text())
    rows = {r["circuit"]: r for r in report["circuits"]}
    assert rows["PLANT2_CIRC1"]["validated"] is False
    assert "| PLANT2_CIRC1 |" in (project / "build/validation_report.md").read_text()
    for circuit in ("PLANT1_CIRC1", "PLANT1_CIRC2"):
        tags = client.get_model_version(f"{circuit}_model", str(results[circuit]["model_version"])).tags
        assert tags["validated"] == ("true" if rows[circuit]["validated"] else "false")
    capsys.readouterr()

    # fix the broken circuit; RETRY_FAILED trains only that one
    broken.write_text(original)
    assert main([*args, "--retry-failed", "model=lstm_smoke"]) == 0
    retried = json.loads((out / "train_results.json").read_text())
    assert [r["circuit"] for r in retried] == ["PLANT2_CIRC1"]
    assert retried[0]["status"] == "completed" and retried[0]["model_version"] == 1
