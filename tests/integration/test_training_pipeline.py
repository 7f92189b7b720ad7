"""The whole single-circuit pipeline on the local backend, with the smoke model.

Real Keras training, the real MLflow SQLite store and registry, real MLTable files.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sensor_pipelines.cli import main
from sensor_pipelines.core.data.mltable import read_mltable
from sensor_pipelines.core.fileio import read_json
from tests.component_versions import VERSION

pytestmark = pytest.mark.slow

TAGS = {"cutoff_date", "data_asset_name", "data_asset_version", "component_version", "build_id", "git_sha",
        "config_hash", "validated"}


def _train(project: Path, *extra: str) -> int:
    return main(["train", "--circuit", "PLANT1_CIRC1", "--config-dir", str(project / "conf"), "model=lstm_smoke", *extra])


def _client(project: Path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{project / '.mlops/local/mlflow.db'}"
    return MlflowClient(uri, uri)


def _last_run(project: Path) -> dict:
    runs = sorted((project / ".mlops/local/runs").iterdir())
    return read_json(runs[-1] / "run.json")


def _node(run: dict, name: str) -> dict:
    return next(n for n in run["nodes"] if n["name"] == name)


def test_train_register_reuse_and_retrain(project, capsys, monkeypatch):
    monkeypatch.setenv("BUILD_BUILDID", "4711")
    assert _train(project) == 0
    out = capsys.readouterr().out
    assert "PLANT1_CIRC1_model version 1 (registered)" in out
    assert "test MAE" in out and "verdict:" in out

    # the data asset: an MLTable named PLANT1_CIRC1, version = cutoff date, readable by pandas
    asset = project / ".mlops/local/data/PLANT1_CIRC1/2025-12-09"
    assert (asset / "MLTable").is_file()
    frame = read_mltable(asset)
    assert list(frame.columns) == ["timestamp", "load_kw", "ambient_temp_c", "voltage_v", "humidity_pct"]
    assert str(frame["timestamp"].max()) <= "2025-12-09 23:00:00"
    assert frame["timestamp"].is_monotonic_increasing and frame["timestamp"].is_unique

    # the registry: version 1 with every lineage tag
    client = _client(project)
    version = client.get_model_version("PLANT1_CIRC1_model", "1")
    assert TAGS <= set(version.tags)
    assert version.tags["cutoff_date"] == "2025-12-09"
    assert version.tags["data_asset_name"] == "PLANT1_CIRC1"
    assert version.tags["data_asset_version"] == "2025-12-09"
    assert version.tags["component_version"] == VERSION["train_lstm_model"]
    assert version.tags["build_id"] == "4711"
    assert version.tags["validated"] in ("true", "false")
    run = _last_run(project)
    verdict = read_json(Path(_node(run, "evaluate")["outputs"]["verdict"]) / "verdict.json")
    assert version.tags["validated"] == ("true" if verdict["passed"] else "false")
    metrics = read_json(Path(_node(run, "train")["outputs"]["metrics"]) / "metrics.json")
    assert metrics["model"]["mae"] > 0 and metrics["baseline"]["mae"] > 0

    # the registered model scores a history frame end to end
    import mlflow

    model = mlflow.pyfunc.load_model(version.source)
    forecast = model.predict(frame.tail(24 * 15))  # lookback and the two-week target lag
    assert len(forecast) == 24 and forecast["forecast"].notna().all()

    # nothing changed: every node reused, nothing new registered
    assert _train(project) == 0
    out = capsys.readouterr().out
    assert "all nodes reused" in out
    assert [n["status"] for n in _last_run(project)["nodes"]] == ["reused"] * 3
    assert len(client.search_model_versions("name='PLANT1_CIRC1_model'")) == 1

    # a model setting changed in the circuit's config: retrain, version 2
    path = project / "conf/circuit/PLANT1_CIRC1.yaml"
    data = yaml.safe_load(path.read_text())
    data["model_overrides"] = {"lstm_units": [6]}
    path.write_text(yaml.safe_dump(data))
    assert _train(project) == 0
    assert "PLANT1_CIRC1_model version 2 (registered)" in capsys.readouterr().out
    assert [n["status"] for n in _last_run(project)["nodes"]] == ["completed"] * 3


def test_failing_node_reports_name_and_error(project, capsys):
    """Everything knowable is checked before a run; what is left is a node failing, e.g. on a damaged asset."""
    assert main(["register-data", "--circuit", "PLANT1_CIRC1", "--config-dir", str(project / "conf")]) == 0
    (project / ".mlops/local/data/PLANT1_CIRC1/2025-12-09/data.parquet").write_bytes(b"damaged")
    assert _train(project) == 1
    err = capsys.readouterr().err
    assert "node train failed" in err
    assert "cannot read" in err  # the DataError from reading the MLTable, in the log tail
    run = _last_run(project)
    assert [n["status"] for n in run["nodes"]] == ["failed", "skipped", "skipped"]
    assert run["status"] == "failed"


def test_bad_data_is_a_clear_error_and_writes_no_asset(project, capsys):
    bad = project / "bad.csv"
    bad.write_text("timestamp,load,temp_c\n2025-01-01T00:00:00,1,2\n")
    path = project / "conf/circuit/PLANT1_CIRC1.yaml"
    data = yaml.safe_load(path.read_text())
    data["data"].update(path=str(bad), sample_seed=None)
    path.write_text(yaml.safe_dump(data))
    assert _train(project) == 2
    err = capsys.readouterr().err
    assert "target_column 'load_kw', feature_columns 'ambient_temp_c'" in err and "among the file's 3 columns" in err
    assert "Traceback" not in err
    assert not (project / ".mlops/local/data/PLANT1_CIRC1/2025-12-09").exists()
