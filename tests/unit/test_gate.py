"""The validation gate: reading training results, failing closed, reports that are whole."""

from __future__ import annotations

import json

import pytest

from sensor_pipelines.cli.compose import load_run_config
from sensor_pipelines.core.errors import UserError
from sensor_pipelines.fleet.gate import run_gate
from sensor_pipelines.fleet.results import read_results

from ..conftest import REPO

GOOD = {"model": {"mae": 1.0, "rmse": 1.5, "r2": 0.95}, "baseline": {"mae": 2.0}, "mae_ratio": 0.5}


class FakeWorkspace:
    """Verdict metrics per run id; tagging fails for the models in ``untaggable``."""

    def __init__(self, metrics: dict[str, dict], untaggable: tuple[str, ...] = ()):
        self.metrics, self.untaggable, self.tags = metrics, untaggable, {}

    def pipeline_output_json(self, run_id, node, port, filename):
        if run_id not in self.metrics:
            raise UserError(f"no pipeline run {run_id}")
        return {"metrics": self.metrics[run_id]}

    def set_model_version_tags(self, name, version, tags):
        if name in self.untaggable:
            raise UserError(f"model {name} version {version} not found")
        self.tags[(name, version)] = tags


def _result(circuit: str, status: str = "completed") -> dict:
    return {"circuit": circuit, "status": status, "run_id": f"run-{circuit}", "model_name": f"{circuit}_model",
            "model_version": 1}


def test_results_folder_reads_ci_artifacts_and_skips_other_json(tmp_path):
    (tmp_path / "result_PLANT1_CIRC1").mkdir()
    (tmp_path / "result_PLANT1_CIRC1/PLANT1_CIRC1.json").write_text(json.dumps(_result("PLANT1_CIRC1")))
    (tmp_path / "registered_versions.json").write_text(json.dumps({"train_lstm_model": {"version": "1.0.0"}}))
    (tmp_path / "s/.venv/lib").mkdir(parents=True)  # the checkout: deeper JSON is never read
    (tmp_path / "s/.venv/lib/x.json").write_text(json.dumps({"circuit": "NOT_A_RESULT"}))
    assert [r["circuit"] for r in read_results(tmp_path)] == ["PLANT1_CIRC1"]


def test_unreadable_results_are_one_clear_error(tmp_path):
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(UserError, match="broken.json: not JSON"):
        read_results(tmp_path)
    (tmp_path / "broken.json").write_text("{}")
    with pytest.raises(UserError, match="not a training results file"):
        read_results(tmp_path / "broken.json")
    with pytest.raises(UserError, match="no training results"):
        read_results(tmp_path / "missing.json")


def test_gate_fails_closed_and_still_writes_whole_reports(tmp_path):
    config = load_run_config("PLANT1_CIRC1", config_dir=REPO / "conf")
    results = [_result("PLANT1_CIRC1"), _result("PLANT1_CIRC2"), _result("PLANT2_CIRC1", status="failed")]
    configs = {r["circuit"]: config for r in results}
    workspace = FakeWorkspace({"run-PLANT1_CIRC1": GOOD, "run-PLANT1_CIRC2": GOOD},
                              untaggable=("PLANT1_CIRC2_model",))
    rows = {r["circuit"]: r for r in run_gate(results, configs, workspace, "b7", tmp_path)}

    assert rows["PLANT1_CIRC1"]["validated"] is True and "error" not in rows["PLANT1_CIRC1"]
    assert workspace.tags[("PLANT1_CIRC1_model", "1")] == {"validated": "true", "build_id": "b7"}
    assert rows["PLANT1_CIRC2"]["validated"] is False  # passed its checks, but its model could not be tagged
    assert rows["PLANT1_CIRC2"]["error"].startswith("tagging failed")
    assert rows["PLANT2_CIRC1"]["validated"] is False
    assert workspace.tags[("PLANT2_CIRC1_model", "1")]["validated"] == "false"
    report = json.loads((tmp_path / "validation_report.json").read_text())
    assert [r["validated"] for r in report["circuits"]] == [True, False, False]
    assert "1 of 3 circuits validated." in (tmp_path / "validation_report.md").read_text()
    assert not list(tmp_path.glob(".*.tmp"))
