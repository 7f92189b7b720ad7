"""Config composition and validation: every circuit x env composes; bad input names file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sensor_pipelines.core.config.files import config_hash, read_circuit_run_config, write_circuit_run_config
from sensor_pipelines.cli.compose import available, load_run_config
from sensor_pipelines.core.errors import ConfigError, UserError

from ..conftest import REPO

CIRCUITS = available(REPO / "conf", "circuit")
ENVS = available(REPO / "conf", "env")


def test_demo_circuits_exist():
    assert {"PLANT1_CIRC1", "PLANT1_CIRC2", "PLANT2_CIRC1"} <= set(CIRCUITS)


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("circuit", CIRCUITS)
def test_every_circuit_and_env_composes(circuit, env):
    config = load_run_config(circuit, env, config_dir=REPO / "conf")
    assert config.circuit.name == circuit
    assert config.env.name == env
    assert config.model.horizon >= 1


def test_smoke_profile_inherits_lstm_and_overrides_little():
    smoke = load_run_config("PLANT1_CIRC1", "local", ["model=lstm_smoke"], config_dir=REPO / "conf").model
    default = load_run_config("PLANT1_CIRC1", "local", config_dir=REPO / "conf").model
    assert smoke.name == "lstm_smoke" and smoke.epochs < default.epochs
    assert smoke.horizon == default.horizon  # inherited, not repeated


def test_circuit_model_overrides_apply(project):
    path = project / "conf/circuit/PLANT1_CIRC1.yaml"
    data = yaml.safe_load(path.read_text())
    data["model_overrides"] = {"lookback": 96, "lstm_units": [16, 8]}
    path.write_text(yaml.safe_dump(data))
    model = load_run_config("PLANT1_CIRC1", config_dir=project / "conf").model
    assert model.lookback == 96 and model.lstm_units == [16, 8]


@pytest.mark.parametrize("name", ["NOPE", "../etc/passwd", "PLANT1/CIRC1", "", "PLANT1_CIRC1.yaml"])
def test_bad_circuit_names_are_rejected_before_hydra(name):
    with pytest.raises(UserError, match="Invalid circuit name"):
        load_run_config(name, config_dir=REPO / "conf")


def test_unknown_circuit_lists_available():
    with pytest.raises(UserError, match=r"Unknown circuit 'PLANT9_CIRC9'.*PLANT1_CIRC1"):
        load_run_config("PLANT9_CIRC9", config_dir=REPO / "conf")


def test_unknown_env_is_clear():
    with pytest.raises(UserError, match=r"Unknown env 'staging'"):
        load_run_config("PLANT1_CIRC1", "staging", config_dir=REPO / "conf")


def _break(project: Path, **changes) -> None:
    path = project / "conf/circuit/PLANT1_CIRC1.yaml"
    data = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node[key]
        if value is ...:
            del node[leaf]
        else:
            node[leaf] = value
    path.write_text(yaml.safe_dump(data))


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"cutoff_date": "2025-13-01"}, "cutoff_date: '2025-13-01' is not a date"),
        ({"cutoff_date": "yesterday"}, "cutoff_date: 'yesterday' is not a date"),
        ({"thresholds__mae_max": "low"}, "thresholds.mae_max: expected float, got str 'low'"),
        ({"data__target_column": ...}, "data.target_column: missing required value"),
        ({"data__taget": "x"}, "data.taget: unknown key"),
        ({"data__format": "xlsx"}, "data.format: 'xlsx' is not one of csv, parquet"),
        ({"data__frequency": "fortnightly"}, "data.frequency: 'fortnightly' is not a pandas frequency"),
        ({"circuit_id": "CIRC7"}, "they give 'PLANT1_CIRC7' but the file is PLANT1_CIRC1.yaml"),
        ({"model_overrides": {"lookbak": 3}}, "model_overrides.lookbak: unknown key (did you mean 'lookback'?)"),
        ({"model_overrides": {"dropout": 1.5}}, "dropout: must be in [0, 1)"),
    ],
)
def test_broken_circuit_config_names_file_and_key(project, changes, expected):
    _break(project, **changes)
    with pytest.raises(ConfigError) as err:
        load_run_config("PLANT1_CIRC1", config_dir=project / "conf")
    message = str(err.value)
    assert "conf/circuit/PLANT1_CIRC1.yaml" in message or "conf/model/lstm.yaml" in message
    assert expected in message


def test_all_problems_reported_at_once(project):
    _break(project, thresholds__mae_max="low", data__taget="x")
    with pytest.raises(ConfigError) as err:
        load_run_config("PLANT1_CIRC1", config_dir=project / "conf")
    assert len(err.value.problems) == 2


def test_bad_override_names_the_command_line():
    with pytest.raises(ConfigError, match=r"command line \(OVERRIDES\): lookback: expected int"):
        load_run_config("PLANT1_CIRC1", overrides=["model.lookback=abc"], config_dir=REPO / "conf")


def test_unknown_model_option_lists_choices():
    with pytest.raises(ConfigError, match=r"model/nope.*available: lstm, lstm_smoke"):
        load_run_config("PLANT1_CIRC1", overrides=["model=nope"], config_dir=REPO / "conf")


def test_circuit_run_config_round_trip_and_hash(tmp_path):
    config = load_run_config("PLANT1_CIRC1", config_dir=REPO / "conf").circuit_run
    path = write_circuit_run_config(config, tmp_path / "c.json")
    again = read_circuit_run_config(path)
    assert again == config
    assert config_hash(again) == config_hash(config)
    again.model.lookback += 1
    assert config_hash(again) != config_hash(config)


def test_circuit_run_config_file_is_validated(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"circuit": {"plant_id": "P"}, "model": {}}')
    with pytest.raises(ConfigError, match="circuit.circuit_id: missing required value"):
        read_circuit_run_config(path)


def test_batch_loading_equals_one_by_one(project):
    path = project / "conf/circuit/PLANT2_CIRC1.yaml"
    data = yaml.safe_load(path.read_text())
    data["model_overrides"] = {"lookback": 48}
    data["description"] = "${oc.env:HOME,home}"
    path.write_text(yaml.safe_dump(data))
    from sensor_pipelines.cli.compose import load_run_configs

    names = available(project / "conf", "circuit")
    for overrides in ([], ["model=lstm_smoke"], ["circuit.cutoff_date=2025-11-30"]):
        batch = load_run_configs(names, "local", overrides, config_dir=project / "conf")
        single = [load_run_config(n, "local", overrides, config_dir=project / "conf") for n in names]
        assert batch == single


def test_batch_loading_when_the_env_reads_the_circuit(project):
    env = project / "conf/env/local.yaml"
    env.write_text(env.read_text().replace("experiment_name:", "experiment_name: exp-${circuit.plant_id}  #", 1))
    from sensor_pipelines.cli.compose import load_run_configs

    names = available(project / "conf", "circuit")
    batch = load_run_configs(names, "local", [], config_dir=project / "conf")
    assert [c.env.experiment_name for c in batch] == [f"exp-{n.split('_')[0]}" for n in names]


def test_malformed_yaml_names_the_file_and_line(project):
    from sensor_pipelines.cli.compose import load_run_configs

    (project / "conf/circuit/PLANT1_CIRC2.yaml").write_text("plant_id: PLANT1\ncircuit_id: [CIRC2\n")
    for load in (lambda: load_run_config("PLANT1_CIRC2", config_dir=project / "conf"),
                 lambda: load_run_configs(["PLANT1_CIRC1", "PLANT1_CIRC2"], config_dir=project / "conf")):
        with pytest.raises(ConfigError, match=r"conf/circuit/PLANT1_CIRC2.yaml: line 3: not valid YAML"):
            load()


def test_find_config_dir_walks_up_from_a_subfolder(tmp_path):
    from sensor_pipelines.cli.compose import find_config_dir

    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "conf").mkdir(parents=True)
    (project / "conf/config.yaml").write_text("defaults: []\n")
    (project / "notebooks/deep").mkdir(parents=True)
    elsewhere.mkdir()
    assert find_config_dir(project / "notebooks/deep") == (project / "conf").resolve()
    with pytest.raises(UserError, match="No conf/config.yaml"):
        find_config_dir(elsewhere)


def test_known_future_columns_must_be_features(project):
    from sensor_pipelines.cli.compose import load_run_config
    from sensor_pipelines.core.errors import ConfigError

    ok = load_run_config("PLANT1_CIRC1", "local", ["+circuit.data.known_future_columns=[ambient_temp_c]"],
                         config_dir=project / "conf")
    assert ok.circuit.data.known_future_columns == ["ambient_temp_c"]
    with pytest.raises(ConfigError, match=r"data.known_future_columns: \['load_forecast'\] are not in feature_columns"):
        load_run_config("PLANT1_CIRC1", "local", ["+circuit.data.known_future_columns=[load_forecast]"],
                        config_dir=project / "conf")
