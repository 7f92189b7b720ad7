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


def _most_at_once(results) -> int:
    """The largest number of circuit processes that were running at the same moment."""
    events = sorted([(r["started"], 1) for r in results] + [(r["ended"], -1) for r in results],
                    key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_parallel_training_isolates_a_broken_circuit_then_retries_it(project, capsys, monkeypatch):
    monkeypatch.setenv("BUILD_BUILDID", "77")
    broken = project / "conf/circuit/PLANT2_CIRC1.yaml"
    original = broken.read_text()
    data = yaml.safe_load(original)
    data["data"]["target_column"] = "load_mw"  # not in the data: this circuit must fail alone
    broken.write_text(yaml.safe_dump(data))
    out = project / "build/train"
    args = ["train-changed", "--config-dir", str(project / "conf"), "--out-dir", str(out), "--max-parallel", "2"]

    assert main([*args, "--all", "model=lstm_smoke"]) == 1
    summary = capsys.readouterr().out
    assert "2 completed, 1 failed" in summary
    results = {r["circuit"]: r for r in json.loads((out / "train_results.json").read_text())}
    assert _most_at_once(results.values()) == 2  # parallel, and never more than --max-parallel
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
        assert "error" not in rows[circuit], rows[circuit]  # metrics found, config found, tagged
        assert all(check["value"] == check["value"] for check in rows[circuit]["checks"])  # no NaN: real metrics
        assert rows[circuit]["validated"] == results[circuit]["validated"]  # local env: no threshold overrides
        tags = client.get_model_version(f"{circuit}_model", str(results[circuit]["model_version"])).tags
        assert tags["validated"] == ("true" if rows[circuit]["validated"] else "false")
    capsys.readouterr()

    # fix the broken circuit; RETRY_FAILED trains only that one
    broken.write_text(original)
    assert main([*args, "--retry-failed", "model=lstm_smoke"]) == 0
    summary = capsys.readouterr().out
    assert "1 completed, 0 failed" in summary and "PLANT1_CIRC1" not in summary  # only the failed one ran
    retried = {r["circuit"]: r for r in json.loads((out / "train_results.json").read_text())}
    assert retried["PLANT2_CIRC1"]["status"] == "completed" and retried["PLANT2_CIRC1"]["model_version"] == 1
    # the others' results are kept, so the gate after a retry still sees the whole build
    assert {c: r["status"] for c, r in retried.items()} == dict.fromkeys(results, "completed")
    assert retried["PLANT1_CIRC1"] == results["PLANT1_CIRC1"]
