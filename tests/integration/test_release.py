"""The whole release on the local backend: train two circuits, promote, deploy to test, score, approve,
deploy to prod, score daily, roll back; every refusal is one line, exit 2, and changes nothing.

Smoke model; the circuits' thresholds are loosened so the smoke models validate.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sensor_pipelines.cli import main
from sensor_pipelines.core.fileio import read_json
from sensor_pipelines.release.names import deployment_name
from tests.component_versions import VERSION

pytestmark = pytest.mark.slow

CIRCUITS = ("PLANT1_CIRC1", "PLANT1_CIRC2")
# the smoke model (2 epochs) is no forecaster: loosen every check of the gate, the skill check included
LOOSE = ["model=lstm_smoke", "circuit.thresholds.mae_max=1000", "circuit.thresholds.rmse_max=1000",
         "circuit.thresholds.r2_min=-1000", "env.thresholds.mae_ratio_max=1000"]


def _cli(project: Path, verb: str, *args: str, env: str = "local") -> int:
    extra = ["env.backend=local"] if env != "local" else []
    return main([verb, *args, "--env", env, "--config-dir", str(project / "conf"), *LOOSE, *extra])


def _snapshot(project: Path) -> dict[str, str]:
    """Every workspace file's content hash (lock files aside): 'nothing changed' is an equal snapshot."""
    root = project / ".mlops"
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}


def _refused(project: Path, capsys, verb: str, *args: str, env: str = "local", expect: str = "") -> str:
    before = _snapshot(project)
    assert _cli(project, verb, *args, env=env) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert expect in err, err
    assert "Traceback" not in err
    assert _snapshot(project) == before, f"{verb} {args} changed the workspace"
    return err


