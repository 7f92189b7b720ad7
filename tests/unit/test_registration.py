"""Registering environment, components and data for real (not a dry run), on the local backend."""

from __future__ import annotations

import json

from sensor_pipelines.app.registration import register_assets
from sensor_pipelines.backends.local.workspace import LocalWorkspace
from sensor_pipelines.cli.compose import load_run_configs
from sensor_pipelines.pipelines import catalog


def test_register_creates_what_is_missing_once_and_records_versions(project, tmp_path, monkeypatch):
    record = tmp_path / "registered_versions.json"
    monkeypatch.setattr(catalog, "RECORD_FILE", record)
    configs = load_run_configs(["PLANT1_CIRC1", "PLANT2_CIRC1"], config_dir=project / "conf")
    workspace = LocalWorkspace(project / ".mlops" / "local")

    first = register_assets(configs, workspace)
    actions = {(s.kind, s.name): s.action for s in first.steps}
    assert actions[("environment", "sensor-forecasting-env")] == "created"
    assert {a for (kind, _), a in actions.items() if kind == "component"} == {"created"}
    assert actions[("data", "PLANT1_CIRC1")] == actions[("data", "PLANT2_CIRC1")] == "created"
    assert workspace.get_data_asset("PLANT1_CIRC1", "2025-12-09").rows > 10000
    assert set(json.loads(record.read_text())) == {c.name for c in catalog.components()}

    again = register_assets(configs, workspace)
    assert {s.action for s in again.steps} == {"none"}  # idempotent: nothing registered twice
    assert [s.state for s in register_assets(configs, workspace, dry_run=True).steps] == ["exists"] * len(again.steps)
