"""The fleet's small decisions: train or reuse, which circuits failed, results kept across a retry."""

from __future__ import annotations

import json
from pathlib import Path

from sensor_pipelines.backends.base import ModelVersion
from sensor_pipelines.cli.compose import load_run_config
from sensor_pipelines.core.config.files import config_hash
from sensor_pipelines.core.runtime_env import environment_version
from sensor_pipelines.fleet.plan import plan_circuit
from sensor_pipelines.fleet.results import RESULTS_FILE, failed_circuits, save_results

REPO = Path(__file__).resolve().parents[2]


def _tags(config, **changed) -> dict[str, str]:
    tags = {"config_hash": config_hash(config.circuit_run), "data_asset_version": config.circuit.cutoff_date,
            "component_version": "1.0.1", "environment_version": environment_version()}
    return {**tags, **changed}


def test_plan_trains_without_a_model_reuses_an_unchanged_one_and_names_what_changed():
    config = load_run_config("PLANT1_CIRC1", config_dir=REPO / "conf")
    assert (row := plan_circuit(config, None, "1.0.1")).action == "train" and row.why == "no model yet"

    same = plan_circuit(config, ModelVersion("PLANT1_CIRC1_model", 3, _tags(config)), "1.0.1")
    assert (same.action, same.model, same.changed) == ("reuse", "PLANT1_CIRC1_model v3", [])

    older = ModelVersion("PLANT1_CIRC1_model", 3, _tags(config, data_asset_version="2025-01-01", config_hash="x"))
    row = plan_circuit(config, older, "1.0.1")
    assert row.action == "train" and row.changed == ["config", "data asset version"]
    assert row.why == "changed: config, data asset version"
    assert plan_circuit(config, ModelVersion("m", 3, _tags(config)), "2.0.0").changed == ["component version"]


def test_failed_circuits_and_a_retry_keep_the_other_results(tmp_path):
    assert failed_circuits(tmp_path) == []  # no fan-out yet
    save_results(tmp_path, [{"circuit": "A_1", "status": "completed"}, {"circuit": "B_1", "status": "failed"},
                            {"circuit": "C_1", "status": "canceled"}])
    assert failed_circuits(tmp_path) == ["B_1", "C_1"]

    save_results(tmp_path, [{"circuit": "B_1", "status": "completed"}], keep_previous=True)
    saved = {r["circuit"]: r["status"] for r in json.loads((tmp_path / RESULTS_FILE).read_text())}
    assert saved == {"A_1": "completed", "B_1": "completed", "C_1": "canceled"}
    assert failed_circuits(tmp_path) == ["C_1"]

    save_results(tmp_path, [{"circuit": "C_1", "status": "completed"}])  # a new build replaces the file
    assert [r["circuit"] for r in json.loads((tmp_path / RESULTS_FILE).read_text())] == ["C_1"]