def _client(uri_path: Path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{uri_path}"
    return MlflowClient(uri, uri)


def test_release_end_to_end(project, capsys, monkeypatch):
    monkeypatch.chdir(project)
    monkeypatch.setenv("BUILD_BUILDID", "77")
    assert main(["train-changed", "--circuits", ",".join(CIRCUITS), "--config-dir", str(project / "conf"),
                 "--out-dir", str(project / "build/train"), *LOOSE]) == 0
    capsys.readouterr()
    source = _client(project / ".mlops/local/mlflow.db")

    # refusals before anything is promoted
    _refused(project, capsys, "deploy", "--circuit", "PLANT1_CIRC1", env="test", expect="was promoted to the registry")
    _refused(project, capsys, "deploy", "--circuit", "PLANT1_CIRC1", "--model-version", "1", env="test",
             expect="was never promoted")
    _refused(project, capsys, "promote", "--circuit", "PLANT9_CIRC9", expect="Unknown circuit 'PLANT9_CIRC9'")
    _refused(project, capsys, "promote", "--circuit", "PLANT1_CIRC1", "--model-version", "99",
             expect="version 99 is not registered")
    source.set_model_version_tag("PLANT1_CIRC2_model", "1", "validated", "false")
    _refused(project, capsys, "promote", "--circuit", "PLANT1_CIRC2", expect="no validated version")
    _refused(project, capsys, "promote", "--circuit", "PLANT1_CIRC2", "--model-version", "1",
             expect="validated=false: refused")
    source.set_model_version_tag("PLANT1_CIRC2_model", "1", "validated", "true")

    # an endpoint name over 32 characters is refused, never truncated
    conf = project / "conf/circuit"
    long = yaml.safe_load((conf / "PLANT1_CIRC1.yaml").read_text())
    long.update(plant_id="PLANTNUMBERTWELVE", circuit_id="CIRCUITSEVENTEEN")
    (conf / "PLANTNUMBERTWELVE_CIRCUITSEVENTEEN.yaml").write_text(yaml.safe_dump(long))
    _refused(project, capsys, "deploy", "--circuit", "PLANTNUMBERTWELVE_CIRCUITSEVENTEEN", env="test",
             expect="Azure ML allows 3 to 32")
    (conf / "PLANTNUMBERTWELVE_CIRCUITSEVENTEEN.yaml").unlink()

    # promote both (latest validated), twice: the second time changes nothing
    for circuit in CIRCUITS:
        assert _cli(project, "promote", "--circuit", circuit) == 0
    registry = _client(project / ".mlops/registry/mlflow.db")  # after the store exists (a client may create it)
    before = _snapshot(project)
    assert _cli(project, "promote", "--circuit", "PLANT1_CIRC1") == 0
    assert "exists" in capsys.readouterr().out
    assert _snapshot(project) == before
    promoted = registry.get_model_version("PLANT1_CIRC1_model", "1")
    assert promoted.tags["source_version"] == "1" and len(promoted.tags["model_hash"]) == 32
    assert promoted.tags["cutoff_date"] == "2025-12-09" and promoted.tags["validated"] == "true"
    assert promoted.tags["scoring_components"] == f"batch_score:{VERSION['batch_score']},validate_predictions:{VERSION['validate_predictions']}"
    assert (project / ".mlops/registry/components/batch_score" / VERSION["batch_score"] / "component.json").is_file()

    # a changed artifact under an existing version is refused
    artifact = Path(source.get_model_version_download_uri("PLANT1_CIRC1_model", "1").removeprefix("file://"))
    spec_file = next(artifact.rglob("feature_spec.json"))
    original = spec_file.read_text()
    spec_file.write_text(original.replace('"horizon"', '"horizon" ', 1))
    _refused(project, capsys, "promote", "--circuit", "PLANT1_CIRC1", "--model-version", "1",
             expect="already in the registry")
    spec_file.write_text(original)

    # deploy both to test; prod is refused until approved and scored in test
    for circuit in CIRCUITS:
        assert _cli(project, "deploy", "--circuit", circuit, env="test") == 0
    _refused(project, capsys, "deploy", "--circuit", "PLANT1_CIRC1", "--approved-by", "ops", env="prod",
             expect="never deployed to test and scored there")
    _refused(project, capsys, "deploy", "--circuit", "PLANT1_CIRC1", "--force", env="prod", expect="test env only")

    # score in test: one circuit on an explicit input, then both through the daily fan-out
    history = pd.read_csv(project / "data/sample/PLANT1_CIRC1.csv").tail(400)  # two weeks of lags + a day
    (project / "input").mkdir()
    history.to_parquet(project / "input/recent.parquet")
    assert _cli(project, "score", "--circuit", "PLANT1_CIRC1", "--input", str(project / "input"), env="test") == 0
    out = capsys.readouterr().out
    forecasts_file = Path(out.split("forecasts: ")[1].split()[0])
    forecasts = pd.read_parquet(forecasts_file)
    assert list(forecasts.columns) == ["circuit", "origin", "timestamp", "horizon_step", "forecast", "model_version",
                                       "cutoff_date"]
    assert len(forecasts) == 24 and forecasts["horizon_step"].tolist() == list(range(1, 25))
    last = pd.to_datetime(history["timestamp"]).max()
    assert (forecasts["origin"] == last).all()
    assert (forecasts["timestamp"] - forecasts["origin"] == pd.to_timedelta(forecasts["horizon_step"], "h")).all()
    assert set(forecasts["model_version"]) == {"1"} and set(forecasts["cutoff_date"]) == {"2025-12-09"}
    assert forecasts["forecast"].notna().all()
    assert main(["score-daily", "--env", "test", "--config-dir", str(project / "conf"), "--out-dir",
                 str(project / "build/score-test"), *LOOSE, "env.backend=local"]) == 0
    capsys.readouterr()

    _refused(project, capsys, "deploy", "--circuit", "PLANT1_CIRC1", env="prod", expect="needs an approval")
    for circuit in CIRCUITS:
        assert _cli(project, "deploy", "--circuit", circuit, "--approved-by", "alice", env="prod") == 0
    capsys.readouterr()
    for circuit in CIRCUITS:
        version = registry.get_model_version_by_alias(f"{circuit}_model", "prod")
        assert version.version == registry.get_model_version_by_alias(f"{circuit}_model", "test").version
        for tag in ("deployed_test_at", "scored_test_at", "deployed_prod_at"):
            assert version.tags[tag]
        assert version.tags["approved_by"] == "alice" and version.tags["build_id"] == "77"
        endpoint = read_json(project / f".mlops/prod/endpoints/be-{circuit.lower().replace('_', '-')}-prod.json")
        deployment = endpoint["deployments"][endpoint["default_deployment"]]
        assert endpoint["default_deployment"] == deployment_name("1", VERSION["batch_score"])
        cutoff = yaml.safe_load((project / f"conf/circuit/{circuit}.yaml").read_text())["cutoff_date"]
        assert deployment["tags"]["cutoff_date"] == cutoff and deployment["tags"]["approved_by"] == "alice"
        assert deployment["tags"]["model_version"] == "1" and deployment["tags"]["component_version"] == VERSION["batch_score"]
        assert deployment["components"] == {n: VERSION[n] for n in ("batch_score", "validate_predictions")}

    # daily scoring in prod: every circuit with a deployment, a summary table
    assert main(["score-daily", "--env", "prod", "--config-dir", str(project / "conf"), "--out-dir",
                 str(project / "build/score-daily"), *LOOSE, "env.backend=local"]) == 0
    out = capsys.readouterr().out
    assert "2 scored, 0 failed" in out
    results = read_json(project / "build/score-daily/score_results.json")
    assert {r["circuit"] for r in results} == set(CIRCUITS)
    for result in results:
        daily = pd.read_parquet(result["forecasts"])
        assert len(daily) == 24 and daily["forecast"].notna().all() and set(daily["circuit"]) == {result["circuit"]}
    assert _cli(project, "endpoints", env="prod") == 0
    out = capsys.readouterr().out
    assert "be-plant1-circ1-prod" in out and "be-plant1-circ2-prod" in out and "2025-12-09" in out

    # rollback: a second version in test, then back to the first with one command
    _refused(project, capsys, "rollback", "--circuit", "PLANT1_CIRC1", env="test", expect="nothing to roll back")
    v1 = source.get_model_version("PLANT1_CIRC1_model", "1")
    v2 = source.create_model_version("PLANT1_CIRC1_model", v1.source, tags=dict(v1.tags))
    assert _cli(project, "promote", "--circuit", "PLANT1_CIRC1", "--model-version", str(v2.version)) == 0
    assert _cli(project, "deploy", "--circuit", "PLANT1_CIRC1", env="test") == 0
    test_alias = registry.get_model_version_by_alias("PLANT1_CIRC1_model", "test")
    assert test_alias.tags["source_version"] == str(v2.version)
    assert _cli(project, "rollback", "--circuit", "PLANT1_CIRC1", env="test") == 0
    endpoint = read_json(project / ".mlops/test/endpoints/be-plant1-circ1-test.json")
    assert endpoint["default_deployment"] == deployment_name("1", VERSION["batch_score"])
    assert endpoint["history"][-1]["action"] == "rollback"
    assert registry.get_model_version_by_alias("PLANT1_CIRC1_model", "test").tags["source_version"] == "1"


def test_local_schedule_prints_the_crontab_line(project, capsys):
    assert main(["schedule", "--env", "prod", "--config-dir", str(project / "conf"), "env.backend=local"]) == 0
    out = capsys.readouterr().out
    assert "0 6 * * * cd " in out and "make score-daily ENV=prod BACKEND=local" in out
    assert not (project / ".mlops").exists()
